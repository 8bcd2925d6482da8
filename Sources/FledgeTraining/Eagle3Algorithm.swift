import Foundation
import FledgeData
import FledgeDraft
import FledgeNN
import FledgeTensor

/// EAGLE-3 (eagle-spec.md §2–§3) behind the ``DraftAlgorithm`` interface.
public final class Eagle3Algorithm: DraftAlgorithm {
    public static let name = "eagle3"
    public let draft: Eagle3Draft
    let trainer: Eagle3Trainer
    let targetHead: Tensor
    let decay: Float

    /// - Parameter targetHead: the target's `lm_head` `[V, H]` (its logits are the labels).
    public init(draft: Eagle3Draft, targetHead: Tensor, maxBatch: Int, maxLength: Int, steps: Int, decay: Float) {
        self.draft = draft
        self.targetHead = targetHead
        self.decay = decay
        trainer = Eagle3Trainer(draft: draft, maxBatch: maxBatch, maxLength: maxLength, steps: steps)
    }

    public var parameters: ParameterSet { draft.parameters }
    public var d2t: [Int64] { draft.d2t }
    public var t2d: [Bool] { draft.t2d }
    public var maxBatch: Int { trainer.maxBatch }
    public var maxLength: Int { trainer.maxLength }
    /// Bytes of planned activation memory.
    public var activationBytes: Int { trainer.activationBytes }
    /// eagle-spec.md §6: global norm 0.5.
    public var defaultGradientNormLimit: Float { 0.5 }
    public var defaultGradientValueLimit: Float? { nil }

    /// B·T: the soft cross-entropy is averaged over every (padded) position (eagle-spec.md §3.3).
    public func lossDenominator(_ samples: [TokenizedSample]) -> Double {
        Double(samples.count * (samples.map(\.ids.count).max() ?? 0))
    }

    public func step(_ features: TargetFeatures, scale: Float, train: Bool, context: StepContext) -> DraftMetrics {
        let batch = Eagle3Batch(batch: features.batch, length: features.length, lengths: features.lengths, ids: features.ids,
                                lossMask: features.lossMask, auxiliary: features.auxiliary, target: .hidden(features.lastHidden, head: targetHead))
        let result = trainer.step(batch, decay: decay, scale: scale, train: train)
        var metrics = DraftMetrics()
        metrics.addMean("loss", Double(result.total))
        for k in result.losses.indices {
            metrics.addMean("loss/\(k)", Double(result.losses[k]))
            metrics.add("acc/\(k)", Double(result.correct[k]), count: Double(result.lossMaskCount[k]))
            metrics.add("cond_acc/\(k)", Double(result.conditionalCorrect[k]), count: Double(result.conditionalCount[k]))
        }
        metrics.add("tokens", Double(features.lengths.reduce(0, +)), count: 1)
        return metrics
    }

    public func summarize(_ metrics: DraftMetrics) -> [String: Double] {
        var values = metrics.values
        values["tokens"] = metrics.sums["tokens"]
        var product = 1.0, tau = 1.0
        for k in 0..<trainer.steps {
            product *= values["cond_acc/\(k)"] ?? 0
            tau += product
        }
        values["tau"] = tau
        return values
    }

    public func export(to directory: URL, format: String, target: Eagle3Export.TargetInfo) throws {
        try LoadedDraft.eagle3(draft).export(to: directory, format: format, target: target)
    }
}
