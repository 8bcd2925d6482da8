import Foundation
import Testing
@testable import FledgeDraft
import FledgeTensor
import FledgeTestSupport

/// EAGLE-1 inference with a KV cache: step 0 equals the reference's predicted features and
/// head logits (Fixtures/eagle1: `predict`, `out_head`, no noise); chained and tree steps
/// equal the same rows run without a cache.
@Suite struct Eagle1DrafterTests {
    static let h = 32, vocabulary = 96

    @Test(arguments: [3, 8, 10])
    func stepZeroEqualsTheReferenceForward(_ p: Int) throws {
        let tests = try Eagle1ReferenceTests()
        let (trainer, batch) = try tests.makeTrainer()
        let (h, v) = (Self.h, Self.vocabulary)
        let predict = try tests.fixtures.tensor("predict"), outHead = try tests.fixtures.tensor("out_head")
        let drafter = Eagle1Drafter(draft: trainer.draft, capacity: 32)
        // Row t of sample 0: token x[t+1] with the feature f[t].
        let (hidden, logits) = drafter.step(tokens: (1...(p + 1)).map { batch.ids[$0] }, hidden: batch.features.pointer)
        let rows = compare("predict", hidden.pointer, predict.pointer, count: (p + 1) * h, atol: 2e-5, rtol: 1e-4)
        #expect(rows.passed, "\(rows)")
        let head = compare("out_head", logits.pointer, outHead.pointer + p * v, count: v, atol: 2e-5, rtol: 1e-4)
        #expect(head.passed, "\(head)")
        #expect(drafter.length == p + 1)
        #expect(drafter.columnTokens == (0..<Int32(v)).map { $0 } && drafter.logitColumns == v)
    }

    /// Two chained steps on predicted features equal one uncached call over all the rows, and
    /// a tree level (two siblings at one position) equals each sibling run as a chain.
    @Test func chainedAndTreeStepsEqualUncachedRows() throws {
        let tests = try Eagle1ReferenceTests()
        let (trainer, batch) = try tests.makeTrainer()
        let h = Self.h, p = 6
        let tokens = (1...(p + 1)).map { batch.ids[$0] }
        let drafter = Eagle1Drafter(draft: trainer.draft, capacity: 32)
        var (hidden, _) = drafter.step(tokens: tokens, hidden: batch.features.pointer)
        var rows = Array(UnsafeBufferPointer(start: batch.features.pointer, count: (p + 1) * h))
        var chainTokens = tokens
        var last = Tensor(Array(UnsafeBufferPointer(start: hidden.pointer + p * h, count: h)), shape: [h])
        var lastLogits: [Float] = []
        for k in 0..<2 {
            rows += last.values
            chainTokens.append(Int32(40 + k))
            let (next, logits) = drafter.step(tokens: [Int32(40 + k)], hidden: last.pointer)
            hidden = next
            lastLogits = logits.values
            last = Tensor(hidden.values, shape: [h])
        }
        let fresh = Eagle1Drafter(draft: trainer.draft, capacity: 32)
        let rowsTensor = Tensor(rows, shape: [rows.count / h, h])
        let (all, allLogits) = fresh.step(tokens: chainTokens, hidden: rowsTensor.pointer)
        let chained = compare(
            "chained", last.pointer, all.pointer + (chainTokens.count - 1) * h, count: h, atol: 2e-5, rtol: 1e-4)
        #expect(chained.passed, "\(chained)")
        let logits = compare(
            "chained logits", Tensor(lastLogits, shape: [lastLogits.count]), allLogits, atol: 2e-5, rtol: 1e-4)
        #expect(logits.passed, "\(logits)")
        // A tree level after the prefix: siblings 40 and 41 at position p + 1, each seeing only
        // the prefix and itself, equal the first chained step with that token.
        drafter.trim(to: p + 1)
        let parent = Tensor(Array(UnsafeBufferPointer(start: rowsTensor.pointer + (p + 1) * h, count: h)), shape: [h])
        let twice = Tensor(parent.values + parent.values, shape: [2, h])
        let (siblings, siblingLogits) = drafter.step(
            tokens: [40, 41], hidden: twice.pointer, positions: [Int32(p + 1), Int32(p + 1)],
            prefix: p + 1, visible: [[], []], allLogits: true)
        #expect(siblingLogits.shape[0] == 2)
        for (i, token) in [Int32(40), 41].enumerated() {
            let single = Eagle1Drafter(draft: trainer.draft, capacity: 32)
            _ = single.step(tokens: tokens, hidden: batch.features.pointer)
            let (one, _) = single.step(tokens: [token], hidden: parent.pointer)
            let report = compare(
                "sibling \(token)", siblings.pointer + i * h, one.pointer, count: h, atol: 2e-5, rtol: 1e-4)
            #expect(report.passed, "\(report)")
        }
    }
}

/// The batched chained accuracy equals running, from every position, the chain that decoding
/// runs (a fresh drafter: step 0 over the prefix, then one row per step on its own output).
@Suite struct Eagle1ChainAccuracyTests {
    @Test(arguments: ["", "memo."])
    func batchedCountsEqualOneChainPerPosition(_ parameters: String) throws {
        let tests = try Eagle1ReferenceTests()
        let (trainer, batch) = try tests.makeTrainer(parameters: parameters)
        let draft = trainer.draft
        let (h, t, steps) = (32, 12, 3)
        let accuracy = Eagle1ChainAccuracy(draft: draft, steps: steps, maxLength: t)
        var expected = Eagle1ChainAccuracy.Counts(steps: steps)
        var hits = 0
        for row in 0..<2 {
            let length = batch.lengths[row], start = row * t
            let features = batch.features.pointer + start * h
            let ids = Array(batch.ids[start..<(start + length)]), mask = Array(batch.lossMask[start..<(start + length)])
            let got = accuracy.evaluate(
                ids: batch.ids[start..<(start + length)], lossMask: batch.lossMask[start..<(start + length)],
                features: features, length: length)
            let labels = accuracy.headArgmax(features, count: length)
            var counts = Eagle1ChainAccuracy.Counts(steps: steps)
            for p in 0..<(length - 1) {
                let drafter = Eagle1Drafter(draft: draft, capacity: 32)
                var (hidden, logits) = drafter.step(tokens: (0...p).map { ids[$0 + 1] }, hidden: features)
                var alive = true
                for k in 0..<steps where p + k + 1 < length {
                    if k > 0 {
                        let last = Tensor(
                            Array(UnsafeBufferPointer(start: hidden.pointer + (hidden.shape[0] - 1) * h, count: h)),
                            shape: [h])
                        (hidden, logits) = drafter.step(tokens: [ids[p + k + 1]], hidden: last.pointer)
                    }
                    let predicted = logits.values.indices.max { logits.values[$0] < logits.values[$1] }!
                    let hit = Int32(predicted) == labels[p + k + 1]
                    if mask[p + k] != 0 {
                        counts.count[k] += 1
                        if hit { counts.correct[k] += 1 }
                        if alive {
                            counts.conditionalCount[k] += 1
                            if hit { counts.conditionalCorrect[k] += 1 }
                        }
                    }
                    if !hit { alive = false }
                }
            }
            #expect(got == counts, "sample \(row)")
            expected.merge(counts)
            hits += counts.correct.reduce(0, +)
        }
        #expect(expected.count[0] > 0)
        if parameters == "memo." { #expect(hits > 0, "the memorised draft should hit some steps") }
    }
}
