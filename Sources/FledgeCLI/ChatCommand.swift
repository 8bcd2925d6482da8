import ArgumentParser
import Foundation
import FledgeLlama
import FledgeSpeculative
import FledgeTemplate
import FledgeTraining

/// `fledge chat`: an interactive multi-turn chat with the target, optionally sped up by a draft.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with the target in the terminal (chat template, streaming); with --draft, greedy speculative decoding and τ per answer."
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "An exported draft folder or a training checkpoint.")
    var draft: String?

    @Option(help: "chain or tree (with --draft).")
    var mode = "tree"

    @Option(help: "Draft tokens per cycle (chain).")
    var steps = 4

    @Option(name: .customLong("max-tokens"), help: "Most tokens per answer.")
    var maxTokens = 512

    @Option(help: "A system message.")
    var system: String?

    func run() async throws {
        let target = try TargetModel.load(from: try model.resolvedURL())
        let decoder = try draft.map { SpeculativeDecoder(target: target.model, draft: try CheckpointDraft.loadAny(URL(fileURLWithPath: $0), target: target.model),
                                                          capacity: target.model.configuration.maxPositions) }
        var messages: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        let stops = target.stopTokens
        printError("Type a message (an empty line or Ctrl-D quits).")
        while true {
            FileHandle.standardError.write(Data("> ".utf8))
            guard let line = readLine(), !line.isEmpty else { break }
            messages.append(ChatMessage(role: "user", content: line))
            let prompt = try target.encodeChat(messages, addGenerationPrompt: true)
            var answer: [Int32] = []
            var printed = ""
            let stream = { (token: Int32) in
                guard !stops.contains(token) else { return }
                answer.append(token)
                let text = target.tokenizer.decode(answer, skipSpecialTokens: true)
                if text.hasPrefix(printed), !text.hasSuffix("\u{FFFD}") {
                    FileHandle.standardOutput.write(Data(text.dropFirst(printed.count).utf8))
                    printed = text
                }
            }
            let start = DispatchTime.now().uptimeNanoseconds
            var tau: Double?
            if let decoder {
                let (_, stats) = mode == "chain"
                    ? try decoder.generate(prompt: prompt, maxTokens: maxTokens, steps: steps, stopTokens: stops, onToken: stream)
                    : try decoder.generateTree(prompt: prompt, maxTokens: maxTokens, topK: 8, depth: 6, treeTokens: 48, stopTokens: stops, onToken: stream)
                tau = stats.acceptanceLength
            } else {
                _ = try target.model.generate(prompt: prompt, maxTokens: maxTokens, stopTokens: stops) { stream($0); return true }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            print("")
            printError(String(format: "[%d tokens, %.1f tokens/s%@]", answer.count, Double(answer.count) / seconds, tau.map { String(format: ", τ %.2f", $0) } ?? ""))
            messages.append(ChatMessage(role: "assistant", content: printed))
        }
    }
}
