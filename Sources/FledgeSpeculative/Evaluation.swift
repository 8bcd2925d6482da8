import Foundation
import FledgeDraft
import FledgeLlama
import FledgeTemplate

/// Speculative decoding measured against plain decoding on multi-turn prompts (MT-bench:
/// both turns, the second conditioned on the generated first answer; eagle-spec.md §8).
public enum SpeculativeEvaluation {
    public struct Report: Sendable, Codable {
        public var questions: Int
        public var turns: Int
        public var steps: Int
        public var acceptanceLength: Double
        public var acceptanceRates: [Double]
        public var draftTimeShare: Double
        public var targetTimeShare: Double
        public var plainTokensPerSecond: Double
        public var speculativeTokensPerSecond: Double
        public var speedup: Double
        /// Whether every speculative output equalled the plain greedy output.
        public var lossless: Bool
        public var generatedTokens: Int
    }

    /// Runs every question's turns with plain greedy decoding and with chain speculation.
    /// How the draft proposes: a chain of `steps` tokens, or an EAGLE-2 tree.
    public enum Mode: Sendable, Codable, Equatable {
        case chain(steps: Int)
        case tree(topK: Int, depth: Int, treeTokens: Int)
        var steps: Int { if case .chain(let steps) = self { steps } else if case .tree(_, let depth, _) = self { depth } else { 0 } }
    }

    public static func run(target: TargetModel, decoder: SpeculativeDecoder, questions: [[String]], mode: Mode, maxTokens: Int,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> Report {
        let steps = mode.steps
        let stops = target.stopTokens
        var stats = AcceptanceStats(steps: steps)
        var plainSeconds = 0.0, speculativeSeconds = 0.0, tokens = 0, turns = 0
        var lossless = true
        for (index, question) in questions.enumerated() {
            var messages: [ChatMessage] = []
            for turn in question {
                messages.append(ChatMessage(role: "user", content: turn))
                let prompt = try target.encodeChat(messages, addGenerationPrompt: true)
                var start = DispatchTime.now().uptimeNanoseconds
                let plain = try target.model.generate(prompt: prompt, maxTokens: maxTokens, stopTokens: stops).tokens
                plainSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                start = DispatchTime.now().uptimeNanoseconds
                let (speculative, turnStats): ([Int32], AcceptanceStats)
                switch mode {
                case .chain(let steps):
                    (speculative, turnStats) = try decoder.generate(prompt: prompt, maxTokens: maxTokens, steps: steps, stopTokens: stops)
                case .tree(let topK, let depth, let treeTokens):
                    (speculative, turnStats) = try decoder.generateTree(prompt: prompt, maxTokens: maxTokens, topK: topK, depth: depth,
                                                                        treeTokens: treeTokens, stopTokens: stops)
                }
                speculativeSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if speculative != plain { lossless = false }
                stats.merge(turnStats)
                tokens += plain.count
                turns += 1
                messages.append(ChatMessage(role: "assistant", content: target.tokenizer.decode(plain.filter { !stops.contains($0) }, skipSpecialTokens: true)))
            }
            progress(index + 1, questions.count)
        }
        let total = max(stats.draftSeconds + stats.targetSeconds, 1e-9)
        return Report(questions: questions.count, turns: turns, steps: steps, acceptanceLength: stats.acceptanceLength,
                      acceptanceRates: stats.acceptanceRates, draftTimeShare: stats.draftSeconds / total, targetTimeShare: stats.targetSeconds / total,
                      plainTokensPerSecond: Double(tokens) / plainSeconds, speculativeTokensPerSecond: Double(tokens) / speculativeSeconds,
                      speedup: plainSeconds / speculativeSeconds, lossless: lossless, generatedTokens: tokens)
    }

    /// MT-bench questions (`question.jsonl`: `{"turns": [...]}` per line), the first `limit`.
    public static func mtBench(_ url: URL, limit: Int? = nil) throws -> [[String]] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw LlamaError("\(url.path): cannot read MT-bench questions") }
        var questions: [[String]] = []
        for (number, line) in text.split(separator: "\n").enumerated() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let turns = object["turns"] as? [String] ?? (object["prompt"] as? String).map({ [$0] }) else {
                throw LlamaError("\(url.path):\(number + 1): expected {\"turns\": [...]} or {\"prompt\": ...}")
            }
            questions.append(turns)
            if let limit, questions.count == limit { break }
        }
        return questions
    }
}
