import ArgumentParser
import Foundation
import FledgeDraft
import FledgeLlama

/// `fledge export`: a training checkpoint to a deployable draft folder.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract:
            "Export a checkpoint (or re-export a draft) for vLLM and SGLang: EAGLE-3 in the EAGLE/SpecForge "
            + "or speculators layout, EAGLE-1 in vLLM's or SGLang's."
    )

    @Option(help: "A checkpoint folder (SAVE/checkpoints/step-N) or an exported draft folder.")
    var checkpoint: String
    @OptionGroup var model: ModelOptions
    @Option(
        help: """
            EAGLE-3: eagle (SGLang and vLLM) or speculators (vLLM). EAGLE-1: vllm, sglang, or eagle \
            (vllm unless the draft has an fc bias).
            """
    )
    var format = "eagle"
    @Option(help: "bf16 or f32.")
    var dtype = "bf16"
    @Option(help: "The output folder.")
    var output: String
    @Option(
        help: ArgumentHelp(
            "The target as the servers load it, written as the speculators layout's verifier: "
                + "a Hugging Face repository id or folder (default: the --model folder; "
                + "for the built-in SmolLM2 GGUF, \(DefaultAssets.smolLM2Repository))."
        ))
    var verifier: String?

    func run() async throws {
        guard dtype == "bf16" || dtype == "f32" else { throw ValidationError("--dtype must be bf16 or f32") }
        let url = try model.resolvedURL()
        let target = try LlamaModel.load(from: url)
        let draft = try DraftMethods.load(URL(fileURLWithPath: checkpoint), target: target)
        try draft.export(
            to: URL(fileURLWithPath: output), format: format,
            target: .init(
                name: verifier ?? DefaultAssets.verifierName(for: url), bosTokenID: target.configuration.bosTokenID,
                eosTokenID: target.configuration.eosTokenIDs.first),
            dtype: dtype == "f32" ? .f32 : .bf16)
        print(output)
    }
}
