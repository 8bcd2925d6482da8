import Foundation
import FledgeNN
import FledgeTensor

/// The resumable state of a run besides the tensors (`state.json`, format `fledge-checkpoint` v1).
public struct TrainingState: Codable, Sendable, Equatable {
    public var format = "fledge-checkpoint"
    public var version = 1
    public var method: String
    /// Optimizer steps taken.
    public var step: Int
    /// The epoch in progress and the next micro-batch in its order.
    public var epoch: Int
    public var batchInEpoch: Int
    public var optimizer: AdamW
    /// Fingerprint of everything that fixes the data order and shapes (seed, data, batching).
    public var dataFingerprint: String
    public var bestTau: Float?
    public var bestStep: Int?
    /// The draft's target feature layers when they are not its method's defaults.
    public var featureLayers: [Int]?
    /// The arithmetic of the products (absent in checkpoints of fp32 runs before it was recorded).
    public var precision: Precision?
}
