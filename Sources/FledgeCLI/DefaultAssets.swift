import Foundation

/// The real model and data that `Scripts/fetch-assets.sh` downloads.
enum DefaultAssets {
    static var directory: URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["FLEDGE_ASSETS"] { return URL(fileURLWithPath: path) }
        let cache = environment["FLEDGE_CACHE"] ?? FileManager.default.currentDirectoryPath + "/.cache"
        return URL(fileURLWithPath: cache).appendingPathComponent("assets")
    }

    static var smolLM2: URL { directory.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf") }
}
