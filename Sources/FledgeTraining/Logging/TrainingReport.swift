import Foundation

/// The end-of-run report: one self-contained `report.html` (inline CSS and SVG, no JavaScript,
/// no network) with plots of loss, accuracy per TTT position, learning rate and τ against the
/// optimizer step, τ and first-position accuracy against the tokens trained on, and summary tables.
public enum TrainingReport {
    /// Writes the report to `url` atomically (temp + rename).
    /// - Parameters:
    ///   - records: the run's metrics, in any order (each series is sorted by step).
    ///   - title: the page title (escaped).
    ///   - summary: rows of the summary table, e.g. `("target", "SmolLM2-135M")` (escaped).
    /// - Throws: `TrainingError` when the file cannot be written.
    public static func write(records: [MetricsRecord], title: String, summary: [(String, String)], to url: URL) throws {
        try LogFile.makeDirectory(url.deletingLastPathComponent())
        try LogFile.replace(url, with: Data(html(records: records, title: title, summary: summary).utf8))
    }

    /// The report's HTML text.
    public static func html(records: [MetricsRecord], title: String, summary: [(String, String)]) -> String {
        let sorted = records.sorted { ($0.step, $0.time) < ($1.step, $1.time) }
        let train = sorted.filter { $0.kind == "train" }
        let eval = sorted.filter { $0.kind == "eval" }
        var body = ["<h1>\(escapeXML(title))</h1>"]
        body.append(table(caption: "Summary", rows: summary))
        body.append("<section class=\"plots\">")
        body += plots(train: train, eval: eval).map { $0.svg() }
        body.append("</section>")
        if let last = train.last { body.append(table(caption: "Last training step (\(last.step))", rows: rows(last))) }
        if let last = eval.last { body.append(table(caption: "Last evaluation (step \(last.step))", rows: rows(last))) }
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(escapeXML(title))</title>
            <style>\(style)</style>
            </head>
            <body>
            \(body.joined(separator: "\n"))
            </body>
            </html>

            """
    }

    /// The plots, in page order: loss, accuracy per position, learning rate, τ.
    static func plots(train: [MetricsRecord], eval: [MetricsRecord]) -> [LinePlot] {
        let colors = LinePlot.palette
        let loss = LinePlot(
            title: "Loss", xLabel: "step", yLabel: "loss",
            series: [
                LinePlot.Series(points: points(train, "loss"), color: colors[0]),
                LinePlot.Series(points: points(eval, "loss"), color: colors[1], dashed: true, markers: true),
            ],
            legend: [
                LinePlot.LegendEntry(label: "train", color: colors[0]),
                LinePlot.LegendEntry(label: "eval", color: colors[1], dashed: true),
            ])
        let rate = LinePlot(
            title: "Learning rate", xLabel: "step", yLabel: "learning rate",
            series: [LinePlot.Series(points: points(train, "lr"), color: colors[0])],
            legend: [LinePlot.LegendEntry(label: "lr", color: colors[0])])
        let tau = LinePlot(
            title: "τ (mean accepted length, eval)", xLabel: "step", yLabel: "τ",
            series: [LinePlot.Series(points: points(eval, "tau"), color: colors[2], markers: true)],
            legend: [LinePlot.LegendEntry(label: "eval τ", color: colors[2])])
        return [loss, accuracyPlot(train: train, eval: eval), rate, tau, budgetPlot(train: train, eval: eval)]
    }

    /// Eval τ and first-position accuracy against the tokens trained on up to each evaluation
    /// (the sum of the training records' `tokens`): with a constant learning rate, the draft's
    /// curve of quality against budget.
    static func budgetPlot(train: [MetricsRecord], eval: [MetricsRecord]) -> LinePlot {
        var cumulative: [(step: Int, tokens: Double)] = []
        var total = 0.0
        for record in train {
            total += record.values["tokens"] ?? 0
            cumulative.append((record.step, total))
        }
        func tokens(at step: Int) -> Double? {
            // The last training record at or before the evaluation's step.
            var low = 0, high = cumulative.count
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle].step <= step { low = middle + 1 } else { high = middle }
            }
            return low == 0 ? nil : cumulative[low - 1].tokens
        }
        func series(_ key: String) -> [(x: Double, y: Double)] {
            eval.compactMap { record in
                guard let x = tokens(at: record.step), let y = record.values[key] else { return nil }
                return (x, y)
            }
        }
        let colors = LinePlot.palette
        return LinePlot(
            title: "τ and first-position accuracy against tokens trained (eval)", xLabel: "tokens trained",
            yLabel: "τ / accuracy",
            series: [
                LinePlot.Series(points: series("tau"), color: colors[2], markers: true),
                LinePlot.Series(points: series("acc/0"), color: colors[0], dashed: true, markers: true),
            ],
            legend: [
                LinePlot.LegendEntry(label: "eval τ", color: colors[2]),
                LinePlot.LegendEntry(label: "eval acc/0", color: colors[0], dashed: true),
            ])
    }

    /// Accuracy per TTT position: one colour per position, solid for training, dashed with markers for eval.
    static func accuracyPlot(train: [MetricsRecord], eval: [MetricsRecord]) -> LinePlot {
        let positionCount = (train + eval).map { $0.positions("acc").count }.max() ?? 0
        var series: [LinePlot.Series] = []
        var legend: [LinePlot.LegendEntry] = []
        for position in 0..<positionCount {
            let color = LinePlot.palette[position % LinePlot.palette.count]
            series.append(LinePlot.Series(points: points(train, "acc/\(position)"), color: color))
            series.append(
                LinePlot.Series(points: points(eval, "acc/\(position)"), color: color, dashed: true, markers: true))
            legend.append(LinePlot.LegendEntry(label: "position \(position)", color: color))
        }
        if !eval.isEmpty && positionCount > 0 {
            legend.append(LinePlot.LegendEntry(label: "train", color: "#333333"))
            legend.append(LinePlot.LegendEntry(label: "eval", color: "#333333", dashed: true))
        }
        return LinePlot(
            title: "Accuracy per position", xLabel: "step", yLabel: "accuracy", series: series, legend: legend)
    }

    private static func points(_ records: [MetricsRecord], _ key: String) -> [(x: Double, y: Double)] {
        records.compactMap { record in record.values[key].map { (Double(record.step), $0) } }
    }

    private static func rows(_ record: MetricsRecord) -> [(String, String)] {
        let keys = record.values.keys.sorted { naturalOrder($0, $1) }
        return [("epoch", String(format: "%.3f", record.epoch))]
            + keys.map { ($0, formatValue(record.values[$0]!)) }
    }

    /// `acc/2` before `acc/10`.
    private static func naturalOrder(_ a: String, _ b: String) -> Bool {
        a.compare(b, options: .numeric) == .orderedAscending
    }

    private static func formatValue(_ value: Double) -> String {
        guard value.isFinite else { return "\(value)" }
        if value != 0 && (abs(value) < 1e-3 || abs(value) >= 1e6) { return ProgressReporter.formatScientific(value) }
        return String(format: "%.4g", value)
    }

    private static func table(caption: String, rows: [(String, String)]) -> String {
        var lines = ["<table>", "<caption>\(escapeXML(caption))</caption>"]
        for (key, value) in rows {
            lines.append("<tr><th>\(escapeXML(key))</th><td>\(escapeXML(value))</td></tr>")
        }
        lines.append("</table>")
        return lines.joined(separator: "\n")
    }

    private static let style = """
        body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
        h1 { font-size: 1.4em; }
        table { border-collapse: collapse; margin: 12px 0 20px; }
        caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
        th, td { border: 1px solid #ddd; padding: 3px 10px; text-align: left; font-variant-numeric: tabular-nums; }
        th { background: #f6f6f6; font-weight: 500; }
        .plots svg { display: block; margin: 12px 0; }
        """
}
