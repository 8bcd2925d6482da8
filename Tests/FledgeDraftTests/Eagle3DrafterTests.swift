import Foundation
import Testing
@testable import FledgeDraft
import FledgeTensor
import FledgeTestSupport

/// Draft inference with a KV cache equals the training-time-test forward of the reference:
/// step 0 over a prefix, then chained speculative steps at the last position.
@Suite struct Eagle3DrafterTests {
    @Test(arguments: [5, 12, 20])
    func chainedStepsEqualTheReferenceTTTSteps(_ p: Int) throws {
        let tests = try Eagle3ReferenceTests()
        let (trainer, batch) = try tests.makeTrainer()
        let fixtures = tests.fixtures
        let step0 = try fixtures.tensor("step0.h_out"), step2 = try fixtures.tensor("step2.h_out")
        let h = 64
        let drafter = Eagle3Drafter(draft: trainer.draft, capacity: 64)
        let fused = Tensor(zeros: [p + 1, h])
        drafter.fuse(batch.auxiliary.pointer, rows: p + 1, into: fused.pointer)
        let x = batch.ids  // row 0: 24 real tokens
        var (hidden, _) = drafter.step(tokens: (1...(p + 1)).map { x[$0] }, hidden: fused.pointer)
        let prefix = compare("step 0", hidden.pointer, step0.pointer, count: (p + 1) * h, atol: 2e-5, rtol: 1e-4)
        #expect(prefix.passed, "\(prefix)")
        var last = Tensor(zeros: [h])
        last.pointer.update(from: hidden.pointer + p * h, count: h)
        for k in 1...2 {
            (hidden, _) = drafter.step(tokens: [x[p + k + 1]], hidden: last.pointer)
            last = Tensor(hidden.values, shape: [h])
        }
        let chained = compare("step 2 at \(p)", last.pointer, step2.pointer + p * h, count: h, atol: 2e-5, rtol: 1e-4)
        #expect(chained.passed, "\(chained)")
        #expect(drafter.length == p + 3)
        drafter.trim(to: p + 1)
        #expect(drafter.length == p + 1)
    }

    /// A prompt longer than the drafter's rows per call goes through in pieces, with the same
    /// last-row output and logits as in one call (it crashed before: MT-bench second turns).
    @Test func longPromptsGoThroughInPieces() throws {
        let tests = try Eagle3ReferenceTests()
        let (trainer, batch) = try tests.makeTrainer()
        let h = 64, p = 20
        let fused = Tensor(zeros: [p + 1, h])
        let whole = Eagle3Drafter(draft: trainer.draft, capacity: 64)
        whole.fuse(batch.auxiliary.pointer, rows: p + 1, into: fused.pointer)
        let tokens = (1...(p + 1)).map { batch.ids[$0] }
        let (hidden, logits) = whole.step(tokens: tokens, hidden: fused.pointer)
        let pieces = Eagle3Drafter(draft: trainer.draft, capacity: 64, maxRows: 6)
        let (pieceHidden, pieceLogits) = pieces.step(tokens: tokens, hidden: fused.pointer)
        #expect(pieces.length == p + 1 && pieceHidden.shape[0] == (p + 1) % 6)
        let lastRow = compare(
            "last row", pieceHidden.pointer + (pieceHidden.shape[0] - 1) * h, hidden.pointer + p * h, count: h,
            atol: 2e-5, rtol: 1e-4)
        #expect(lastRow.passed, "\(lastRow)")
        let head = compare("logits", pieceLogits.pointer, logits.pointer, count: logits.count, atol: 2e-5, rtol: 1e-4)
        #expect(head.passed, "\(head)")
    }
}
