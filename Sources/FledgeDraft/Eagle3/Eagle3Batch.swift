import FledgeNN
import FledgeTensor

/// One training batch for an EAGLE-3 draft: tokens, masks and the target's outputs.
///
/// Rows are right-padded to `length`; `lengths[b]` tokens of row b are real.
public struct Eagle3Batch {
    /// Where the target's next-token distribution comes from.
    public enum Target {
        /// Full target logits `[B·T, V]`.
        case logits(Tensor)
        /// The target's final-norm hidden state `[B·T, H]` and its head `[V, H]`.
        case hidden(Tensor, head: Tensor)
        /// The same with a head kept as quantised blocks (integer products, as the target's own).
        case hiddenQuantizedHead(Tensor, head: QuantizedMatrix)
    }

    public var batch: Int
    public var length: Int
    public var lengths: [Int]
    /// `[B·T]` token ids.
    public var ids: [Int32]
    /// `[B·T]` loss mask (1 = assistant token).
    public var lossMask: [UInt8]
    /// `[B·T, 3H]` fused target features (low | mid | high).
    public var auxiliary: Tensor
    public var target: Target

    public init(
        batch: Int, length: Int, lengths: [Int], ids: [Int32], lossMask: [UInt8], auxiliary: Tensor, target: Target
    ) {
        precondition(
            ids.count == batch * length && lossMask.count == batch * length && lengths.count == batch,
            "batch shapes disagree")
        self.batch = batch
        self.length = length
        self.lengths = lengths
        self.ids = ids
        self.lossMask = lossMask
        self.auxiliary = auxiliary
        self.target = target
    }
}

/// Per-step metrics of one training-time-test pass (docs/design.md §2.6, §2.7).
public struct Eagle3Metrics: Sendable, Codable, Equatable {
    /// Unweighted loss of each step: −mean over B·T of pm·Σ p·log q.
    public var losses: [Float]
    /// Σ_k decay^k · loss_k.
    public var total: Float
    /// Correct predictions per step among positions with pm = 1 (numerators and the
    /// denominators of the official accuracy, Σ shifted loss mask), for exact aggregation.
    public var correct: [Int]
    public var lossMaskCount: [Int]
    /// Positions with pm = 1 per step, and those among them whose earlier steps were all correct.
    public var positionCount: [Int]
    public var conditionalCorrect: [Int]
    public var conditionalCount: [Int]

    /// Official accuracy per step: correct / (Σ lm + 1e-6).
    public var accuracies: [Float] { zip(correct, lossMaskCount).map { Float(Double($0) / (Double($1) + 1e-6)) } }

    /// Accuracy of step k among positions where steps 0..<k were all correct (speculators' cond_acc).
    public var conditionalAccuracies: [Float] {
        zip(conditionalCorrect, conditionalCount).map { Float(Double($0) / (Double($1) + 1e-6)) }
    }

    /// Sums the counts of two batches (losses and totals weighted by `weight`).
    public mutating func accumulate(_ other: Eagle3Metrics, weight: Float = 1) {
        if losses.isEmpty {
            self = other
            losses = other.losses.map { $0 * weight }
            total = other.total * weight
            return
        }
        for k in losses.indices {
            losses[k] += other.losses[k] * weight
            correct[k] += other.correct[k]
            lossMaskCount[k] += other.lossMaskCount[k]
            positionCount[k] += other.positionCount[k]
            conditionalCorrect[k] += other.conditionalCorrect[k]
            conditionalCount[k] += other.conditionalCount[k]
        }
        total += other.total * weight
    }

    public static let empty = Eagle3Metrics(
        losses: [], total: 0, correct: [], lossMaskCount: [], positionCount: [], conditionalCorrect: [],
        conditionalCount: [])
}
