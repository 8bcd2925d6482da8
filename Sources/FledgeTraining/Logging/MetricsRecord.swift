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

/// A destination for metrics records (JSONL file, TensorBoard events, several at once).
public protocol MetricsLogger: AnyObject {
    /// Writes one record; the record is on disk when this returns.
    /// - Throws: `TrainingError` naming the file when the write fails.
    func log(_ record: MetricsRecord) throws
    /// Closes the underlying files; later `log` calls throw.
    func close() throws
}

/// Fans every record out to several loggers, in order.
public final class CompositeLogger: MetricsLogger {
    /// The loggers, called in this order.
    public let loggers: [any MetricsLogger]

    /// Creates a logger that forwards to `loggers`.
    public init(_ loggers: [any MetricsLogger]) {
        self.loggers = loggers
    }

    /// Logs to every logger; throws the first error after trying all of them.
    public func log(_ record: MetricsRecord) throws {
        try forEach { try $0.log(record) }
    }

    /// Closes every logger; throws the first error after trying all of them.
    public func close() throws {
        try forEach { try $0.close() }
    }

    private func forEach(_ body: (any MetricsLogger) throws -> Void) throws {
        var firstError: (any Error)?
        for logger in loggers {
            do { try body(logger) } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
    }
}
