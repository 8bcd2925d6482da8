import Foundation
import Testing
@testable import FledgeSpeculative
import FledgeDraft
import FledgeLlama
import FledgeTensor
import FledgeTemplate
import FledgeTestSupport

/// Greedy speculative decoding is lossless: the same tokens as plain greedy decoding.
@Suite struct SpeculativeDecoderTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test(arguments: [1, 3, 5])
    func greedySpeculativeOutputEqualsPlainGreedy(_ steps: Int) throws {
        let target = try LlamaModel.load(
            from: Self.root.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        // A draft over every other target token; its head starts from the target's rows so it
        // sometimes agrees with the target (both accepted and rejected tokens are exercised).
        let ids = Array(stride(from: 0, to: 160, by: 2))
        var t2d = [Bool](repeating: false, count: 160)
        for id in ids { t2d[id] = true }
        let configuration = Eagle3Configuration(target: target.configuration, draftVocabularySize: ids.count)
        let draft = Eagle3Draft(
            configuration: configuration, embedding: target.embedding,
            d2t: ids.enumerated().map { Int64($0.element - $0.offset) }, t2d: t2d)
        draft.initialize(seed: 2)
        draft.initializeHead(fromTarget: target.head)
        let decoder = DecodingSession(
            target: target, drafter: Eagle3Drafter(draft: draft, capacity: 256, layers: [0, 1, 2]))
        for prompt: [Int32] in [[5, 17, 99, 3], [42], [7, 150, 8, 23, 64, 1, 2, 9, 100]] {
            let plain = try target.generate(prompt: prompt, maxTokens: 30).tokens
            let (speculative, stats) = try decoder.run(prompt, .chain(steps: steps), maxTokens: 30, stopTokens: [])
            #expect(speculative == plain, "prompt \(prompt), K = \(steps)")
            #expect(stats.cycles > 0 && stats.emitted >= stats.cycles && stats.acceptanceLength >= 1)
        }
    }

    @Test(arguments: [(2, 2, 4), (3, 3, 8), (4, 5, 16)])
    func greedyTreeOutputEqualsPlainGreedy(_ topK: Int, _ depth: Int, _ treeTokens: Int) throws {
        let target = try LlamaModel.load(
            from: Self.root.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        let ids = Array(stride(from: 0, to: 160, by: 2))
        var t2d = [Bool](repeating: false, count: 160)
        for id in ids { t2d[id] = true }
        let configuration = Eagle3Configuration(target: target.configuration, draftVocabularySize: ids.count)
        let draft = Eagle3Draft(
            configuration: configuration, embedding: target.embedding,
            d2t: ids.enumerated().map { Int64($0.element - $0.offset) }, t2d: t2d)
        draft.initialize(seed: 2)
        draft.initializeHead(fromTarget: target.head)
        let decoder = DecodingSession(
            target: target, drafter: Eagle3Drafter(draft: draft, capacity: 256, layers: [0, 1, 2]))
        var accepted = 0
        for prompt: [Int32] in [[5, 17, 99, 3], [42], [7, 150, 8, 23, 64, 1, 2, 9, 100]] {
            let plain = try target.generate(prompt: prompt, maxTokens: 30).tokens
            let (tree, stats) = try decoder.run(
                prompt, .tree(topK: topK, depth: depth, treeTokens: treeTokens), maxTokens: 30, stopTokens: [])
            #expect(tree == plain, "prompt \(prompt), top-k \(topK), depth \(depth)")
            accepted += stats.emitted - stats.cycles
        }
        #expect(accepted > 0, "the tree never accepted a draft token")
    }

    @Test func stopTokensEndTheOutput() throws {
        let target = try LlamaModel.load(
            from: Self.root.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        let plain = try target.generate(prompt: [5, 17], maxTokens: 20).tokens
        let stop = plain[6]
        let ids = Array(0..<32)
        let draft = Eagle3Draft(
            configuration: Eagle3Configuration(target: target.configuration, draftVocabularySize: 32),
            embedding: target.embedding,
            d2t: [Int64](repeating: 0, count: 32), t2d: (0..<160).map { $0 < ids.count })
        draft.initialize(seed: 1)
        let (tokens, _) = try DecodingSession(
            target: target, drafter: Eagle3Drafter(draft: draft, capacity: 128, layers: [0, 1, 2])
        )
        .run([5, 17], .chain(steps: 3), maxTokens: 20, stopTokens: [stop])
        #expect(tokens == Array(plain.prefix(through: plain.firstIndex(of: stop)!)))
    }
}

extension DecodingSession {
    /// One generate call as the tests spell it.
    func run(
        _ prompt: [Int32], _ strategy: DecodingStrategy, maxTokens: Int, sampling: SamplingOptions = SamplingOptions(),
        stopTokens: Set<Int32>
    ) throws -> ([Int32], AcceptanceStats) {
        let result = try generate(
            prompt: prompt,
            DecodingRequest(strategy: strategy, maxTokens: maxTokens, sampling: sampling, stopTokens: stopTokens))
        return (result.tokens, result.stats)
    }
}

/// `SpeculativeEvaluation` runs every mode on the same prompts as the plain baseline.
@Suite struct SpeculativeEvaluationTests {
    @Test func everyModeIsLosslessAndCountsItsCycles() throws {
        let target = try LlamaModel.load(
            from: SpeculativeDecoderTests.root.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        let ids = Array(stride(from: 0, to: 160, by: 2))
        var t2d = [Bool](repeating: false, count: 160)
        for id in ids { t2d[id] = true }
        let draft = Eagle3Draft(
            configuration: Eagle3Configuration(target: target.configuration, draftVocabularySize: ids.count),
            embedding: target.embedding, d2t: ids.enumerated().map { Int64($0.element - $0.offset) }, t2d: t2d)
        draft.initialize(seed: 2)
        draft.initializeHead(fromTarget: target.head)
        let makeDrafter = { Eagle3Drafter(draft: draft, capacity: 256, layers: [0, 1, 2]) as any Drafter }
        // A toy "chat template": each character of each message is one token; the answer is
        // decoded back to characters so that the second turn sees the first answer.
        let encode: ([ChatMessage]) throws -> [Int32] = { messages in
            messages.flatMap { message in message.content.unicodeScalars.map { Int32($0.value % 160) } } + [1]
        }
        let decode: ([Int32]) -> String = { tokens in
            String(String.UnicodeScalarView(tokens.compactMap { Unicode.Scalar(UInt32($0) + 32) }))
        }
        let modes: [SpeculativeEvaluation.Mode] = [
            .chain(steps: 1), .chain(steps: 3), .tree(topK: 3, depth: 3, treeTokens: 8),
        ]
        var seen: [Int] = []
        let report = try SpeculativeEvaluation.run(
            model: target, makeDrafter: makeDrafter,
            questions: [
                .init(turns: ["ab", "cd"], category: "writing"), .init(turns: ["hello"], category: "math"),
            ], modes: modes,
            maxTokens: 12, stopTokens: [], encode: encode, decode: decode
        ) { done, _ in seen.append(done) }
        #expect(seen == [1, 2])
        #expect(report.turns == 3 && report.generatedTokens == 36 && report.modes.count == 3)
        #expect(report.modes.map(\.mode) == ["chain K = 1", "chain K = 3", "tree 3/3/8"])
        for row in report.modes {
            #expect(row.lossless == true && row.mismatchedTurns == 0, "\(row.mode)")
            // Per category: the questions' turns, in order of appearance, each τ at least 1.
            let categories = row.categories ?? []
            #expect(categories.map(\.category) == ["writing", "math"] && categories.map(\.turns) == [2, 1])
            #expect(categories.allSatisfy { $0.acceptanceLength >= 1 && $0.acceptanceRates.count == row.steps })
            #expect(row.acceptanceLength >= 1 && row.cycles >= 3 && row.cycles <= 36, "\(row.mode)")
            #expect(
                Double(36) / Double(row.cycles) >= row.acceptanceLength - 1e-9,
                "\(row.mode): τ counts at most the emitted tokens")
        }
        #expect(SpeculativeEvaluation.Mode(parsing: "tree:8/6/48") == .tree(topK: 8, depth: 6, treeTokens: 48))
        #expect(SpeculativeEvaluation.Mode(parsing: "chain:5") == .chain(steps: 5))
        for bad in ["chain", "chain:0", "tree:8/6", "tree:8/6/1", "beam:3"] {
            #expect(SpeculativeEvaluation.Mode(parsing: bad) == nil, "\(bad)")
        }

        // Sampling: chain modes sample with the rejection rule; the tree refuses.
        let sampling = SamplingOptions(temperature: 0.8, topP: 0.95, seed: 7)
        let sampled = try SpeculativeEvaluation.run(
            model: target, makeDrafter: makeDrafter, questions: [.init(turns: ["ab"])], modes: [.chain(steps: 2)],
            maxTokens: 12,
            sampling: sampling, stopTokens: [], encode: encode, decode: decode)
        #expect(sampled.modes[0].lossless == nil && sampled.sampling == sampling && sampled.modes[0].cycles >= 1)
        #expect(throws: (any Error).self) {
            try SpeculativeEvaluation.run(
                model: target, makeDrafter: makeDrafter, questions: [.init(turns: ["ab"])],
                modes: [.tree(topK: 2, depth: 2, treeTokens: 4)],
                maxTokens: 12, sampling: sampling, stopTokens: [], encode: encode, decode: decode)
        }
    }
}

/// MT-bench question files: turns, categories, the `prompt` form and the limit.
struct MTBenchQuestionsTests {
    @Test func questionsKeepTheirCategories() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mtbench-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        try """
        {"question_id": 81, "category": "writing", "turns": ["a", "b"]}
        {"prompt": "c"}
        {"category": "math", "turns": ["d"]}
        """.write(to: url, atomically: true, encoding: .utf8)
        let questions = try SpeculativeEvaluation.mtBench(url)
        #expect(
            questions == [
                .init(turns: ["a", "b"], category: "writing"), .init(turns: ["c"]),
                .init(turns: ["d"], category: "math"),
            ])
        #expect(try SpeculativeEvaluation.mtBench(url, limit: 1).count == 1)
        try """
        {"category": "writing", "turns": ["w1"]}
        {"category": "writing", "turns": ["w2"]}
        {"category": "math", "turns": ["m1"]}
        {"turns": ["x1"]}
        {"category": "math", "turns": ["m2"]}
        {"turns": ["x2"]}
        """.write(to: url, atomically: true, encoding: .utf8)
        #expect(try SpeculativeEvaluation.mtBench(url, perCategory: 1).map(\.turns) == [["w1"], ["m1"], ["x1"]])
        #expect(try SpeculativeEvaluation.mtBench(url, limit: 2, perCategory: 1).map(\.turns) == [["w1"], ["m1"]])
        #expect(try SpeculativeEvaluation.mtBench(url, perCategory: 2).count == 6)
        try "{\"turns\": 3}\n".write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try SpeculativeEvaluation.mtBench(url) }
    }

    @Test(
        .enabled(
            if: TestAssets.hasMTBench, "needs the MT-bench questions: run Scripts/fetch-assets.sh (make test does)"))
    func theRealFileHasEightCategoriesOfTen() throws {
        let questions = try SpeculativeEvaluation.mtBench(TestAssets.mtBench)
        #expect(questions.count == 80)
        let counts = Dictionary(grouping: questions, by: { $0.category ?? "" }).mapValues(\.count)
        #expect(counts.count == 8 && counts.values.allSatisfy { $0 == 10 }, "\(counts)")
        let oneEach = try SpeculativeEvaluation.mtBench(TestAssets.mtBench, perCategory: 1)
        #expect(Set(oneEach.compactMap(\.category)).count == 8 && oneEach.count == 8)
    }

    @Test(.enabled(if: TestAssets.hasHumanEval, "needs HumanEval: run Scripts/fetch-assets.sh (make test does)"))
    func humanEvalPromptsAreSingleTurns() throws {
        let questions = try SpeculativeEvaluation.mtBench(TestAssets.humanEval)
        #expect(questions.count == 164 && questions.allSatisfy { $0.turns.count == 1 && $0.category == nil })
        #expect(questions[0].turns[0].hasPrefix("from typing import List\n\n\ndef has_close_elements("))
    }
}
