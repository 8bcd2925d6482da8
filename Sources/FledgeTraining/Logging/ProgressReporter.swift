import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The terminal progress line of a training run:
/// `step 120/1000 | 5.2 s/step | 412 tok/s | loss 3.21 | acc 0.61 0.44 0.31 | τ 2.10 | lr 9.8e-5 | ETA 1h12m`.
///
/// On a terminal the line is redrawn in place (`\r` + clear to end of line); otherwise a plain line
/// is emitted every `plainInterval` steps and at the last step, so logs stay readable. Seconds per
/// step are measured from the records' `time` since the first record this reporter saw (a resumed
/// run does not count the time before the restart). The text goes to `write` (standard error by
/// default); `line(...)` is the pure formatting function.
public struct ProgressReporter {
    /// The step the run ends at.
    public var totalSteps: Int
    /// Without a terminal, print one line every this many steps.
    public var plainInterval: Int
    /// Whether to redraw in place.
    public var isTerminal: Bool
    private let write: (String) -> Void
    private var origin: (step: Int, time: Double)?

    /// Creates a reporter.
    /// - Parameters:
    ///   - isTerminal: defaults to whether standard error is a TTY.
    ///   - write: receives the text to emit (defaults to standard error).
    public init(
        totalSteps: Int, plainInterval: Int = 10, isTerminal: Bool = ProgressReporter.standardErrorIsTerminal,
        write: @escaping (String) -> Void = ProgressReporter.writeToStandardError
    ) {
        self.totalSteps = totalSteps
        self.plainInterval = max(plainInterval, 1)
        self.isTerminal = isTerminal
        self.write = write
    }

    /// Whether standard error is a terminal.
    public static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    /// Writes `text` to standard error.
    public static func writeToStandardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Reports a training record (eval records are ignored: they have their own summary).
    public mutating func report(_ record: MetricsRecord) {
        if let text = text(for: record) { write(text) }
    }

    /// Ends the in-place line with a newline (on a terminal), e.g. before other output or at the end.
    public func finish() {
        if isTerminal { write("\n") }
    }

    /// What `report` writes for `record`, or nil when nothing is due.
    public mutating func text(for record: MetricsRecord) -> String? {
        guard record.kind == "train" else { return nil }
        guard let origin else {
            self.origin = (record.step, record.time)
            return emit(record, secondsPerStep: nil)
        }
        let steps = record.step - origin.step
        let secondsPerStep = steps > 0 ? (record.time - origin.time) / Double(steps) : nil
        return emit(record, secondsPerStep: secondsPerStep)
    }

    private func emit(_ record: MetricsRecord, secondsPerStep: Double?) -> String? {
        let line = Self.line(
            step: record.step, totalSteps: totalSteps, secondsPerStep: secondsPerStep, values: record.values)
        if isTerminal { return "\r" + line + "\u{1B}[K" }
        guard record.step % plainInterval == 0 || record.step >= totalSteps else { return nil }
        return line + "\n"
    }

    /// The progress line for `values` (keys as in `MetricsRecord`); absent fields are left out.
    /// The ETA is `(totalSteps - step) × secondsPerStep`.
    public static func line(step: Int, totalSteps: Int, secondsPerStep: Double?, values: [String: Double]) -> String {
        var fields = ["step \(step)/\(totalSteps)"]
        if let secondsPerStep { fields.append("\(formatSignificant(secondsPerStep)) s/step") }
        if let tokens = values["tokens_per_second"] { fields.append("\(formatCount(tokens)) tok/s") }
        if let loss = values["loss"] { fields.append("loss \(formatSignificant(loss))") }
        let accuracies = MetricsRecord(kind: "train", step: step, epoch: 0, values: values, time: 0).positions("acc")
        if !accuracies.isEmpty {
            fields.append("acc " + accuracies.map { format($0, decimals: 2) }.joined(separator: " "))
        }
        if let tau = values["tau"] { fields.append("τ \(format(tau, decimals: 2))") }
        if let rate = values["lr"] { fields.append("lr \(formatScientific(rate))") }
        if let secondsPerStep, step <= totalSteps {
            fields.append("ETA \(formatDuration(Double(totalSteps - step) * secondsPerStep))")
        }
        return fields.joined(separator: " | ")
    }

    /// A duration as `42s`, `12m05s`, `1h12m` or `2d03h`.
    public static func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let total = Int(max(seconds, 0).rounded())
        switch total {
        case ..<60: return "\(total)s"
        case ..<3600: return "\(total / 60)m" + twoDigits(total % 60) + "s"
        case ..<86400: return "\(total / 3600)h" + twoDigits(total % 3600 / 60) + "m"
        default: return "\(total / 86400)d" + twoDigits(total % 86400 / 3600) + "h"
        }
    }

    /// `9.8e-5` style: one decimal of mantissa, no exponent padding; `0` for zero.
    public static func formatScientific(_ value: Double) -> String {
        guard value != 0, value.isFinite else { return value == 0 ? "0" : "\(value)" }
        let text = String(format: "%.1e", value)  // e.g. 9.8e-05
        guard let e = text.firstIndex(of: "e") else { return text }
        let mantissa = text[..<e]
        let exponent = Int(text[text.index(after: e)...]) ?? 0
        return "\(mantissa)e\(exponent)"
    }

    /// Three significant digits, but never scientific notation for ordinary values (`3.21`, `12.3`, `0.0123`, `412`).
    static func formatSignificant(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        let magnitude = abs(value)
        if magnitude >= 100 || magnitude == 0 { return format(value, decimals: 0) }
        let decimals = 2 - Int(floor(log10(magnitude)))
        return format(value, decimals: min(decimals, 6))
    }

    /// A rate rounded to an integer (`412`).
    static func formatCount(_ value: Double) -> String {
        value.isFinite ? String(Int(value.rounded())) : "\(value)"
    }

    static func format(_ value: Double, decimals: Int) -> String {
        value.isFinite ? String(format: "%.\(decimals)f", value) : "\(value)"
    }

    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}
