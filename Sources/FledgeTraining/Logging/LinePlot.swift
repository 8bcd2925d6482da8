import Foundation

/// A line chart rendered as a standalone inline SVG element: frame, ticks with labels, axis
/// labels, a title, one polyline per series (markers for single points and marked series) and a
/// legend on the right. Non-finite points are skipped; an empty chart says "no data". Styling is in
/// presentation attributes (no CSS), so each SVG also renders the same when saved on its own.
struct LinePlot {
    struct Series {
        var points: [(x: Double, y: Double)]
        var color: String
        var dashed = false
        var markers = false
    }

    struct LegendEntry {
        var label: String
        var color: String
        var dashed = false
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var legend: [LegendEntry]
    var width = 760.0
    var height = 340.0

    private let left = 72.0, right = 170.0, top = 34.0, bottom = 52.0

    /// Colours for series (matplotlib's tab10).
    static let palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf",
    ]

    func svg() -> String {
        let finite = series.map { $0.points.filter { $0.x.isFinite && $0.y.isFinite } }
        let all = finite.flatMap { $0 }
        var parts = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"\(n(width))\" height=\"\(n(height))\" "
                + "viewBox=\"0 0 \(n(width)) \(n(height))\" font-family=\"sans-serif\" font-size=\"11\" fill=\"#333\" "
                + "role=\"img\" aria-label=\"\(escapeXML(title))\">"
        ]
        parts.append("<title>\(escapeXML(title))</title>")
        parts.append("<text x=\"\(n(left))\" y=\"20\" font-size=\"14\" font-weight=\"bold\">\(escapeXML(title))</text>")
        parts.append(
            "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(plotWidth))\" height=\"\(n(plotHeight))\" "
                + "fill=\"none\" stroke=\"#888\"/>"
        )
        if all.isEmpty {
            parts.append(
                "<text x=\"\(n(left + plotWidth / 2))\" y=\"\(n(top + plotHeight / 2))\" text-anchor=\"middle\" "
                    + "font-size=\"14\" fill=\"#999\">no data</text>"
            )
        } else {
            let xAxis = Axis(values: all.map(\.x), expandToTicks: false)
            let yAxis = Axis(values: all.map(\.y), expandToTicks: true)
            parts += ticks(xAxis, yAxis)
            for (line, points) in zip(series, finite) where !points.isEmpty {
                parts += draw(line, points: points, xAxis, yAxis)
            }
        }
        parts.append(
            "<text x=\"\(n(left + plotWidth / 2))\" y=\"\(n(height - 10))\" text-anchor=\"middle\" "
                + "font-size=\"12\">\(escapeXML(xLabel))</text>"
        )
        parts.append(
            "<text x=\"16\" y=\"\(n(top + plotHeight / 2))\" text-anchor=\"middle\" font-size=\"12\" "
                + "transform=\"rotate(-90 16 \(n(top + plotHeight / 2)))\">\(escapeXML(yLabel))</text>")
        parts += legendElements()
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    private var plotWidth: Double { width - left - right }
    private var plotHeight: Double { height - top - bottom }

    private func ticks(_ xAxis: Axis, _ yAxis: Axis) -> [String] {
        var parts: [String] = []
        for tick in xAxis.ticks {
            let x = left + xAxis.fraction(tick) * plotWidth
            parts.append(
                "<line x1=\"\(n(x))\" y1=\"\(n(top + plotHeight))\" "
                    + "x2=\"\(n(x))\" y2=\"\(n(top + plotHeight + 5))\" stroke=\"#888\"/>"
            )
            parts.append(
                "<text x=\"\(n(x))\" y=\"\(n(top + plotHeight + 18))\" "
                    + "text-anchor=\"middle\">\(xAxis.label(tick))</text>"
            )
        }
        for tick in yAxis.ticks {
            let y = top + (1 - yAxis.fraction(tick)) * plotHeight
            parts.append(
                "<line x1=\"\(n(left))\" y1=\"\(n(y))\" x2=\"\(n(left + plotWidth))\" y2=\"\(n(y))\" stroke=\"#eee\"/>")
            parts.append(
                "<line x1=\"\(n(left - 5))\" y1=\"\(n(y))\" x2=\"\(n(left))\" y2=\"\(n(y))\" stroke=\"#888\"/>")
            parts.append("<text x=\"\(n(left - 8))\" y=\"\(n(y + 4))\" text-anchor=\"end\">\(yAxis.label(tick))</text>")
        }
        return parts
    }

    private func draw(_ line: Series, points: [(x: Double, y: Double)], _ xAxis: Axis, _ yAxis: Axis) -> [String] {
        let coordinates = points.map {
            (left + xAxis.fraction($0.x) * plotWidth, top + (1 - yAxis.fraction($0.y)) * plotHeight)
        }
        var parts: [String] = []
        if coordinates.count > 1 {
            let list = coordinates.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
            let dash = line.dashed ? " stroke-dasharray=\"6 4\"" : ""
            parts.append(
                "<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"1.6\"\(dash)/>")
        }
        if line.markers || coordinates.count == 1 {
            for (x, y) in coordinates {
                parts.append("<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"3\" fill=\"\(line.color)\"/>")
            }
        }
        return parts
    }

    private func legendElements() -> [String] {
        var parts: [String] = []
        let x = left + plotWidth + 14
        for (index, entry) in legend.enumerated() {
            let y = top + 10 + Double(index) * 18
            let dash = entry.dashed ? " stroke-dasharray=\"6 4\"" : ""
            parts.append(
                "<line x1=\"\(n(x))\" y1=\"\(n(y))\" x2=\"\(n(x + 24))\" y2=\"\(n(y))\" "
                    + "stroke=\"\(entry.color)\" stroke-width=\"2\"\(dash)/>"
            )
            parts.append("<text x=\"\(n(x + 30))\" y=\"\(n(y + 4))\">\(escapeXML(entry.label))</text>")
        }
        return parts
    }

    /// A coordinate with at most two decimals (`12`, `12.5`, `12.25`).
    private func n(_ value: Double) -> String {
        var text = String(format: "%.2f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text == "-0" ? "0" : text
    }
}

/// A linear axis with "nice" ticks (1, 2 or 5 × 10ᵏ apart).
struct Axis {
    var lower: Double
    var upper: Double
    var step: Double

    init(values: [Double], expandToTicks: Bool, targetTickCount: Int = 5) {
        var lower = values.min() ?? 0
        var upper = values.max() ?? 1
        if lower == upper {  // a single value: centre it in a small range
            let pad = lower == 0 ? 1 : abs(lower) * 0.1
            lower -= pad
            upper += pad
        }
        step = Self.niceStep((upper - lower) / Double(targetTickCount))
        if expandToTicks {
            lower = (lower / step).rounded(.down) * step
            upper = (upper / step).rounded(.up) * step
        }
        self.lower = lower
        self.upper = upper
    }

    var ticks: [Double] {
        let first = (lower / step).rounded(.up)
        let last = (upper / step + 1e-9).rounded(.down)
        guard first <= last, last - first < 100 else { return [] }
        return stride(from: first, through: last, by: 1).map { $0 * step }
    }

    func fraction(_ value: Double) -> Double { (value - lower) / (upper - lower) }

    /// A tick label with as many decimals as the step needs; scientific for tiny or huge steps.
    func label(_ value: Double) -> String {
        if value == 0 { return "0" }
        if step < 1e-3 || step >= 1e6 { return ProgressReporter.formatScientific(value) }
        let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        return String(format: "%.\(decimals)f", value)
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let power = pow(10, floor(log10(raw)))
        let fraction = raw / power
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return nice * power
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` for XML/HTML text and attribute values.
func escapeXML(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.count)
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&#39;"
        default: result.append(character)
        }
    }
    return result
}
