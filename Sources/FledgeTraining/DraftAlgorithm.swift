import Foundation
import FledgeData
import FledgeDraft
import FledgeNN
import FledgeTensor

/// Metrics as additive (sum, count) pairs, so micro-batches, steps and evaluation batches
/// combine exactly; `values` divides them out.
public struct DraftMetrics: Sendable, Equatable {
    public var sums: [String: Double] = [:]
    public var counts: [String: Double] = [:]

    public init() {}

    public mutating func add(_ key: String, _ sum: Double, count: Double = 1) {
        sums[key, default: 0] += sum
        counts[key, default: 0] += count
    }

    public mutating func merge(_ other: DraftMetrics) {
        for (key, value) in other.sums { sums[key, default: 0] += value }
        for (key, value) in other.counts { counts[key, default: 0] += value }
    }

    public var values: [String: Double] {
        var result: [String: Double] = [:]
        for (key, sum) in sums { result[key] = sum / max(counts[key] ?? 1, 1e-12) }
        return result
    }
}

/// A draft method the trainer can run without knowing which one it is (architecture.md:
/// the trainer, checkpoints, logging and MPI never branch on the method).
public protocol DraftAlgorithm: AnyObject {
    /// The registry name (`--method`).
    static var name: String { get }
    /// Every trainable tensor, in export order, as flat buffers.
    var parameters: ParameterSet { get }
    /// Tensors stored with checkpoints besides the parameters (e.g. the vocabulary maps).
    var d2t: [Int64] { get }
    var t2d: [Bool] { get }
    /// The largest micro-batch the algorithm planned memory for.
    var maxBatch: Int { get }
    var maxLength: Int { get }
    /// Bytes of planned activation memory.
    var activationBytes: Int { get }
    /// The method's own clipping when the configuration sets none: a global gradient-norm
    /// limit (infinity: none) and an element-wise one (nil: none).
    var defaultGradientNormLimit: Float { get }
    var defaultGradientValueLimit: Float? { get }
    /// Forward (and with `train`, backward accumulating `scale`·gradient) on one micro-batch.
    func step(_ features: TargetFeatures, scale: Float, train: Bool) -> DraftMetrics
    /// Derived metrics for a log record (e.g. τ from conditional accuracies).
    func summarize(_ metrics: DraftMetrics) -> [String: Double]
    /// Writes the deployable draft.
    func export(to directory: URL, format: String, target: Eagle3Export.TargetInfo) throws
}

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

    public func step(_ features: TargetFeatures, scale: Float, train: Bool) -> DraftMetrics {
        let batch = Eagle3Batch(batch: features.batch, length: features.length, lengths: features.lengths, ids: features.ids,
                                lossMask: features.lossMask, auxiliary: features.auxiliary, target: .hidden(features.lastHidden, head: targetHead))
        let result = trainer.step(batch, decay: decay, scale: scale, train: train)
        var metrics = DraftMetrics()
        metrics.add("loss", Double(result.total))
        for k in result.losses.indices {
            metrics.add("loss/\(k)", Double(result.losses[k]))
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
        guard let kind = Eagle3Export.Format(rawValue: format) else {
            throw TrainingError("unknown export format \(format)", hint: "eagle or speculators")
        }
        try Eagle3Export.write(draft, format: kind, to: directory, target: target)
    }
}
