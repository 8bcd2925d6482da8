import Foundation
import FledgeData
import FledgeDraft
import FledgeNN
import FledgeTensor

/// EAGLE-1 (eagle-spec.md §1) behind the ``DraftAlgorithm`` interface.
///
/// Metrics: `loss` (v_w·vloss + p_w·ploss), `vloss`, `ploss`, `acc/0` (top-1 of the next token
/// through the target head; the reporting position) and `top2`/`top3`. On the eval split also
/// the chained k-step accuracies of ``Eagle1ChainAccuracy`` (`acc/k`, `cond_acc/k` for
/// k < `chainSteps`) and `tau` = 1 + Σₖ Πⱼ≤ₖ cond_acc/j, the acceptance length of a chain of
/// that many steps; training records have `tau` = 1 + acc/0 (one step).
public final class Eagle1Algorithm: DraftAlgorithm {
    public static let name = "eagle1"
    public let draft: Eagle1Draft
    let trainer: Eagle1Trainer
    let vWeight: Float
    let pWeight: Float
    /// Input-feature noise `U[low, high)·512/T` during training (§1.4); nil: none.
    let noise: ClosedRange<Float>?
    let noiseBuffer: Tensor
    let chain: Eagle1ChainAccuracy

    public init(draft: Eagle1Draft, maxBatch: Int, maxLength: Int, vWeight: Float = 1, pWeight: Float = 0.1, noise: ClosedRange<Float>? = -0.1...0.1,
                chainSteps: Int = 7) {
        self.draft = draft
        self.vWeight = vWeight
        self.pWeight = pWeight
        self.noise = noise
        trainer = Eagle1Trainer(draft: draft, maxBatch: maxBatch, maxLength: maxLength)
        noiseBuffer = Tensor(zeros: [maxBatch * maxLength * draft.configuration.hiddenSize])
        chain = Eagle1ChainAccuracy(draft: draft, steps: chainSteps, maxLength: maxLength)
    }

    public var parameters: ParameterSet { draft.parameters }
    public var d2t: [Int64] { [] }
    public var t2d: [Bool] { [] }
    public var maxBatch: Int { trainer.maxBatch }
    public var maxLength: Int { trainer.maxLength }
    public var activationBytes: Int { trainer.activationBytes + noiseBuffer.count * 4 }
    /// The official recipe (eagle-spec.md §1.5): element-wise clipping at 0.5, no norm clipping.
    public var defaultGradientNormLimit: Float { .infinity }
    public var defaultGradientValueLimit: Float? { 0.5 }

    /// Σ mask + 1e-5 over the positions with a next token (eagle-spec.md §1.3).
    public func lossDenominator(_ samples: [TokenizedSample]) -> Double {
        Double(samples.reduce(0) { total, sample in total + sample.lossMask.dropLast().reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }) + 1e-5
    }

    public func step(_ features: TargetFeatures, scale: Float, train: Bool, context: StepContext) -> DraftMetrics {
        let batch = Eagle1Batch(batch: features.batch, length: features.length, lengths: features.lengths, ids: features.ids,
                                lossMask: features.lossMask, features: features.lastHidden)
        var noisePointer: UnsafePointer<Float>? = nil
        if train, let noise {
            // Fresh noise at every step (a batch seen again in a later epoch gets new noise); a
            // resumed run draws the same noise as a straight one (the seed is the step's), and a
            // row the same noise on any rank and under any padding (a generator per row).
            let h = draft.configuration.hiddenSize
            let amplitude = 512 / Float(context.paddedLength)  // the whole micro-batch's T, as on one rank
            for row in 0..<features.batch {
                var generator = SeededGenerator(seed: context.seed ^ (UInt64(context.firstRow + row) &* 0xD1B5_4A32_D192_ED03))
                let rowNoise = noiseBuffer.pointer + row * features.length * h
                generator.fillUniform(Tensor(viewing: rowNoise, shape: [features.lengths[row] * h], owner: noiseBuffer),
                                      low: noise.lowerBound * amplitude, high: noise.upperBound * amplitude)
                (rowNoise + features.lengths[row] * h).update(repeating: 0, count: (features.length - features.lengths[row]) * h)
            }
            noisePointer = UnsafePointer(noiseBuffer.pointer)
        }
        let result = trainer.step(batch, vWeight: vWeight, pWeight: pWeight, noise: noisePointer, scale: scale, train: train)
        var metrics = DraftMetrics()
        metrics.addMean("loss", Double(result.total))
        metrics.addMean("vloss", Double(result.vloss))
        metrics.addMean("ploss", Double(result.ploss))
        metrics.add("acc/0", Double(result.correct[0]), count: Double(result.count))
        metrics.add("top2", Double(result.correct[1]), count: Double(result.count))
        metrics.add("top3", Double(result.correct[2]), count: Double(result.count))
        metrics.add("tokens", Double(features.lengths.reduce(0, +)), count: 1)
        if !train {
            var counts = Eagle1ChainAccuracy.Counts(steps: chain.steps)
            for row in 0..<features.batch {
                let start = row * features.length, end = start + features.lengths[row]
                counts.merge(chain.evaluate(ids: features.ids[start..<end], lossMask: features.lossMask[start..<end],
                                            features: features.lastHidden.pointer + start * draft.configuration.hiddenSize, length: features.lengths[row]))
            }
            for k in 0..<chain.steps {
                if k > 0 { metrics.add("acc/\(k)", Double(counts.correct[k]), count: Double(counts.count[k])) }
                metrics.add("cond_acc/\(k)", Double(counts.conditionalCorrect[k]), count: Double(counts.conditionalCount[k]))
            }
        }
        return metrics
    }

    public func summarize(_ metrics: DraftMetrics) -> [String: Double] {
        var values = metrics.values
        values["tokens"] = metrics.sums["tokens"]
        if values["cond_acc/0"] != nil {
            var product = 1.0, tau = 1.0
            for k in 0..<chain.steps {
                product *= values["cond_acc/\(k)"] ?? 0
                tau += product
            }
            values["tau"] = tau
        } else {
            values["tau"] = 1 + (values["acc/0"] ?? 0)
        }
        return values
    }

    /// `eagle` (what training writes) means the vLLM layout for a bias-free draft, else SGLang's.
    public func export(to directory: URL, format: String, target: Eagle3Export.TargetInfo) throws {
        try LoadedDraft.eagle1(draft).export(to: directory, format: format, target: target)
    }
}
