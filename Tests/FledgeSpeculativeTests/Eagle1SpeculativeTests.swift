import Foundation
import Testing
@testable import FledgeSpeculative
import FledgeDraft
import FledgeLlama
import FledgeNN
import FledgeTensor

/// Speculative decoding with EAGLE-1 drafts: greedy chain and tree output equal plain greedy
/// decoding, sampling keeps to the target's tokens, with a draft briefly trained on the tiny
/// target's own continuations so that drafts are both accepted and rejected.
@Suite struct Eagle1SpeculativeTests {
    static let prompts: [[Int32]] = [[5, 17, 99, 3], [42], [7, 150, 8, 23, 64, 1, 2, 9, 100]]

    /// The tiny target and an EAGLE-1 draft trained for a few AdamW steps on its greedy
    /// continuations of a few prompts (features: the target's final-norm hidden states).
    static func makeDecoder() throws -> (LlamaModel, DecodingSession) {
        let target = try LlamaModel.load(
            from: SpeculativeDecoderTests.root.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        let draft = Eagle1Draft(
            configuration: Eagle1Configuration(target: target.configuration), embedding: target.embedding,
            head: target.head)
        draft.initialize(seed: 3)
        let length = 40
        var ids: [Int32] = [], features: [Float] = []
        let starts: [[Int32]] = [[11], [23, 5], [60], [99, 100], [3], [7, 8, 9], [120], [42, 43]]
        for start in starts {
            let sequence = Array(
                (start + (try target.generate(prompt: start, maxTokens: length).tokens)).prefix(length))
            let result = try target.forward(
                TokenBatch(tokens: sequence), cache: target.makeCache(capacity: length),
                options: ForwardOptions(finalHidden: true, logits: .none))
            ids += sequence
            features += result.finalHidden!.values
        }
        let b = starts.count
        let batch = Eagle1Batch(
            batch: b, length: length, lengths: Array(repeating: length, count: b), ids: ids,
            lossMask: Array(repeating: 1, count: b * length),
            features: Tensor(features, shape: [b * length, target.configuration.hiddenSize]))
        let trainer = Eagle1Trainer(draft: draft, maxBatch: b, maxLength: length)
        var optimizer = AdamW(learningRate: 3e-3, beta1: 0.9, beta2: 0.95, weightDecay: 0)
        for _ in 0..<60 {
            draft.parameters.zeroGradients()
            _ = trainer.step(batch)
            optimizer.update(draft.parameters)
        }
        return (
            target, DecodingSession(target: target, drafter: Eagle1Drafter(draft: draft, capacity: 256, target: target))
        )
    }

    @Test func greedyChainAndTreeOutputEqualPlainGreedy() throws {
        let (target, decoder) = try Self.makeDecoder()
        var accepted = 0, rejected = 0
        for prompt in Self.prompts {
            let plain = try target.generate(prompt: prompt, maxTokens: 30).tokens
            for steps in [1, 3, 5] {
                let (chain, stats) = try decoder.run(prompt, .chain(steps: steps), maxTokens: 30, stopTokens: [])
                #expect(chain == plain, "prompt \(prompt), K = \(steps)")
                accepted += stats.emitted - stats.cycles
                rejected += stats.cycles * steps - (stats.emitted - stats.cycles)
            }
            for (topK, depth, treeTokens) in [(2, 2, 4), (3, 4, 10)] {
                let (tree, stats) = try decoder.run(
                    prompt, .tree(topK: topK, depth: depth, treeTokens: treeTokens), maxTokens: 30, stopTokens: [])
                #expect(tree == plain, "prompt \(prompt), tree \(topK)/\(depth)/\(treeTokens)")
                #expect(stats.acceptanceLength >= 1)
            }
        }
        #expect(accepted > 0 && rejected > 0, "accepted \(accepted), rejected \(rejected): both paths must run")
    }

    /// At temperature → 0 speculative sampling reduces to greedy: the same tokens.
    @Test func nearGreedySamplingEqualsPlainGreedy() throws {
        let (target, decoder) = try Self.makeDecoder()
        for prompt in Self.prompts {
            let plain = try target.generate(prompt: prompt, maxTokens: 20).tokens
            let (sampled, stats) = try decoder.run(
                prompt, .chain(steps: 3), maxTokens: 20, sampling: SamplingOptions(temperature: 1e-4, topP: 1, seed: 5),
                stopTokens: [])
            #expect(sampled == plain, "prompt \(prompt)")
            #expect(stats.cycles > 0)
        }
    }
}
