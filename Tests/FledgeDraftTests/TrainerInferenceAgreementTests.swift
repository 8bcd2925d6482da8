import Foundation
import Testing
@testable import FledgeDraft
import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// The trainers' fused forward and the drafters' steps (through the shared inference
/// ``DecoderLayer``) compute the same layer: on a small random draft and batch, the trainer's
/// step-0 output hidden and logits equal a fresh drafter's step over each sample's rows.
/// (They differ only in summation order: OpenBLAS in training, the few-rows kernel at
/// inference, and EAGLE-3's q/k/v as one product over [en | hn] instead of two.)
@Suite struct TrainerInferenceAgreementTests {
    static let (atol, rtol): (Float, Float) = (2e-5, 1e-4)

    /// One-layer and two-layer drafts (each drafter layer with its own cache).
    @Test(arguments: [1, 2]) func eagle3StepZeroEqualsTheDrafterStep(layers: Int) {
        let (trainer, batch) = Eagle3GradientTests.tinySetup(layers: layers)
        let draft = trainer.draft
        let c = draft.configuration
        let (h, t, vd) = (c.hiddenSize, batch.length, c.draftVocabularySize)
        _ = trainer.step(batch, decay: 0.8, train: false)
        let p = Eagle3Draft.Weights(draft.parameters, layerCount: c.layerCount, gradients: false)
        let hOut0 = trainer.arena["h.1"], hOut1 = trainer.arena["h.2"], normed = trainer.arena["normed.0"]
        for row in 0..<batch.batch {
            let length = batch.lengths[row], start = row * t
            let drafter = Eagle3Drafter(draft: draft, capacity: 32)
            let fused = Tensor(zeros: [length, h])
            drafter.fuse(batch.auxiliary.pointer + start * 3 * c.targetHiddenSize, rows: length, into: fused.pointer)
            let tokens = (0..<length).map { trainer.shiftedToken(batch, b: row, t: $0, k: 0) }
            let (hidden, logits) = drafter.step(
                tokens: tokens, hidden: fused.pointer, positions: nil, prefix: 0, visible: nil, allLogits: true)
            let report = compare(
                "h_out step 0, sample \(row)", hidden.pointer, hOut0.pointer + start * h, count: length * h,
                atol: Self.atol, rtol: Self.rtol)
            #expect(report.passed, "\(report)")
            // The trainer's head on its step-0 final-norm rows.
            let expected = Tensor(zeros: [length, vd])
            Linear.forward(
                expected.pointer, normed.pointer + start * h, weight: p.head.pointer, bias: nil, rows: length,
                inFeatures: h, outFeatures: vd)
            let head = compare(
                "logits step 0, sample \(row)", logits.pointer, expected.pointer, count: length * vd, atol: Self.atol,
                rtol: Self.rtol)
            #expect(head.passed, "\(head)")
            // Step 1 at the last position: the drafter's chained row on its own output.
            let last = Tensor(
                Array(UnsafeBufferPointer(start: hidden.pointer + (length - 1) * h, count: h)), shape: [1, h])
            let (next, _) = drafter.step(
                tokens: [trainer.shiftedToken(batch, b: row, t: length - 1, k: 1)], hidden: last.pointer)
            let chained = compare(
                "h_out step 1, sample \(row)", next.pointer, hOut1.pointer + (start + length - 1) * h, count: h,
                atol: Self.atol, rtol: Self.rtol)
            #expect(chained.passed, "\(chained)")
        }
    }

    /// A random EAGLE-1 draft (with `fc` bias) and batch of two samples (lengths 10 and 7).
    static func eagle1Setup() -> (Eagle1Trainer, Eagle1Batch) {
        let (h, vocabulary, b, t) = (32, 40, 2, 10)
        let configuration = Eagle1Configuration(
            hiddenSize: h, headCount: 2, kvHeadCount: 1, headDimension: 16, intermediateSize: 48,
            vocabularySize: vocabulary, maxPositions: 64, bias: true)
        var generator = SeededGenerator(seed: 33)
        let embedding = Tensor(zeros: [vocabulary, h]), head = Tensor(zeros: [vocabulary, h])
        generator.fillNormal(embedding, std: 0.5)
        generator.fillNormal(head, std: 0.5)
        let draft = Eagle1Draft(configuration: configuration, embedding: embedding, head: head)
        draft.initialize(seed: 7)
        generator.fillUniform(
            draft.parameters.parameter("layers.0.post_attention_layernorm.weight"), low: 0.8, high: 1.2)
        let features = Tensor(zeros: [b * t, h])
        generator.fillNormal(features)
        let lengths = [10, 7]
        for i in lengths[1]..<t { (features.pointer + (t + i) * h).update(repeating: 0, count: h) }
        let ids = (0..<(b * t)).map { _ in Int32(generator.next() % UInt64(vocabulary)) }
        let lossMask = [UInt8](repeating: 1, count: b * t)
        let batch = Eagle1Batch(batch: b, length: t, lengths: lengths, ids: ids, lossMask: lossMask, features: features)
        return (Eagle1Trainer(draft: draft, maxBatch: b, maxLength: t), batch)
    }

    @Test func eagle1ForwardEqualsTheDrafterStep() {
        let (trainer, batch) = Self.eagle1Setup()
        let draft = trainer.draft
        let c = draft.configuration
        let (h, t, vocabulary) = (c.hiddenSize, batch.length, c.vocabularySize)
        _ = trainer.step(batch, train: false)
        let out = trainer.arena["out"]
        for row in 0..<batch.batch {
            let length = batch.lengths[row], start = row * t
            let drafter = Eagle1Drafter(draft: draft, capacity: 32)
            // As the trainer: row i reads x[i + 1] (0 at the sample's last token) with the feature f[i].
            let tokens = (0..<length).map { i in i + 1 < length ? batch.ids[start + i + 1] : 0 }
            let (hidden, logits) = drafter.step(
                tokens: tokens, hidden: batch.features.pointer + start * h, positions: nil, prefix: 0,
                visible: nil, allLogits: true)
            let report = compare(
                "predict, sample \(row)", hidden.pointer, out.pointer + start * h, count: length * h, atol: Self.atol,
                rtol: Self.rtol)
            #expect(report.passed, "\(report)")
            let expected = Tensor(zeros: [length, vocabulary])
            Linear.forward(
                expected.pointer, out.pointer + start * h, weight: draft.head.pointer, bias: nil, rows: length,
                inFeatures: h,
                outFeatures: vocabulary)
            let head = compare(
                "logits, sample \(row)", logits.pointer, expected.pointer, count: length * vocabulary, atol: Self.atol,
                rtol: Self.rtol)
            #expect(head.passed, "\(head)")
        }
    }
}
