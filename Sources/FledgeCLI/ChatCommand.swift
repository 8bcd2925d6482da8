import ArgumentParser
import Foundation
import FledgeLlama
import FledgeSpeculative
import FledgeTemplate
import FledgeTokenizer

/// `fledge chat`: an interactive chat with the target (chat template, streaming), optionally
/// with speculative decoding. One decoding session holds the conversation, so each turn
/// prefills only its new tokens.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract:
            "Chat with the target in the terminal (chat template, streaming); with --draft, speculative decoding "
            + "(greedy chain or tree, sampled chain) and τ per answer."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptionGroup
    @OptionGroup var speculation: SpeculationOptions
    @OptionGroup var length: LengthOptions

    @Option(help: "A system message.")
    var system: String?

    func validate() throws {
        try SpeculationOptions.check(speculation.strategy, sampling: sampling.options)
    }

    func run() async throws {
        let target = try TargetModel.load(from: try model.resolvedURL())
        let session = try speculation.session(target: target)
        var messages: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        let stops = target.stopTokens
        var turn = 0
        printError("Type a message (an empty line or Ctrl-D quits).")
        while true {
            FileHandle.standardError.write(Data("> ".utf8))
            guard let line = readLine(), !line.isEmpty else { break }
            messages.append(ChatMessage(role: "user", content: line))
            let prompt = try target.encodeChat(messages, addGenerationPrompt: true)
            var stream = TextStream(tokenizer: target.tokenizer, skipping: stops)
            let request = DecodingRequest(
                strategy: speculation.strategy, maxTokens: length.maxTokens,
                sampling: sampling.options.forTurn(turn), stopTokens: stops)
            let result = try session.generate(prompt: prompt, request) { token in
                FileHandle.standardOutput.write(Data(stream.append(token).utf8))
            }
            print("")
            let tau = request.strategy.isSpeculative ? String(format: ", τ %.2f", result.stats.acceptanceLength) : ""
            printError(
                String(
                    format: "[%d tokens, %.1f tokens/s%@; %d of %d prompt tokens prefilled]", stream.tokens.count,
                    Double(stream.tokens.count) / max(result.seconds, 1e-9), tau, result.prefilledTokens, prompt.count))
            messages.append(ChatMessage(role: "assistant", content: stream.text))
            turn += 1
        }
    }
}
