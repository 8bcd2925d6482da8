import Foundation
import Testing
@testable import FledgeDraft
import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// The EAGLE-1 trainer against the PyTorch reference written from docs/design.md §3
/// (Scripts/reference/eagle1_reference.py, fixtures by make_eagle1_fixtures.py).
@Suite struct Eagle1ReferenceTests {
    let fixtures: FixtureSet
    static let (b, t, h, vocabulary) = (2, 12, 32, 96)

    init() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        fixtures = try FixtureSet(directory: url.appendingPathComponent("eagle1"))
    }

    func makeTrainer(
        parameters prefix: String = "", precision: Precision = .fp32
    ) throws -> (Eagle1Trainer, Eagle1Batch) {
        let configuration = Eagle1Configuration(
            hiddenSize: Self.h, headCount: 2, kvHeadCount: 1, headDimension: 16, intermediateSize: 64,
            vocabularySize: Self.vocabulary, rmsNormEps: 1e-5, ropeTheta: 10_000, maxPositions: 64, bias: true)
        let shape = Shape([Self.vocabulary, Self.h])
        let draft = Eagle1Draft(
            configuration: configuration, embedding: try fixtures.tensor("embed_tokens.weight").reshaped(shape),
            head: try fixtures.tensor("lm_head.weight").reshaped(shape))
        for (name, _) in configuration.parameterShapes {
            draft.parameters.parameter(name).copy(from: try fixtures.tensor(prefix + name))
        }
        let attention = try fixtures.integers("attention_mask")
        let lengths = (0..<Self.b).map { row in Int(attention[(row * Self.t)..<((row + 1) * Self.t)].reduce(0, +)) }
        let batch = Eagle1Batch(
            batch: Self.b, length: Self.t, lengths: lengths, ids: try fixtures.integers("input_ids"),
            lossMask: try fixtures.integers("loss_mask").map(UInt8.init),
            features: try fixtures.tensor("features").reshaped([Self.b * Self.t, Self.h]))
        return (Eagle1Trainer(draft: draft, maxBatch: Self.b, maxLength: Self.t, precision: precision), batch)
    }

    func expectLosses(_ metrics: Eagle1Metrics, vloss: String, ploss: String, total: String?) throws {
        for (name, value) in [(vloss, metrics.vloss), (ploss, metrics.ploss)]
            + (total.map { [($0, metrics.total)] } ?? [])
        {
            let report = compare(name, Tensor([value], shape: [1]), try fixtures.tensor(name), atol: 1e-6, rtol: 1e-5)
            #expect(report.passed, "\(report)")
        }
    }

    @Test func predictionLossesAndEveryGradientMatch() throws {
        let (trainer, batch) = try makeTrainer()
        trainer.draft.parameters.zeroGradients()
        let metrics = trainer.step(batch)
        let predicted = compare("predict", trainer.arena["out"], try fixtures.tensor("predict"), atol: 1e-5, rtol: 1e-4)
        #expect(predicted.passed, "\(predicted)")
        try expectLosses(metrics, vloss: "vloss", ploss: "ploss", total: "total_loss")
        #expect(metrics.correct + [metrics.count] == (try fixtures.integers("correct")).map(Int.init))
        for (name, _) in trainer.draft.configuration.parameterShapes {
            let expected = try fixtures.tensor("grad." + name)
            let scale = expected.values.map { abs($0) }.max() ?? 1
            let report = compare(
                "grad \(name)", trainer.draft.parameters.gradient(name), expected, atol: 1e-4 * scale, rtol: 1e-4)
            #expect(report.passed, "\(report)")
        }
    }

    /// AdamW (weight decay 0.01) after clipping every gradient to ±0.01 by value.
    @Test func threeAdamWStepsWithValueClippingMatch() throws {
        let (trainer, batch) = try makeTrainer()
        let parameters = trainer.draft.parameters
        var optimizer = AdamW(learningRate: 1e-2, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.01)
        var totals: [Float] = []
        for _ in 0..<3 {
            parameters.zeroGradients()
            totals.append(trainer.step(batch).total)
            GradientClipping.clipValues(parameters.gradients.pointer, count: parameters.count, limit: 0.01)
            optimizer.update(parameters)
        }
        let report = compare(
            "train_total", Tensor(totals, shape: [3]), try fixtures.tensor("train_total"), atol: 1e-6, rtol: 1e-5)
        #expect(report.passed, "\(report)")
        // Each step moves a weight by up to lr = 1e-2; where a gradient is within rounding of zero,
        // Adam's m/√v (±1 at the first step) follows that rounding, which depends on the BLAS
        // kernel's summation order (OpenBLAS's Prescott kernels moved one weight by 2e-5 here).
        // 1e-4, 1 % of one step, still catches any wrong update.
        for (name, _) in trainer.draft.configuration.parameterShapes {
            let report = compare(
                "final \(name)", parameters.parameter(name), try fixtures.tensor("final." + name), atol: 1e-4,
                rtol: 1e-4)
            #expect(report.passed, "\(report)")
        }
    }

    /// Half-memorised parameters, where the top-1/2/3 counts are non-trivial.
    @Test func trainedParametersGiveTheSameTopKCounts() throws {
        let (trainer, batch) = try makeTrainer(parameters: "memo.")
        let metrics = trainer.step(batch, train: false)
        try expectLosses(metrics, vloss: "memo.vloss", ploss: "memo.ploss", total: nil)
        #expect(metrics.correct + [metrics.count] == (try fixtures.integers("memo.correct")).map(Int.init))
        #expect(metrics.correct[0] > 0 && metrics.correct[0] < metrics.correct[2])
    }
}
