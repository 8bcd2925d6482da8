import Foundation

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
