import Foundation
import FledgeTensor

/// One micro-batch for EAGLE-1: token ids and the target's final-norm features, per position.
public struct Eagle1Batch {
    public var batch: Int
    public var length: Int
    /// Real tokens per row (the rest is padding).
    public var lengths: [Int]
    /// `[B·T]` token ids.
    public var ids: [Int32]
    /// `[B·T]` loss mask (1 = assistant token).
    public var lossMask: [UInt8]
    /// `[B·T, H]` the target's top feature (post final norm), zero on padding.
    public var features: Tensor

    public init(batch: Int, length: Int, lengths: [Int], ids: [Int32], lossMask: [UInt8], features: Tensor) {
        precondition(
            ids.count == batch * length && lossMask.count == batch * length && lengths.count == batch,
            "EAGLE-1 batch sizes")
        self.batch = batch
        self.length = length
        self.lengths = lengths
        self.ids = ids
        self.lossMask = lossMask
        self.features = features
    }
}

/// The losses and metrics of one EAGLE-1 micro-batch (docs/design.md §3.3, §3.6).
public struct Eagle1Metrics: Sendable {
    /// SmoothL1 regression of the next feature (mean over H, masked, ÷ (Σm + 1e-5)).
    public var vloss: Float
    /// Soft cross-entropy through the target head (same normalisation).
    public var ploss: Float
    /// `v_w·vloss + p_w·ploss`.
    public var total: Float
    /// Masked positions whose target token (argmax of the target head on the next feature) is
    /// in the draft's top 1, 2, 3.
    public var correct: [Int]
    /// Masked positions.
    public var count: Int
}
