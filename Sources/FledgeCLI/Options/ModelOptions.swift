import ArgumentParser
import Foundation

/// Where the target model is: a Hugging Face folder or a .gguf file.
struct ModelOptions: ParsableArguments {
    @Option(
        name: [.customLong("model"), .customLong("target-model-path"), .customLong("verifier-name-or-path")],
        help: """
            A Hugging Face model folder or a .gguf file (default: the SmolLM2-135M-Instruct GGUF fetched by \
            Scripts/fetch-assets.sh).
            """
    )
    var model: String?

    /// The model path, or the default asset when it was fetched.
    func resolvedURL() throws -> URL {
        if let model { return URL(fileURLWithPath: model) }
        let asset = DefaultAssets.smolLM2
        guard FileManager.default.fileExists(atPath: asset.path) else {
            throw CLIError(
                "no --model given and the default model is not downloaded (\(asset.path))",
                hint: "run Scripts/fetch-assets.sh model, or pass --model PATH")
        }
        return asset
    }
}
