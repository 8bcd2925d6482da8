import Foundation
import Testing
@testable import FledgeSpeculative
import FledgeDraft
import FledgeLlama
import FledgeTensor

/// Speculative sampling leaves the target's distribution unchanged: the second generated
/// token (the first one that goes through acceptance/rejection) follows the exact marginal
/// Σ_t1 p(t1) p(t2 | t1) of the target (chi-square goodness of fit, p = 0.001).
@Suite struct SpeculativeSamplingTests {
    @Test func secondTokenFollowsTheTargetDistribution() throws {
        let root = SpeculativeDecoderTests.root
        let target = try LlamaModel.load(
            from: root.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        let ids = Array(stride(from: 0, to: 160, by: 2))
        var t2d = [Bool](repeating: false, count: 160)
        for id in ids { t2d[id] = true }
        let draft = Eagle3Draft(
            configuration: Eagle3Configuration(target: target.configuration, draftVocabularySize: ids.count),
            embedding: target.embedding, d2t: ids.enumerated().map { Int64($0.element - $0.offset) }, t2d: t2d)
        draft.initialize(seed: 2)
        draft.initializeHead(fromTarget: target.head)
        let decoder = DecodingSession(
            target: target, drafter: Eagle3Drafter(draft: draft, capacity: 64, layers: [0, 1, 2]))
        let prompt: [Int32] = [5, 17, 99]
        let temperature: Float = 1.5  // flatter, so many tokens have mass
        let sampler = Sampler(SamplingOptions(temperature: temperature))
        // The exact marginal of the second token.
        let v = 160
        let first = Tensor(zeros: [v]), second = Tensor(zeros: [v])
        var exact = [Double](repeating: 0, count: v)
        let logits = try target.forward(TokenBatch(tokens: prompt), cache: target.makeCache(capacity: 8)).logits!
        sampler.distribution(logits.pointer, count: v, into: first.pointer)
        for t1 in 0..<v where first[t1] > 0 {
            let next = try target.forward(
                TokenBatch(tokens: prompt + [Int32(t1)]), cache: target.makeCache(capacity: 8)
            ).logits!
            sampler.distribution(next.pointer, count: v, into: second.pointer)
            for t2 in 0..<v { exact[t2] += Double(first[t1]) * Double(second[t2]) }
        }
        let runs = 3_000
        var counts = [Int](repeating: 0, count: v)
        var accepted = 0
        for seed in 0..<runs {
            let (tokens, stats) = try decoder.run(
                prompt, .chain(steps: 3), maxTokens: 2,
                sampling: SamplingOptions(temperature: temperature, seed: UInt64(seed)), stopTokens: [])
            counts[Int(tokens[1])] += 1
            accepted += stats.accepted[0]
        }
        #expect(accepted > 50, "the draft's first token was accepted \(accepted) times; the test needs both branches")
        // Bins with at least 5 expected samples; the rest pooled.
        var statistic = 0.0, bins = 0, pooledObserved = 0.0, pooledExpected = 0.0
        for t in 0..<v {
            let expected = exact[t] * Double(runs)
            if expected >= 5 {
                statistic += pow(Double(counts[t]) - expected, 2) / expected
                bins += 1
            } else {
                pooledObserved += Double(counts[t])
                pooledExpected += expected
            }
        }
        if pooledExpected >= 5 {
            statistic += pow(pooledObserved - pooledExpected, 2) / pooledExpected
            bins += 1
        }
        let df = Double(bins - 1)
        // p = 0.001 (Wilson–Hilferty)
        let critical = df * pow(1 - 2 / (9 * df) + 3.09 * (2 / (9 * df)).squareRoot(), 3)
        #expect(bins >= 10)
        #expect(statistic < critical, "χ² \(statistic) with \(Int(df)) degrees of freedom exceeds \(critical)")
    }
}
