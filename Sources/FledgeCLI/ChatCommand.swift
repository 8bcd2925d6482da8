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
        abstract: "Chat with the target in the terminal (chat template, streaming); with --draft, speculative decoding (greedy chain or tree, sampled chain) and τ per answer."
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

    @Option(name: .customLong("top-k"), help: "Children per expanded node (tree).")
    var topK = 8

    @Option(help: "Tree depth.")
    var depth = 6

    @Option(name: .customLong("tree-tokens"), help: "Tokens verified per cycle (tree, the root included).")
    var treeTokens = 48

    @Option(help: "Sampling temperature (0 = greedy; with --draft, sampling needs --mode chain).")
    var temperature: Float = 0

    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass.")
    var topP: Float = 1

    @Option(help: "Sampling seed.")
    var seed: UInt64 = 0

    @Option(help: "A system message.")
    var system: String?

    func validate() throws {
        guard mode == "chain" || mode == "tree" else { throw ValidationError("--mode must be chain or tree") }
        guard steps >= 1, topK >= 1, depth >= 1, treeTokens >= 2 else { throw ValidationError("--steps, --top-k, --depth ≥ 1 and --tree-tokens ≥ 2") }
        guard temperature >= 0, topP > 0, topP <= 1 else { throw ValidationError("--temperature must be ≥ 0 and --top-p in (0, 1]") }
        if temperature > 0 && draft != nil && mode == "tree" {
            throw ValidationError("speculative sampling runs as a chain: add --mode chain (the tree verifies greedily)")
        }
    }

    func run() async throws {
        let target = try TargetModel.load(from: try model.resolvedURL())
        let decoder = try draft.map {
            SpeculativeDecoder(target: target.model, drafter: try CheckpointDraft.loadAny(URL(fileURLWithPath: $0), target: target.model)
                .drafter(target: target.model, capacity: target.model.configuration.maxPositions))
        }
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
            let sampling = SamplingOptions(temperature: temperature, topP: topP, seed: seed &+ UInt64(messages.count))
            if let decoder {
                let (_, stats) = mode == "tree"
                    ? try decoder.generateTree(prompt: prompt, maxTokens: maxTokens, topK: topK, depth: depth, treeTokens: treeTokens, stopTokens: stops, onToken: stream)
                    : sampling.isGreedy
                        ? try decoder.generate(prompt: prompt, maxTokens: maxTokens, steps: steps, stopTokens: stops, onToken: stream)
                        : try decoder.generateSampled(prompt: prompt, maxTokens: maxTokens, steps: steps, sampling: sampling, stopTokens: stops, onToken: stream)
                tau = stats.acceptanceLength
            } else {
                _ = try target.model.generate(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stopTokens: stops) { stream($0); return true }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            print("")
            printError(String(format: "[%d tokens, %.1f tokens/s%@]", answer.count, Double(answer.count) / seconds, tau.map { String(format: ", τ %.2f", $0) } ?? ""))
            messages.append(ChatMessage(role: "assistant", content: printed))
        }
    }
}
