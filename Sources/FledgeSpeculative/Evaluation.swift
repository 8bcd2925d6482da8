import Foundation
import FledgeDraft
import FledgeLlama
import FledgeTemplate

/// Speculative decoding measured against plain decoding on multi-turn prompts (MT-bench:
/// both turns, the second conditioned on the generated first answer; eagle-spec.md §8).
public enum SpeculativeEvaluation {
    /// How the draft proposes: a chain of `steps` tokens, or an EAGLE-2 tree.
    public enum Mode: Sendable, Codable, Equatable, CustomStringConvertible {
        case chain(steps: Int)
        case tree(topK: Int, depth: Int, treeTokens: Int)

        var steps: Int {
            switch self {
            case .chain(let steps): steps
            case .tree(_, let depth, _): depth
            }
        }

        public var description: String {
            switch self {
            case .chain(let steps): "chain K = \(steps)"
            case .tree(let topK, let depth, let treeTokens): "tree \(topK)/\(depth)/\(treeTokens)"
            }
        }

        /// `chain:K` or `tree:TOPK/DEPTH/TOKENS`, as `fledge eval --modes` spells them.
        public init?(parsing text: String) {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            let numbers = parts[1].split(separator: "/").compactMap { Int($0) }
            switch parts[0] {
            case "chain" where numbers.count == 1 && numbers[0] >= 1:
                self = .chain(steps: numbers[0])
            case "tree" where numbers.count == 3 && numbers[0] >= 1 && numbers[1] >= 1 && numbers[2] >= 2:
                self = .tree(topK: numbers[0], depth: numbers[1], treeTokens: numbers[2])
            default:
                return nil
            }
        }
    }

    /// One speculative mode's figures, against the plain decoding of the same run.
    public struct ModeReport: Sendable, Codable {
        public var mode: String
        public var steps: Int
        /// τ: tokens per target forward, bonus token included.
        public var acceptanceLength: Double
        public var acceptanceRates: [Double]
        public var cycles: Int
        public var draftTimeShare: Double
        public var targetTimeShare: Double
        public var speculativeTokensPerSecond: Double
        public var speedup: Double
        /// Whether every speculative output equalled the plain greedy output (nil when sampling:
        /// outputs are then equal in distribution, not token for token).
        public var lossless: Bool?
        /// Turns whose speculative output differed from the plain output (greedy).
        public var mismatchedTurns: Int
    }

    public struct Report: Sendable, Codable {
        public var questions: Int
        public var turns: Int
        public var generatedTokens: Int
        public var maxTokens: Int
        /// nil: greedy.
        public var sampling: SamplingOptions?
        public var plainTokensPerSecond: Double
        public var modes: [ModeReport]
    }

    /// Runs every question's turns with plain greedy decoding and then with each mode (the
    /// second turn is conditioned on the plain first answer, so every mode sees the same prompts).
    public static func run(target: TargetModel, decoder: SpeculativeDecoder, questions: [[String]], modes: [Mode], maxTokens: Int,
                           sampling: SamplingOptions? = nil, progress: (Int, Int) -> Void = { _, _ in }) throws -> Report {
        try run(model: target.model, decoder: decoder, questions: questions, modes: modes, maxTokens: maxTokens, sampling: sampling,
                stopTokens: target.stopTokens,
                encode: { try target.encodeChat($0, addGenerationPrompt: true) },
                decode: { target.tokenizer.decode($0, skipSpecialTokens: true) }, progress: progress)
    }

    /// The same with the chat template and tokenizer given as functions (tests use a bare model).
    /// With `sampling` (temperature > 0) both plain and speculative decoding sample (chain
    /// modes only: speculative sampling with the rejection rule), each turn from its own seed.
    public static func run(model: LlamaModel, decoder: SpeculativeDecoder, questions: [[String]], modes: [Mode], maxTokens: Int,
                           sampling: SamplingOptions? = nil, stopTokens stops: Set<Int32>, encode: ([ChatMessage]) throws -> [Int32], decode: ([Int32]) -> String,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> Report {
        precondition(!modes.isEmpty, "at least one mode")
        if sampling != nil, modes.contains(where: { if case .tree = $0 { true } else { false } }) {
            throw LlamaError("speculative sampling runs chain modes only (the tree verifies greedily)")
        }
        var stats = modes.map { AcceptanceStats(steps: $0.steps) }
        var speculativeSeconds = [Double](repeating: 0, count: modes.count)
        var mismatches = [Int](repeating: 0, count: modes.count)
        var speculativeTokens = [Int](repeating: 0, count: modes.count)
        var plainSeconds = 0.0, tokens = 0, turns = 0
        for (index, question) in questions.enumerated() {
            var messages: [ChatMessage] = []
            for turn in question {
                messages.append(ChatMessage(role: "user", content: turn))
                let prompt = try encode(messages)
                let start = DispatchTime.now().uptimeNanoseconds
                var turnSampling = sampling
                turnSampling?.seed = (sampling?.seed ?? 0) &+ UInt64(turns) &* 1_000_003
                let plain = try model.generate(prompt: prompt, maxTokens: maxTokens, sampling: turnSampling ?? SamplingOptions(), stopTokens: stops).tokens
                plainSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                for (m, mode) in modes.enumerated() {
                    let start = DispatchTime.now().uptimeNanoseconds
                    let (speculative, turnStats): ([Int32], AcceptanceStats)
                    switch mode {
                    case .chain(let steps):
                        if let turnSampling {
                            (speculative, turnStats) = try decoder.generateSampled(prompt: prompt, maxTokens: maxTokens, steps: steps,
                                                                                   sampling: turnSampling, stopTokens: stops)
                        } else {
                            (speculative, turnStats) = try decoder.generate(prompt: prompt, maxTokens: maxTokens, steps: steps, stopTokens: stops)
                        }
                    case .tree(let topK, let depth, let treeTokens):
                        (speculative, turnStats) = try decoder.generateTree(prompt: prompt, maxTokens: maxTokens, topK: topK, depth: depth,
                                                                            treeTokens: treeTokens, stopTokens: stops)
                    }
                    speculativeSeconds[m] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    if speculative != plain { mismatches[m] += 1 }
                    if sampling != nil { speculativeTokens[m] += speculative.count }
                    stats[m].merge(turnStats)
                }
                tokens += plain.count
                turns += 1
                messages.append(ChatMessage(role: "assistant", content: decode(plain.filter { !stops.contains($0) })))
            }
            progress(index + 1, questions.count)
        }
        let reports = modes.enumerated().map { m, mode in
            let total = max(stats[m].draftSeconds + stats[m].targetSeconds, 1e-9)
            return ModeReport(mode: mode.description, steps: mode.steps, acceptanceLength: stats[m].acceptanceLength,
                              acceptanceRates: stats[m].acceptanceRates, cycles: stats[m].cycles,
                              draftTimeShare: stats[m].draftSeconds / total, targetTimeShare: stats[m].targetSeconds / total,
                              // Sampled outputs differ in length: compare rates.
                              speculativeTokensPerSecond: Double(sampling == nil ? tokens : speculativeTokens[m]) / speculativeSeconds[m],
                              speedup: sampling == nil ? plainSeconds / speculativeSeconds[m]
                                  : Double(speculativeTokens[m]) / speculativeSeconds[m] / (Double(tokens) / plainSeconds),
                              lossless: sampling == nil ? mismatches[m] == 0 : nil, mismatchedTurns: sampling == nil ? mismatches[m] : 0)
        }
        return Report(questions: questions.count, turns: turns, generatedTokens: tokens, maxTokens: maxTokens, sampling: sampling,
                      plainTokensPerSecond: Double(tokens) / plainSeconds, modes: reports)
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
