import Foundation
import Testing
@testable import FledgeSpeculative
import FledgeDraft
import FledgeLlama
import FledgeTensor

/// Greedy speculative decoding is lossless: the same tokens as plain greedy decoding.
@Suite struct SpeculativeDecoderTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(arguments: [1, 3, 5])
    func greedySpeculativeOutputEqualsPlainGreedy(_ steps: Int) throws {
        let target = try LlamaModel.load(from: Self.root.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        // A draft over every other target token; its head starts from the target's rows so it
        // sometimes agrees with the target (both accepted and rejected tokens are exercised).
        let ids = Array(stride(from: 0, to: 160, by: 2))
        var t2d = [Bool](repeating: false, count: 160)
        for id in ids { t2d[id] = true }
        let configuration = Eagle3Configuration(target: target.configuration, draftVocabularySize: ids.count)
        let draft = Eagle3Draft(configuration: configuration, embedding: target.embedding, d2t: ids.enumerated().map { Int64($0.element - $0.offset) }, t2d: t2d)
        draft.initialize(seed: 2)
        draft.initializeHead(fromTarget: target.head)
        let decoder = SpeculativeDecoder(target: target, draft: draft, capacity: 256, layers: [0, 1, 2])
        for prompt: [Int32] in [[5, 17, 99, 3], [42], [7, 150, 8, 23, 64, 1, 2, 9, 100]] {
            let plain = try target.generate(prompt: prompt, maxTokens: 30).tokens
            let (speculative, stats) = try decoder.generate(prompt: prompt, maxTokens: 30, steps: steps, stopTokens: [])
            #expect(speculative == plain, "prompt \(prompt), K = \(steps)")
            #expect(stats.cycles > 0 && stats.emitted >= stats.cycles && stats.acceptanceLength >= 1)
        }
    }

    @Test(arguments: [(2, 2, 4), (3, 3, 8), (4, 5, 16)])
    func greedyTreeOutputEqualsPlainGreedy(_ topK: Int, _ depth: Int, _ treeTokens: Int) throws {
        let target = try LlamaModel.load(from: Self.root.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        let ids = Array(stride(from: 0, to: 160, by: 2))
        var t2d = [Bool](repeating: false, count: 160)
        for id in ids { t2d[id] = true }
        let configuration = Eagle3Configuration(target: target.configuration, draftVocabularySize: ids.count)
        let draft = Eagle3Draft(configuration: configuration, embedding: target.embedding, d2t: ids.enumerated().map { Int64($0.element - $0.offset) }, t2d: t2d)
        draft.initialize(seed: 2)
        draft.initializeHead(fromTarget: target.head)
        let decoder = SpeculativeDecoder(target: target, draft: draft, capacity: 256, layers: [0, 1, 2])
        var accepted = 0
        for prompt: [Int32] in [[5, 17, 99, 3], [42], [7, 150, 8, 23, 64, 1, 2, 9, 100]] {
            let plain = try target.generate(prompt: prompt, maxTokens: 30).tokens
            let (tree, stats) = try decoder.generateTree(prompt: prompt, maxTokens: 30, topK: topK, depth: depth, treeTokens: treeTokens, stopTokens: [])
            #expect(tree == plain, "prompt \(prompt), top-k \(topK), depth \(depth)")
            accepted += stats.emitted - stats.cycles
        }
        #expect(accepted > 0, "the tree never accepted a draft token")
    }

    @Test func stopTokensEndTheOutput() throws {
        let target = try LlamaModel.load(from: Self.root.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        let plain = try target.generate(prompt: [5, 17], maxTokens: 20).tokens
        let stop = plain[6]
        let ids = Array(0..<32)
        let draft = Eagle3Draft(configuration: Eagle3Configuration(target: target.configuration, draftVocabularySize: 32), embedding: target.embedding,
                                d2t: [Int64](repeating: 0, count: 32), t2d: (0..<160).map { $0 < ids.count })
        draft.initialize(seed: 1)
        let (tokens, _) = try SpeculativeDecoder(target: target, draft: draft, capacity: 128, layers: [0, 1, 2])
            .generate(prompt: [5, 17], maxTokens: 20, steps: 3, stopTokens: [stop])
        #expect(tokens == Array(plain.prefix(through: plain.firstIndex(of: stop)!)))
    }
}
