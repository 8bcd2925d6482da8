import Foundation

/// One logged record: a training step or an evaluation.
///
/// `values` holds the scalars under their canonical names: `loss`, `loss/0`…`loss/6` (per TTT
/// position), `acc/0`…, `cond_acc/0`…, `tau`, `lr`, `grad_norm`, `tokens_per_second`. Loggers
/// write keys in sorted order, so the same records always give the same bytes.
public struct MetricsRecord: Codable, Sendable, Equatable {
    /// `"train"` or `"eval"`.
    public var kind: String
    /// The optimizer step (the number of updates applied so far).
    public var step: Int
    /// Fractional epoch.
    public var epoch: Double
    /// Scalars by name, e.g. `"loss"`, `"acc/0"`, `"lr"`.
    public var values: [String: Double]
    /// Seconds since the run started (continued across resumes by the trainer).
    public var time: Double

    private enum CodingKeys: String, CodingKey {
        case kind, step, epoch, values, time
    }

    /// Creates a record.
    public init(kind: String, step: Int, epoch: Double, values: [String: Double], time: Double) {
        self.kind = kind
        self.step = step
        self.epoch = epoch
        self.values = values
        self.time = time
    }

    /// The per-position series present in `values` for `prefix` (e.g. `"acc"` → `acc/0`, `acc/1`, …),
    /// ordered by position; stops at the first missing position.
    public func positions(_ prefix: String) -> [Double] {
        var result: [Double] = []
        while let value = values["\(prefix)/\(result.count)"] { result.append(value) }
        return result
    }
}
