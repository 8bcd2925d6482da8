import Foundation

/// The real model and data that `Scripts/fetch-assets.sh` downloads (`make test` runs it
/// first); tests that need them are skipped with a message when they are missing.
public enum TestAssets {
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `$FLEDGE_ASSETS`, else `$FLEDGE_CACHE/assets`, else the package's `.cache/assets`.
    public static var directory: URL {
        if let path = ProcessInfo.processInfo.environment["FLEDGE_ASSETS"] { return URL(fileURLWithPath: path) }
        let cache =
            ProcessInfo.processInfo.environment["FLEDGE_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? packageRoot.appendingPathComponent(".cache")
        return cache.appendingPathComponent("assets")
    }

    public static var smolLM2: URL { directory.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf") }
    public static var hasSmolLM2: Bool { FileManager.default.fileExists(atPath: smolLM2.path) }
    public static var mtBench: URL { directory.appendingPathComponent("question.jsonl") }
    public static var hasMTBench: Bool { FileManager.default.fileExists(atPath: mtBench.path) }
    public static var humanEval: URL { directory.appendingPathComponent("HumanEval.jsonl") }
    public static var hasHumanEval: Bool { FileManager.default.fileExists(atPath: humanEval.path) }
}
