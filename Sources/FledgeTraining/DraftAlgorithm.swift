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
    /// `seed` is unique to this optimiser step and micro-batch (and restored on resume), for
    /// algorithms that draw random numbers while training.
    func step(_ features: TargetFeatures, scale: Float, train: Bool, seed: UInt64) -> DraftMetrics
    /// Derived metrics for a log record (e.g. τ from conditional accuracies).
    func summarize(_ metrics: DraftMetrics) -> [String: Double]
    /// Writes the deployable draft.
    func export(to directory: URL, format: String, target: Eagle3Export.TargetInfo) throws
}
