import ArgumentParser
import Foundation
import FledgeLlama
import FledgeTemplate

/// `fledge generate`: text generation with the target model, streamed to the terminal.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a target model (greedy or sampled), streaming to the terminal."
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "The user message (rendered with the chat template unless --raw).")
    var prompt: String

    @Option(help: "A system message for the chat template.")
    var system: String?

    @Flag(help: "Feed the prompt as plain text, without the chat template.")
    var raw = false

    @Option(name: .customLong("max-tokens"), help: "The most tokens to generate.")
    var maxTokens = 256

    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature: Float = 0

    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass.")
    var topP: Float = 1

    @Option(help: "Seed of the sampler.")
    var seed: UInt64 = 0

    @Option(name: .customLong("weights"), help: "Decoder-layer weight storage: float32 or bfloat16 (half the memory).")
    var weights: LlamaModel.WeightStorage = .float32

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        guard temperature >= 0 else { throw ValidationError("--temperature must not be negative") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    func run() async throws {
        let target = try TargetModel.load(from: try model.resolvedURL(), storage: weights)
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: prompt))
        let ids = raw ? target.tokenizer.encode(prompt, addSpecialTokens: true) : try target.encodeChat(messages, addGenerationPrompt: true)
        var streamed: [Int32] = []
        var printed = ""
        let stops = target.stopTokens
        let result = try target.model.generate(
            prompt: ids, maxTokens: maxTokens, sampling: SamplingOptions(temperature: temperature, topP: topP, seed: seed),
            stopTokens: stops
        ) { token in
            guard !stops.contains(token) else { return true }
            streamed.append(token)
            // Decode the whole answer so multi-byte characters split over tokens print correctly.
            let text = target.tokenizer.decode(streamed, skipSpecialTokens: true)
            if text.hasPrefix(printed), !text.hasSuffix("\u{FFFD}") {
                FileHandle.standardOutput.write(Data(text.dropFirst(printed.count).utf8))
                printed = text
            }
            return true
        }
        print("")
        let note = String(format: "%d prompt tokens in %.2f s (%.1f tokens/s); %d tokens at %.1f tokens/s",
                          result.promptTokens, result.prefillSeconds, Double(result.promptTokens) / max(result.prefillSeconds, 1e-9),
                          result.tokens.count, result.decodeTokensPerSecond)
        FileHandle.standardError.write(Data((note + "\n").utf8))
    }
}

extension LlamaModel.WeightStorage: ExpressibleByArgument {}
