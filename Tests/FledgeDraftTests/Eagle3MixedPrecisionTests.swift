import Foundation
import Testing
@testable import FledgeDraft
import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// The bf16 (mixed precision) EAGLE-3 step against the PyTorch reference under
/// `torch.autocast(bfloat16)` (Scripts/reference/make_eagle3_bf16_fixtures.py), and its
/// gradients against Fledge's own fp32 step. Runs where the CPU has AVX-512 BF16 and oneDNN.
@Suite(.enabled(if: BFloat16.support.available, "bf16 products unavailable: \(BFloat16.support.reason)"))
struct Eagle3MixedPrecisionTests {
    let reference: Eagle3ReferenceTests
    let autocast: FixtureSet

    init() throws {
        reference = try Eagle3ReferenceTests()
        let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        autocast = try FixtureSet(directory: url.appendingPathComponent("eagle3-bf16"))
    }

    /// Cosine similarity of two tensors (in Double).
    static func cosine(_ a: Tensor, _ b: Tensor) -> Double {
        var (dot, aa, bb) = (0.0, 0.0, 0.0)
        for i in 0..<a.count {
            let (x, y) = (Double(a.pointer[i]), Double(b.pointer[i]))
            dot += x * y
            aa += x * x
            bb += y * y
        }
        return dot / (aa.squareRoot() * bb.squareRoot())
    }

    /// One step's metrics and gradients in `precision`.
    func step(_ precision: Precision) throws -> (Eagle3Metrics, [String: Tensor]) {
        let (trainer, batch) = try reference.makeTrainer(precision: precision)
        trainer.draft.parameters.zeroGradients()
        let metrics = trainer.step(batch, decay: 0.8)
        var gradients: [String: Tensor] = [:]
        for (name, _) in trainer.draft.configuration.parameterShapes {
            let values = trainer.draft.parameters.gradient(name).values
            gradients[name] = Tensor(values, shape: [values.count])
        }
        return (metrics, gradients)
    }

    /// Losses within 2·10⁻³ (relative) of autocast's; every gradient's cosine similarity to
    /// autocast's ≥ 0.9995 (autocast vs PyTorch's own fp32: ≥ 0.99994, in the fixture's meta).
    @Test func matchesTheAutocastReference() throws {
        let (metrics, gradients) = try step(.bf16)
        let losses = compare(
            "bf16 loss", Tensor(metrics.losses, shape: [7]), try autocast.tensor("loss"), atol: 0, rtol: 2e-3)
        #expect(losses.passed, "\(losses)")
        let total = compare(
            "bf16 total", Tensor([metrics.total], shape: [1]), try autocast.tensor("total_loss"), atol: 0, rtol: 2e-3)
        #expect(total.passed, "\(total)")
        for (name, gradient) in gradients {
            let similarity = Self.cosine(gradient, try autocast.tensor("grad." + name))
            #expect(similarity >= 0.9995, "grad \(name): cosine \(similarity) to autocast")
        }
    }

    /// bf16 gradients point where fp32's do (cosine ≥ 0.9995 per tensor) but are not fp32's:
    /// the products really ran on rounded operands.
    @Test func gradientsAgreeWithFloat32() throws {
        let (bf16Metrics, bf16) = try step(.bf16)
        let (fp32Metrics, fp32) = try step(.fp32)
        var identical = true
        for (name, gradient) in bf16 {
            let similarity = Self.cosine(gradient, fp32[name]!)
            #expect(similarity >= 0.9995, "grad \(name): cosine \(similarity) to fp32")
            if gradient.values != fp32[name]!.values { identical = false }
        }
        #expect(!identical, "bf16 gradients equal fp32's bit for bit: the bf16 products did not run")
        #expect(abs(bf16Metrics.total - fp32Metrics.total) < 1e-2 * fp32Metrics.total)
    }

    /// Two bf16 runs of the same steps end with the same bits (resume relies on it).
    @Test func bf16StepsAreDeterministic() throws {
        func train() throws -> [Float] {
            let (trainer, batch) = try reference.makeTrainer(precision: .bf16)
            let parameters = trainer.draft.parameters
            var optimizer = AdamW(learningRate: 1e-3)
            for _ in 0..<3 {
                parameters.zeroGradients()
                _ = trainer.step(batch, decay: 0.8)
                GradientClipping.clip(parameters.gradients.pointer, count: parameters.count, maxNorm: 0.5)
                optimizer.update(parameters)
            }
            return parameters.parameters.values
        }
        #expect(try train() == train())
    }
}

/// The bf16 EAGLE-1 step against the reference under `torch.autocast(bfloat16)`
/// (Scripts/reference/make_eagle1_bf16_fixtures.py) and against Fledge's fp32 step.
@Suite(.enabled(if: BFloat16.support.available, "bf16 products unavailable: \(BFloat16.support.reason)"))
struct Eagle1MixedPrecisionTests {
    let reference: Eagle1ReferenceTests
    let autocast: FixtureSet

    init() throws {
        reference = try Eagle1ReferenceTests()
        let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        autocast = try FixtureSet(directory: url.appendingPathComponent("eagle1-bf16"))
    }

    func step(_ precision: Precision) throws -> (Eagle1Metrics, [String: Tensor]) {
        let (trainer, batch) = try reference.makeTrainer(precision: precision)
        trainer.draft.parameters.zeroGradients()
        let metrics = trainer.step(batch)
        var gradients: [String: Tensor] = [:]
        for (name, _) in trainer.draft.configuration.parameterShapes {
            let values = trainer.draft.parameters.gradient(name).values
            gradients[name] = Tensor(values, shape: [values.count])
        }
        return (metrics, gradients)
    }

    /// Losses within 1 % of autocast's (its ploss is summed in bf16: 6.1875 against fp32's
    /// 6.1662); gradient cosine ≥ 0.999 to autocast's and to Fledge's fp32 gradients.
    @Test func matchesAutocastAndFloat32() throws {
        let (metrics, gradients) = try step(.bf16)
        let (_, fp32) = try step(.fp32)
        for (name, value) in [("vloss", metrics.vloss), ("ploss", metrics.ploss), ("total_loss", metrics.total)] {
            let report = compare(name, Tensor([value], shape: [1]), try autocast.tensor(name), atol: 0, rtol: 1e-2)
            #expect(report.passed, "\(report)")
        }
        var identical = true
        for (name, gradient) in gradients {
            let toAutocast = Eagle3MixedPrecisionTests.cosine(gradient, try autocast.tensor("grad." + name))
            let toFloat32 = Eagle3MixedPrecisionTests.cosine(gradient, fp32[name]!)
            #expect(toAutocast >= 0.999, "grad \(name): cosine \(toAutocast) to autocast")
            #expect(toFloat32 >= 0.999, "grad \(name): cosine \(toFloat32) to fp32")
            if gradient.values != fp32[name]!.values { identical = false }
        }
        #expect(!identical, "bf16 gradients equal fp32's bit for bit: the bf16 products did not run")
    }
}
