import Foundation
import Testing
@testable import FledgeDraft
import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// The TTT backward against central differences of the TTT forward.
@Suite struct Eagle3GradientTests {
    static func tinySetup(steps: Int = 3, layers: Int = 1) -> (Eagle3Trainer, Eagle3Batch) {
        var configuration = Eagle3Configuration(
            hiddenSize: 32, headCount: 2, kvHeadCount: 1, headDimension: 16, intermediateSize: 48,
            vocabularySize: 40, draftVocabularySize: 24, maxPositions: 64)
        configuration.layerCount = layers
        var generator = SeededGenerator(seed: 21)
        let embedding = Tensor(zeros: [40, 32])
        generator.fillNormal(embedding, std: 0.5)
        // Draft vocabulary: every other id below 48 (so some target argmaxes fall outside it).
        let ids = (0..<40).filter { $0 % 5 != 1 }.prefix(24).map { $0 }
        var t2d = [Bool](repeating: false, count: 40)
        for id in ids { t2d[id] = true }
        let draft = Eagle3Draft(
            configuration: configuration, embedding: embedding,
            d2t: ids.enumerated().map { Int64($0.element - $0.offset) }, t2d: t2d)
        draft.initialize(seed: 5)
        for (name, shape) in configuration.parameterShapes where shape.count == 1 {
            generator.fillUniform(draft.parameters.parameter(name), low: 0.8, high: 1.2)
        }
        let (b, t) = (2, 10)
        let auxiliary = Tensor(zeros: [b * t, 96])
        generator.fillNormal(auxiliary)
        let logits = Tensor(zeros: [b * t, 40])
        generator.fillNormal(logits, std: 3)
        let tokens = (0..<(b * t)).map { _ in Int32(generator.next() % 40) }
        var mask = (0..<(b * t)).map { _ in UInt8(generator.next() % 4 == 0 ? 0 : 1) }
        for i in 7..<10 { mask[t + i] = 0 }
        let batch = Eagle3Batch(
            batch: b, length: t, lengths: [10, 7], ids: tokens, lossMask: mask, auxiliary: auxiliary,
            target: .logits(logits))
        return (Eagle3Trainer(draft: draft, maxBatch: b, maxLength: t, steps: steps), batch)
    }

    /// One layer, and three (the second and third standard pre-norm layers on the first's output).
    @Test(arguments: [1, 3]) func everyParameterGradientMatchesFiniteDifferences(layers: Int) {
        let (trainer, batch) = Self.tinySetup(layers: layers)
        let parameters = trainer.draft.parameters
        parameters.zeroGradients()
        let metrics = trainer.step(batch, decay: 0.8)
        #expect(metrics.total > 0 && metrics.losses.count == 3)
        let analytic = Tensor(zeros: parameters.gradients.shape)
        analytic.copy(from: parameters.gradients)
        let checker = GradientCheck(step: 1e-2, samples: 12)
        for (index, entry) in parameters.entries.enumerated() {
            let offset = parameters.offsets[index]
            let view = Tensor(
                viewing: parameters.parameters.pointer + offset, shape: entry.shape, owner: parameters.parameters)
            let gradient = Tensor(viewing: analytic.pointer + offset, shape: entry.shape, owner: analytic)
            let report = checker.check(entry.name, input: view, analytic: gradient) {
                parameters.zeroGradients()
                return Double(trainer.step(batch, decay: 0.8).total)
            }
            #expect(report.worstError < 1e-2, "\(report)")  // float32 forward: FD noise ~1e-4 of the loss scale
        }
    }

    @Test(arguments: [1, 2]) func stepsAreDeterministicAndAllocateNoTensors(layers: Int) {
        let (trainer, batch) = Self.tinySetup(layers: layers)
        trainer.draft.parameters.zeroGradients()
        let first = trainer.step(batch, decay: 0.8)
        let gradients = trainer.draft.parameters.gradients.values
        let allocations = Memory.threadAllocationCount
        trainer.draft.parameters.zeroGradients()
        let second = trainer.step(batch, decay: 0.8)
        #expect(Memory.threadAllocationCount == allocations)
        #expect(first == second)
        #expect(trainer.draft.parameters.gradients.values.map(\.bitPattern) == gradients.map(\.bitPattern))
    }
}
