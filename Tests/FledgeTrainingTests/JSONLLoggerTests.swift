import Foundation
import Testing
@testable import FledgeTraining

@Suite("JSONL metrics log")
struct JSONLLoggerTests {
    @Test("records round-trip through metrics.jsonl, one sorted-key object per line")
    func roundTrip() throws {
        let directory = try LoggingTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var records = LoggingTestSupport.run(steps: 9)
        records[0].values["loss"] = .nan
        records[1].values["grad_norm"] = .infinity
        let logger = try JSONLLogger(directory: directory)
        for record in records { try logger.log(record) }
        // Flushed per record: readable before close.
        #expect(try JSONLLogger.read(from: logger.url).count == records.count)
        try logger.close()

        let decoded = try JSONLLogger.read(from: directory.appendingPathComponent("metrics.jsonl"))
        #expect(decoded.count == records.count)
        #expect(decoded[0].values["loss"]!.isNaN)
        decoded.indices.dropFirst().forEach { #expect(decoded[$0] == records[$0]) }
        var first = decoded[0], expected = records[0]
        first.values["loss"] = 0
        expected.values["loss"] = 0
        #expect(first == expected)

        let text = try String(contentsOf: logger.url, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == records.count)
        #expect(text.hasSuffix("\n"))
        #expect(lines[0].hasPrefix(#"{"epoch":0.1,"kind":"train","step":1,"time":5.25,"values":{"acc/0":"#))
        #expect(lines[0].contains(#""loss":"nan""#))
        #expect(lines[1].contains(#""grad_norm":"inf""#))
    }

    @Test("log after close throws with the path")
    func logAfterClose() throws {
        let directory = try LoggingTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = try JSONLLogger(directory: directory)
        try logger.close()
        let error = try #require(throws: TrainingError.self) { try logger.log(LoggingTestSupport.run(steps: 1)[0]) }
        #expect(error.message.contains(logger.url.path))
        #expect(error.hint != nil)
    }

    @Test("resume drops records past the resumed step, so the log equals an uninterrupted run's")
    func resumeTruncation() throws {
        let records = LoggingTestSupport.run(steps: 12)
        let uninterrupted = try LoggingTestSupport.temporaryDirectory()
        let interrupted = try LoggingTestSupport.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: uninterrupted)
            try? FileManager.default.removeItem(at: interrupted)
        }
        let whole = try JSONLLogger(directory: uninterrupted)
        for record in records { try whole.log(record) }
        try whole.close()

        // The first run reaches step 10 but its last checkpoint is step 8; a crash cut a line short.
        let first = try JSONLLogger(directory: interrupted)
        for record in records where record.step <= 10 { try first.log(record) }
        try first.close()
        let partial = try FileHandle(forWritingTo: first.url)
        try partial.seekToEnd()
        try partial.write(contentsOf: Data(#"{"epoch":1.1,"kind":"tra"#.utf8))
        try partial.close()

        let resumed = try JSONLLogger(directory: interrupted, resumedStep: 8)
        let kept = try JSONLLogger.read(from: resumed.url)
        #expect(kept == records.filter { $0.step <= 8 })
        #expect(kept.contains { $0.kind == "eval" && $0.step == 8 })
        for record in records where record.step > 8 { try resumed.log(record) }
        try resumed.close()

        let resumedBytes = try Data(contentsOf: resumed.url)
        let wholeBytes = try Data(contentsOf: whole.url)
        #expect(resumedBytes == wholeBytes)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: interrupted.path)
        #expect(leftovers == ["metrics.jsonl"], "no temporary files remain")
    }

    @Test("a fresh run replaces an old log; a malformed line throws with path and line number")
    func freshRunAndMalformedLine() throws {
        let directory = try LoggingTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let old = try JSONLLogger(directory: directory)
        for record in LoggingTestSupport.run(steps: 3) { try old.log(record) }
        try old.close()
        let fresh = try JSONLLogger(directory: directory)
        try fresh.close()
        #expect(try JSONLLogger.read(from: fresh.url).isEmpty)

        try Data("{\"kind\":\"train\"}\nnot json\n".utf8).write(to: fresh.url)
        let error = try #require(throws: TrainingError.self) {
            _ = try JSONLLogger(directory: directory, resumedStep: 2)
        }
        #expect(error.message.hasPrefix(fresh.url.path + ":1:"))
    }

    @Test("CompositeLogger fans out to every logger")
    func composite() throws {
        let a = try LoggingTestSupport.temporaryDirectory(), b = try LoggingTestSupport.temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: a)
            try? FileManager.default.removeItem(at: b)
        }
        let first = try JSONLLogger(directory: a), second = try JSONLLogger(directory: b)
        let logger = CompositeLogger([first, second])
        let records = LoggingTestSupport.run(steps: 4)
        for record in records { try logger.log(record) }
        try logger.close()
        #expect(try JSONLLogger.read(from: first.url) == records)
        #expect(try JSONLLogger.read(from: second.url) == records)
        #expect(throws: TrainingError.self) { try logger.log(records[0]) }
    }
}
