import Foundation
import Testing
@testable import FledgeDraft
import FledgeNN
import FledgeTensor
import FledgeTestSupport
import FledgeWeights

/// The EAGLE-3 trainer against the PyTorch reference written from docs/design.md §2
/// (Scripts/reference/eagle3_reference.py, fixtures by make_eagle3_fixtures.py).
@Suite struct Eagle3ReferenceTests {
    let fixtures: FixtureSet
    let configuration: Eagle3Configuration

    init() throws { try self.init(layers: 1) }

    /// The one-layer fixtures (H 64), or the two-layer ones (H 32, `eagle3-2layers`).
    init(layers: Int) throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        fixtures = try FixtureSet(directory: url.appendingPathComponent(layers == 1 ? "eagle3" : "eagle3-2layers"))
        var configuration =
            layers == 1
            ? Eagle3Configuration(
                hiddenSize: 64, headCount: 4, kvHeadCount: 2, headDimension: 16, intermediateSize: 128,
                vocabularySize: 512, draftVocabularySize: 128, rmsNormEps: 1e-5, ropeTheta: 10_000, maxPositions: 64)
            : Eagle3Configuration(
                hiddenSize: 32, headCount: 2, kvHeadCount: 1, headDimension: 16, intermediateSize: 64,
                vocabularySize: 256, draftVocabularySize: 64, rmsNormEps: 1e-5, ropeTheta: 10_000, maxPositions: 64)
        configuration.layerCount = layers
        self.configuration = configuration
    }

    func makeTrainer(
        parameters prefix: String = "", precision: Precision = .fp32
    ) throws -> (Eagle3Trainer, Eagle3Batch) {
        let (h, v) = (configuration.hiddenSize, configuration.vocabularySize)
        let draft = Eagle3Draft(
            configuration: configuration, embedding: try fixtures.tensor("embed_tokens.weight").reshaped([v, h]),
            d2t: try fixtures.integers("d2t").map(Int64.init), t2d: try fixtures.integers("t2d").map { $0 != 0 })
        for (name, _) in configuration.parameterShapes {
            draft.parameters.parameter(name).copy(from: try fixtures.tensor(prefix + name))
        }
        let ids = try fixtures.integers("input_ids")
        let lossMask = try fixtures.integers("loss_mask").map(UInt8.init)
        let attention = try fixtures.integers("attention_mask")
        let lengths = [Int(attention[0..<24].reduce(0, +)), Int(attention[24..<48].reduce(0, +))]
        let batch = Eagle3Batch(
            batch: 2, length: 24, lengths: lengths, ids: ids, lossMask: lossMask,
            auxiliary: try fixtures.tensor("aux_hidden_states").reshaped([48, 3 * h]),
            target: .logits(try fixtures.tensor("target_logits").reshaped([48, v])))
        return (Eagle3Trainer(draft: draft, maxBatch: 2, maxLength: 24, steps: 7, precision: precision), batch)
    }

    func expectMetrics(_ metrics: Eagle3Metrics, _ prefix: String) throws {
        let losses = try fixtures.tensor(prefix + "loss")
        let report = compare("\(prefix)loss", Tensor(metrics.losses, shape: [7]), losses, atol: 1e-6, rtol: 1e-4)
        #expect(report.passed, "\(report)")
        #expect(
            compare(
                "\(prefix)acc", Tensor(metrics.accuracies, shape: [7]), try fixtures.tensor(prefix + "acc"), atol: 1e-6
            ).passed)
        let conditional = compare(
            "\(prefix)cond_acc", Tensor(metrics.conditionalAccuracies, shape: [7]),
            try fixtures.tensor(prefix + "cond_acc"), atol: 1e-6)
        #expect(conditional.passed, "\(conditional)")
        let total = compare(
            "\(prefix)total", Tensor([metrics.total], shape: [1]), try fixtures.tensor(prefix + "total_loss"),
            atol: 1e-6, rtol: 1e-4)
        #expect(total.passed, "\(total)")
    }

    @Test(arguments: [1, 2]) func lossesAccuraciesAndEveryGradientMatch(layers: Int) throws {
        let suite = try Eagle3ReferenceTests(layers: layers)
        let (trainer, batch) = try suite.makeTrainer()
        trainer.draft.parameters.zeroGradients()
        let metrics = trainer.step(batch, decay: 0.8)
        try suite.expectMetrics(metrics, "")
        for (name, _) in trainer.draft.configuration.parameterShapes {
            let expected = try suite.fixtures.tensor("grad." + name)
            let scale = expected.values.map { abs($0) }.max() ?? 1
            let report = compare(
                "grad \(name)", trainer.draft.parameters.gradient(name), expected, atol: 1e-4 * scale, rtol: 1e-4)
            #expect(report.passed, "\(report)")
        }
    }

    @Test(arguments: [1, 2]) func fiveAdamWStepsMatch(layers: Int) throws {
        let suite = try Eagle3ReferenceTests(layers: layers)
        let fixtures = suite.fixtures
        let (trainer, batch) = try suite.makeTrainer()
        let parameters = trainer.draft.parameters
        var optimizer = AdamW(learningRate: 1e-3, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0)
        var totals: [Float] = [], norms: [Float] = []
        for _ in 0..<5 {
            parameters.zeroGradients()
            totals.append(trainer.step(batch, decay: 0.8).total)
            norms.append(GradientClipping.clip(parameters.gradients.pointer, count: parameters.count, maxNorm: 0.5))
            optimizer.update(parameters)
        }
        #expect(
            compare(
                "train_total", Tensor(totals, shape: [5]), try fixtures.tensor("train_total"), atol: 1e-6, rtol: 1e-4
            ).passed)
        #expect(
            compare("grad_norm", Tensor(norms, shape: [5]), try fixtures.tensor("grad_norm"), atol: 1e-6, rtol: 1e-4)
                .passed)
        for (name, _) in trainer.draft.configuration.parameterShapes {
            let report = compare(
                "final \(name)", parameters.parameter(name), try fixtures.tensor("final." + name), atol: 1e-5,
                rtol: 1e-4)
            #expect(report.passed, "\(report)")
        }
        parameters.zeroGradients()
        try suite.expectMetrics(trainer.step(batch, decay: 0.8), "final.")
    }

    /// Trained parameters where accuracies are non-trivial (the chains of cond_acc exist).
    @Test(arguments: [1, 2]) func trainedParametersGiveTheSameAccuracies(layers: Int) throws {
        let suite = try Eagle3ReferenceTests(layers: layers)
        let (trainer, batch) = try suite.makeTrainer(parameters: "memo.")
        trainer.draft.parameters.zeroGradients()
        try suite.expectMetrics(trainer.step(batch, decay: 0.8), "memo.")
    }
}

/// Writes the fixture draft as an EAGLE export plus its inputs, for
/// `Scripts/reference/eagle3_reference.py export-check` (run by hand: it needs PyTorch).
@Suite struct Eagle3ExportForPyTorch {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["FLEDGE_EXPORT_CHECK_DIR"] != nil))
    func writeExportForTheReference() throws {
        let root = URL(fileURLWithPath: ProcessInfo.processInfo.environment["FLEDGE_EXPORT_CHECK_DIR"]!)
        let tests = try Eagle3ReferenceTests()
        let (trainer, batch) = try tests.makeTrainer()
        try Eagle3Export.write(
            trainer.draft, format: .eagle, to: root.appendingPathComponent("export"), target: .init(name: "fixture"),
            dtype: .f32)
        try SafetensorsWriter().write(
            [.init(name: "model.embed_tokens.weight", tensor: trainer.draft.embedding)],
            to: root.appendingPathComponent("embed.safetensors"))
        try SafetensorsWriter().write(
            [
                .init(name: "input_ids", int64: batch.ids.map(Int64.init), shape: [2, 24]),
                .init(name: "aux_hidden_states", tensor: batch.auxiliary.reshaped([2, 24, 192])),
                .init(
                    name: "attention_mask", int64: (0..<48).map { Int64($0 % 24 < batch.lengths[$0 / 24] ? 1 : 0) },
                    shape: [2, 24]),
            ], to: root.appendingPathComponent("inputs.safetensors"))
    }
}
