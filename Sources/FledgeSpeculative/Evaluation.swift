import Foundation
import FledgeDraft
import FledgeLlama
import FledgeTemplate

/// Speculative decoding measured against plain decoding on multi-turn prompts (MT-bench:
/// both turns, the second conditioned on the generated first answer; docs/design.md §4.6).
public enum SpeculativeEvaluation {
    /// How the draft proposes (a chain or a tree; `plain` is the baseline every run has).
    public typealias Mode = DecodingStrategy

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
        /// τ and acceptance per question category (MT-bench's writing, roleplay, …), in the
        /// order categories first appear; empty when the questions have none (nil in reports
        /// written before categories existed).
        public var categories: [CategoryReport]?
    }

    /// One category's figures within a mode.
    public struct CategoryReport: Sendable, Codable, Equatable {
        public var category: String
        public var turns: Int
        public var acceptanceLength: Double
        public var acceptanceRates: [Double]
    }

    /// A benchmark question: its turns and, where the file has one, its category.
    public struct Question: Sendable, Equatable {
        public var turns: [String]
        public var category: String?

        public init(turns: [String], category: String? = nil) {
            self.turns = turns
            self.category = category
        }
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

    /// Runs every question's turns with plain decoding and then with each mode (the second
    /// turn is conditioned on the plain first answer, so every mode sees the same prompts).
    /// Plain decoding and each mode run in their own ``DecodingSession``, reset per question,
    /// so a question's second turn prefills only its new tokens in every mode alike.
    public static func run(
        target: TargetModel, draft: any LoadedDraft, questions: [Question], modes: [Mode], maxTokens: Int,
        sampling: SamplingOptions? = nil, kernels: KernelPolicy = .standard,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> Report {
        let capacity = target.model.configuration.maxPositions
        return try run(
            model: target.model, makeDrafter: { try draft.makeDrafter(target: target.model, capacity: capacity) },
            questions: questions, modes: modes, maxTokens: maxTokens, sampling: sampling, kernels: kernels,
            stopTokens: target.stopTokens, encode: { try target.encodeChat($0, addGenerationPrompt: true) },
            decode: { target.tokenizer.decode($0, skipSpecialTokens: true) }, progress: progress)
    }

    /// The same with the chat template and tokenizer given as functions (tests use a bare model).
    /// With `sampling` (temperature > 0) both plain and speculative decoding sample (chain
    /// modes only: speculative sampling with the rejection rule), each turn from its own seed
    /// (``FledgeLlama/SamplingOptions/forTurn(_:)``).
    public static func run(
        model: LlamaModel, makeDrafter: () throws -> any Drafter, questions: [Question], modes: [Mode], maxTokens: Int,
        sampling: SamplingOptions? = nil, kernels: KernelPolicy = .standard, stopTokens stops: Set<Int32>,
        encode: ([ChatMessage]) throws -> [Int32], decode: ([Int32]) -> String,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> Report {
        guard !modes.isEmpty, !modes.contains(.plain) else {
            throw LlamaError("evaluation: give at least one chain or tree mode")
        }
        for mode in modes {
            if let refusal = mode.refusal(sampling: sampling ?? SamplingOptions(), kernels: kernels) {
                throw LlamaError("\(mode): \(refusal)")
            }
        }
        let plainSession = DecodingSession(target: model, kernels: kernels)
        let sessions = try modes.map { _ in DecodingSession(target: model, drafter: try makeDrafter(), kernels: kernels)
        }
        var stats = modes.map { AcceptanceStats(steps: $0.steps) }
        var speculativeSeconds = [Double](repeating: 0, count: modes.count)
        var mismatches = [Int](repeating: 0, count: modes.count)
        var speculativeTokens = [Int](repeating: 0, count: modes.count)
        var plainSeconds = 0.0, tokens = 0, turns = 0
        // Per mode, per category (in order of first appearance): turns and merged statistics.
        var categoryNames: [String] = []
        var categoryStats: [[String: (turns: Int, stats: AcceptanceStats)]] = modes.map { _ in [:] }
        for (index, question) in questions.enumerated() {
            plainSession.reset()
            for session in sessions { session.reset() }
            if let category = question.category, !categoryNames.contains(category) { categoryNames.append(category) }
            var messages: [ChatMessage] = []
            for turn in question.turns {
                messages.append(ChatMessage(role: "user", content: turn))
                let prompt = try encode(messages)
                let turnSampling = (sampling ?? SamplingOptions()).forTurn(turns)
                var request = DecodingRequest(maxTokens: maxTokens, sampling: turnSampling, stopTokens: stops)
                let plain = try plainSession.generate(prompt: prompt, request)
                plainSeconds += plain.seconds
                for (m, mode) in modes.enumerated() {
                    request.strategy = mode
                    let speculative = try sessions[m].generate(prompt: prompt, request)
                    speculativeSeconds[m] += speculative.seconds
                    if speculative.tokens != plain.tokens { mismatches[m] += 1 }
                    speculativeTokens[m] += speculative.tokens.count
                    stats[m].merge(speculative.stats)
                    if let category = question.category {
                        var entry = categoryStats[m][category] ?? (0, AcceptanceStats(steps: mode.steps))
                        entry.turns += 1
                        entry.stats.merge(speculative.stats)
                        categoryStats[m][category] = entry
                    }
                }
                tokens += plain.tokens.count
                turns += 1
                messages.append(
                    ChatMessage(role: "assistant", content: decode(plain.tokens.filter { !stops.contains($0) })))
            }
            progress(index + 1, questions.count)
        }
        let greedy = sampling?.isGreedy ?? true
        let reports = modes.enumerated().map { m, mode in
            let total = max(stats[m].draftSeconds + stats[m].targetSeconds, 1e-9)
            return ModeReport(
                mode: mode.description, steps: mode.steps, acceptanceLength: stats[m].acceptanceLength,
                acceptanceRates: stats[m].acceptanceRates, cycles: stats[m].cycles,
                draftTimeShare: stats[m].draftSeconds / total, targetTimeShare: stats[m].targetSeconds / total,
                // Sampled outputs differ in length: compare rates.
                speculativeTokensPerSecond: Double(greedy ? tokens : speculativeTokens[m]) / speculativeSeconds[m],
                speedup: greedy
                    ? plainSeconds / speculativeSeconds[m]
                    : Double(speculativeTokens[m]) / speculativeSeconds[m] / (Double(tokens) / plainSeconds),
                lossless: greedy ? mismatches[m] == 0 : nil, mismatchedTurns: greedy ? mismatches[m] : 0,
                categories: categoryNames.compactMap { name in
                    categoryStats[m][name].map {
                        CategoryReport(
                            category: name, turns: $0.turns, acceptanceLength: $0.stats.acceptanceLength,
                            acceptanceRates: $0.stats.acceptanceRates)
                    }
                })
        }
        return Report(
            questions: questions.count, turns: turns, generatedTokens: tokens, maxTokens: maxTokens,
            sampling: greedy ? nil : sampling,
            plainTokensPerSecond: Double(tokens) / plainSeconds, modes: reports)
    }

    /// MT-bench questions (`question.jsonl`: `{"turns": [...], "category": ...}` per line, or
    /// `{"prompt": ...}`), the first `limit`.
    /// `perCategory` keeps the first N questions of each category (questions without one count
    /// as one category), in file order; `limit` then keeps the first N of what is left.
    public static func mtBench(_ url: URL, limit: Int? = nil, perCategory: Int? = nil) throws -> [Question] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw LlamaError("\(url.path): cannot read MT-bench questions")
        }
        var questions: [Question] = []
        var taken: [String: Int] = [:]
        for (number, line) in text.split(separator: "\n").enumerated() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let turns = object["turns"] as? [String] ?? (object["prompt"] as? String).map({ [$0] })
            else {
                throw LlamaError("\(url.path):\(number + 1): expected {\"turns\": [...]} or {\"prompt\": ...}")
            }
            let category = object["category"] as? String
            if let perCategory {
                let count = taken[category ?? "", default: 0]
                guard count < perCategory else { continue }
                taken[category ?? ""] = count + 1
            }
            questions.append(Question(turns: turns, category: category))
            if let limit, questions.count == limit { break }
        }
        return questions
    }
}
