import ArgumentParser
import Foundation
import FledgeLlama
import FledgeSpeculative
import FledgeTemplate
import FledgeTokenizer

/// `fledge generate`: text generation with the target model (and optionally a draft),
/// streamed to the terminal.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract:
            "Generate text with a target model (greedy or sampled; with --draft, speculative decoding), "
            + "streaming to the terminal."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptionGroup
    @OptionGroup var speculation: SpeculationOptions
    @OptionGroup var length: LengthOptions

    @Option(help: "The user message (rendered with the chat template unless --raw).")
    var prompt: String

    @Option(help: "A system message for the chat template.")
    var system: String?

    @Flag(help: "Feed the prompt as plain text, without the chat template.")
    var raw = false

    @Option(name: .customLong("weights"), help: "Decoder-layer weight storage: float32 or bfloat16 (half the memory).")
    var weights: LlamaModel.WeightStorage = .float32

    func validate() throws {
        try SpeculationOptions.check(speculation.strategy, sampling: sampling.options)
    }

    func run() async throws {
        let target = try TargetModel.load(from: try model.resolvedURL(), storage: weights)
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: prompt))
        let ids =
            raw
            ? target.tokenizer.encode(prompt, addSpecialTokens: true)
            : try target.encodeChat(messages, addGenerationPrompt: true)
        let session = try speculation.session(target: target)
        var stream = TextStream(tokenizer: target.tokenizer, skipping: target.stopTokens)
        let request = DecodingRequest(
            strategy: speculation.strategy, maxTokens: length.maxTokens, sampling: sampling.options,
            stopTokens: target.stopTokens)
        let result = try session.generate(prompt: ids, request) { token in
            FileHandle.standardOutput.write(Data(stream.append(token).utf8))
        }
        print("")
        let decodeSeconds = max(result.seconds - result.prefillSeconds, 1e-9)
        var note = String(
            format: "%d prompt tokens in %.2f s (%.1f tokens/s); %d tokens at %.1f tokens/s",
            result.prefilledTokens, result.prefillSeconds,
            Double(result.prefilledTokens) / max(result.prefillSeconds, 1e-9),
            result.tokens.count, Double(max(result.tokens.count - 1, 0)) / decodeSeconds)
        if request.strategy.isSpeculative {
            note += String(
                format: "; %@: τ %.2f, draft %.0f%% of the time", request.strategy.description,
                result.stats.acceptanceLength,
                100 * result.stats.draftSeconds / max(result.stats.draftSeconds + result.stats.targetSeconds, 1e-9))
        }
        printError(note)
    }
}

extension LlamaModel.WeightStorage: ExpressibleByArgument {
    public init?(argument: String) { self.init(spelling: argument) }
}
