import Foundation

/// Real model and data files fetched by `Scripts/fetch-assets.sh` (`make test` runs it first).
enum DataTestAssets {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var directory: URL {
        if let path = ProcessInfo.processInfo.environment["FLEDGE_ASSETS"] { return URL(fileURLWithPath: path) }
        return packageRoot.appendingPathComponent(".cache/assets")
    }

    static var smolLM2: URL { directory.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf") }
    static var hasSmolLM2: Bool { FileManager.default.fileExists(atPath: smolLM2.path) }

    static var fixtures: URL { Bundle.module.url(forResource: "Fixtures", withExtension: nil)! }
}
