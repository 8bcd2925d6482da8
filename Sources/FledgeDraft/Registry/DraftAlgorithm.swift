import Foundation
import FledgeData
import FledgeNN
import FledgeTensor
import FledgeWeights

/// Metrics as additive (sum, count) pairs, so micro-batches, steps and evaluation batches
/// combine exactly; `values` divides them out.
///
/// Losses are means over a micro-batch (`addMean`): when ranks share a micro-batch, each
/// contributes its loss weighted by its share of the loss's denominator and the micro-batch is
/// counted once (``shard(weight:countsMicroBatch:)``), so the sum over ranks is the loss of the
/// whole micro-batch.
public struct DraftMetrics: Sendable, Equatable {
    public var sums: [String: Double] = [:]
    public var counts: [String: Double] = [:]
    /// The keys that are per-micro-batch means.
    public var means: Set<String> = []

    public init() {}

    public mutating func add(_ key: String, _ sum: Double, count: Double = 1) {
        sums[key, default: 0] += sum
        counts[key, default: 0] += count
    }

    /// A per-micro-batch mean (a loss).
    public mutating func addMean(_ key: String, _ value: Double) {
        add(key, value)
        means.insert(key)
    }

    public mutating func merge(_ other: DraftMetrics) {
        for (key, value) in other.sums { sums[key, default: 0] += value }
        for (key, value) in other.counts { counts[key, default: 0] += value }
        means.formUnion(other.means)
    }

    /// This rank's part of a shared micro-batch: means × `weight` (its share of the loss
    /// denominator), counted only where `countsMicroBatch` (one rank per micro-batch).
    public mutating func shard(weight: Double, countsMicroBatch: Bool) {
        for key in means {
            sums[key]? *= weight
            if !countsMicroBatch { counts[key] = 0 }
        }
    }

    public var values: [String: Double] {
        var result: [String: Double] = [:]
        for (key, sum) in sums { result[key] = sum / max(counts[key] ?? 1, 1e-12) }
        return result
    }
}

/// Where a micro-batch (or a rank's slice of one) sits in the run.
public struct StepContext: Sendable {
    /// Unique to the optimiser step and micro-batch, and restored on resume: for algorithms
    /// that draw random numbers while training (draws depend on (seed, row), so a row gets the
    /// same numbers on any rank).
    public var seed: UInt64
    /// The micro-batch row of the features' row 0 (a rank holds a slice).
    public var firstRow: Int
    /// The padded length of the whole micro-batch (the features' own length on one rank).
    public var paddedLength: Int

    public init(seed: UInt64 = 0, firstRow: Int = 0, paddedLength: Int) {
        self.seed = seed
        self.firstRow = firstRow
        self.paddedLength = paddedLength
    }
}

/// A draft method's training step, as the trainer runs it without knowing which method it is
/// (docs/design.md §1.3–§1.4: the trainer, checkpoints, logging and MPI never branch on the method).
/// Built by the method's registry entry (``DraftMethod/makeTraining(_:)``).
public protocol DraftAlgorithm: AnyObject {
    /// The registry entry that built it.
    var method: any DraftMethod { get }
    /// The draft being trained, as inference and export see it.
    var draft: any LoadedDraft { get }
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
    /// The arithmetic of the draft's products.
    var precision: Precision { get }
    /// The method's own clipping when the configuration sets none: a global gradient-norm
    /// limit (infinity: none) and an element-wise one (nil: none).
    var defaultGradientNormLimit: Float { get }
    var defaultGradientValueLimit: Float? { get }
    /// The denominator of the loss of a micro-batch of these samples (padded to their longest):
    /// a rank holding part of a micro-batch scales its gradient by its part's denominator over
    /// the whole's, so that N ranks × b rows train as one rank with N·b rows.
    func lossDenominator(_ samples: [TokenizedSample]) -> Double
    /// Forward (and with `train`, backward accumulating `scale`·gradient) on one micro-batch.
    func step(_ features: TargetFeatures, scale: Float, train: Bool, context: StepContext) -> DraftMetrics
    /// Derived metrics for a log record (e.g. τ from conditional accuracies).
    func summarize(_ metrics: DraftMetrics) -> [String: Double]
}

extension DraftAlgorithm {
    /// The target layers the draft reads, when they differ from its method's defaults.
    public var featureLayers: [Int]? { draft.featureLayers }
    /// fp32 unless a method runs its products in bf16.
    public var precision: Precision { .fp32 }

    /// Writes the deployable draft (the layout names of ``DraftMethod/exportFormats``).
    public func export(to directory: URL, format: String, target: Eagle3Export.TargetInfo, dtype: DType = .bf16) throws
    {
        try draft.export(to: directory, format: format, target: target, dtype: dtype)
    }
}
