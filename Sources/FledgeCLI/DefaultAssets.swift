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

    /// The Hugging Face repository the default GGUF was converted from (what vLLM and
    /// speculators load as the verifier of a draft trained against it).
    static let smolLM2Repository = "HuggingFaceTB/SmolLM2-135M-Instruct"

    /// How an export names its target for the servers: a folder as given, the default GGUF by
    /// its source repository, any other GGUF by its file name (servers cannot load a GGUF as
    /// the verifier: pass `--verifier`).
    static func verifierName(for model: URL) -> String {
        if model.standardizedFileURL == smolLM2.standardizedFileURL { return smolLM2Repository }
        return model.pathExtension == "gguf" ? model.lastPathComponent : model.path
    }
}
