import Foundation
import Testing
#if canImport(FoundationXML)
    import FoundationXML
#endif
@testable import FledgeTraining

@Suite("HTML training report")
struct TrainingReportTests {
    /// The `<svg …>…</svg>` elements of `html`, in order.
    static func svgElements(_ html: String) -> [String] {
        var result: [String] = []
        var rest = html[...]
        while let start = rest.range(of: "<svg "),
            let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex)
        {
            result.append(String(rest[start.lowerBound..<end.upperBound]))
            rest = rest[end.upperBound...]
        }
        return result
    }

    /// Parses `xml` with XMLParser; returns the parse error (nil if well formed) and the element names seen.
    static func parse(_ xml: String) -> (error: (any Error)?, elements: [String]) {
        final class Collector: NSObject, XMLParserDelegate {
            var elements: [String] = []
            func parser(
                _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]
            ) { elements.append(name) }
        }
        let parser = XMLParser(data: Data(xml.utf8))
        let collector = Collector()
        parser.delegate = collector
        let ok = parser.parse()
        return (ok ? nil : parser.parserError ?? TrainingError("parse failed"), collector.elements)
    }

    @Test("one well-formed SVG per plot, a line per accuracy position, legend, axes and ticks")
    func plots() throws {
        let records = LoggingTestSupport.run(steps: 40, evalEvery: 10)
        let directory = try LoggingTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("report.html")
        try TrainingReport.write(
            records: records, title: "EAGLE-3 draft for SmolLM2", summary: [("steps", "40")], to: url)
        let html = try String(contentsOf: url, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("<script"))
        #expect(
            !html.contains("http://")
                || !html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))

        let svgs = Self.svgElements(html)
        #expect(svgs.count == 5)
        for (svg, title) in zip(svgs, ["Loss", "Accuracy per position", "Learning rate", "τ"]) {
            let (error, elements) = Self.parse(svg)
            #expect(error == nil, "\(title): \(String(describing: error))")
            #expect(svg.contains(">\(title)"))
            #expect(elements.filter { $0 == "text" }.count >= 8, "\(title): tick labels and axis labels")
            #expect(svg.contains(">step</text>"))
        }
        let accuracy = svgs[1]
        for position in 0..<7 { #expect(accuracy.contains(">position \(position)</text>")) }
        #expect(!accuracy.contains(">position 7</text>"))
        let palette = LinePlot.palette
        for position in 0..<7 {
            let solid = accuracy.components(separatedBy: "<polyline").dropFirst().filter {
                $0.components(separatedBy: "/>")[0].contains("stroke=\"\(palette[position])\"")
            }
            #expect(solid.count == 2, "position \(position): a train line and an eval line")
        }
        #expect(Self.parse(svgs[0]).elements.filter { $0 == "polyline" }.count == 2)  // train and eval loss
        #expect(Self.parse(svgs[3]).elements.filter { $0 == "circle" }.count == 4)  // four evaluations
        // τ and acc/0 of the four evaluations against the tokens trained by then (100 per step).
        let budget = svgs[4]
        #expect(Self.parse(budget).error == nil && budget.contains(">tokens trained</text>"))
        #expect(Self.parse(budget).elements.filter { $0 == "circle" }.count == 8)
        #expect(
            TrainingReport.budgetPlot(
                train: records.filter { $0.kind == "train" }, eval: records.filter { $0.kind == "eval" }
            ).series[0].points.map(\.x) == [1000, 2000, 3000, 4000])
        #expect(html.contains("<th>steps</th><td>40</td>"))
        #expect(html.contains("Last evaluation (step 40)"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(leftovers == ["report.html"])
    }

    @Test("titles, summary rows and keys are escaped")
    func escaping() {
        let title = #"<script>alert("x")</script> & 'run'"#
        let html = TrainingReport.html(
            records: LoggingTestSupport.run(steps: 4), title: title, summary: [("a<b", "c&d")])
        #expect(!html.contains("<script>"))
        #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;run&#39;"))
        #expect(html.contains("<th>a&lt;b</th><td>c&amp;d</td>"))
        for svg in Self.svgElements(html) { #expect(Self.parse(svg).error == nil) }
    }

    @Test("empty, single-point and constant series render without NaN coordinates")
    func degenerateSeries() throws {
        let single = [
            MetricsRecord(kind: "train", step: 5, epoch: 0, values: ["loss": 2, "acc/0": 0.5, "lr": 0], time: 1)
        ]
        let constant = (1...3).map {
            MetricsRecord(kind: "train", step: $0, epoch: 0, values: ["loss": 1, "lr": 1e-4], time: 1)
        }
        let withNaN = [MetricsRecord(kind: "train", step: 1, epoch: 0, values: ["loss": .nan], time: 1)]
        for records in [[], single, constant, withNaN] {
            let html = TrainingReport.html(records: records, title: "t", summary: [])
            let svgs = Self.svgElements(html)
            #expect(svgs.count == 5)
            #expect(!html.lowercased().contains("nan\"") && !html.contains("inf\""), "no non-finite coordinates")
            for svg in svgs { #expect(Self.parse(svg).error == nil) }
        }
        let empty = TrainingReport.html(records: [], title: "t", summary: [])
        #expect(Self.svgElements(empty).allSatisfy { $0.contains(">no data</text>") })
        let one = Self.svgElements(TrainingReport.html(records: single, title: "t", summary: []))
        #expect(Self.parse(one[0]).elements.contains("circle"), "a single point is drawn as a marker")
        #expect(one[3].contains(">no data</text>"), "no eval, no τ")
    }

    @Test("axes pick 1-2-5 tick steps and label them with the step's precision")
    func axis() {
        let axis = Axis(values: [0.31, 2.2], expandToTicks: true)
        #expect(axis.step == 0.5)
        #expect(axis.ticks == [0, 0.5, 1, 1.5, 2, 2.5])
        #expect(axis.ticks.map(axis.label) == ["0", "0.5", "1.0", "1.5", "2.0", "2.5"])
        let steps = Axis(values: [1, 1000], expandToTicks: false)
        #expect(steps.ticks == [200, 400, 600, 800, 1000])
        let rate = Axis(values: [0, 1e-4], expandToTicks: true)
        #expect(rate.label(4e-5) == "4.0e-5")
    }
}
