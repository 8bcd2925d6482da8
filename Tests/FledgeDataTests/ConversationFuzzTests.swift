import FledgeTestSupport
import Foundation
import Testing

@testable import FledgeData

/// Mutants of conversation files (ShareGPT JSON arrays, OpenAI JSONL) through `data prepare`'s
/// library entry point: each ends in a prepared folder whose counts add up, or a `DataError`
/// with a message; none traps or hangs (issue 15).
@Suite(.serialized) struct ConversationFuzzTests {
    static func shareGPT(_ count: Int, pretty: Bool = true) -> String {
        let records = (0..<count).map { i in
            let turns =
                #"{"from": "human", "value": "question \#(i) with \"quotes\", [brackets] and {braces}"}, "#
                + #"{"from": "gpt", "value": "answer \#(i)\nsecond line"}"#
            return pretty
                ? "  {\n    \"id\": \"sg-\(i)\",\n    \"conversations\": [\n      " + turns + "\n    ]\n  }"
                : "{\"id\": \"sg-\(i)\", \"conversations\": [" + turns + "]}"
        }
        return pretty ? "[\n" + records.joined(separator: ",\n") + "\n]\n" : "[" + records.joined(separator: ",") + "]"
    }

    static func openAI(_ count: Int, separator: String = "\n") -> String {
        (0..<count).map { i in
            #"{"id": "oa-\#(i)", "messages": [{"role": "system", "content": "Be brief."}, "#
                + #"{"role": "user", "content": "Q\#(i)"}, {"role": "assistant", "content": [{"type": "text", "#
                + #""text": "A\#(i)"}]}]}"#
        }.joined(separator: separator) + separator
    }

    /// Prepares `bytes` written as `name`; the issues reported.
    static func prepare(_ bytes: Data, name: String, in scratch: ScratchFolder) throws -> ConversationPreparationSummary
    {
        let input = try scratch.write(name, [UInt8](bytes))
        let options = ConversationPreparationOptions(
            inputs: [input], outputDirectory: scratch.url.appendingPathComponent("out").path, evalFraction: 0.1,
            computeDigests: false)
        defer { try? FileManager.default.removeItem(at: scratch.url.appendingPathComponent("out")) }
        let summary = try ConversationPreparer(options: options).run()
        let counts = summary.manifest.counts
        #expect(counts.recordsRead == counts.kept + counts.duplicates + counts.skipped.values.reduce(0, +))
        #expect(counts.kept > 0 && counts.kept == counts.train + counts.eval)
        return summary
    }

    @Test(arguments: [("sharegpt.json", true), ("sharegpt.json", false), ("openai.jsonl", true)])
    func mutantsArePreparedOrRejectedWithAMessage(name: String, pretty: Bool) throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let seed = name.hasSuffix(".json") ? Self.shareGPT(8, pretty: pretty) : Self.openAI(8)
        let report = FuzzReport.run(
            seed: pretty ? 1500 : 1600, count: FuzzReport.count(default: 200),
            make: { Data($0.mutateText(seed).utf8) }
        ) { mutant in
            _ = try Self.prepare(mutant, name: name, in: scratch)
        }
        print("conversation fuzz (\(name)\(pretty ? "" : ", compact")): \(report)")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty, "\(report.silentErrors) \(report.slow)")
        #expect(report.accepted > 0 && report.rejected > 0)
    }

    @Test func binaryMutantsArePreparedOrRejectedWithAMessage() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let seeds = [Data(Self.shareGPT(6).utf8), Data(Self.openAI(6).utf8)]
        let report = FuzzReport.run(
            seed: 1700, count: FuzzReport.count(default: 200), make: { $0.mutate(seeds[$0.below(2)]) }
        ) { mutant in
            _ = try Self.prepare(mutant, name: "mutant.json", in: scratch)
        }
        print("conversation fuzz (binary): \(report)")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty, "\(report.silentErrors) \(report.slow)")
    }

    @Test func deepNestingIsAMalformedRecordNotACrash() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let text = Self.shareGPT(3).replacingOccurrences(of: "\"sg-1\"", with: deep)
        let summary = try Self.prepare(Data(text.utf8), name: "deep.json", in: scratch)
        #expect(summary.manifest.counts.kept == 2)
        #expect(summary.manifest.counts.skipped["malformed_json"] == 1)
        let lines = Self.openAI(3).split(separator: "\n").map(String.init)
        let jsonl = [lines[0], "{\"id\": " + deep + "}", lines[2]].joined(separator: "\n")
        let second = try Self.prepare(Data(jsonl.utf8), name: "deep.jsonl", in: scratch)
        #expect(second.manifest.counts.kept == 2)
    }
}

/// The cases of issue 15 under "Found" for conversation data.
@Suite struct HostileConversationTests {
    private func run(_ text: String, name: String) throws -> (ConversationPreparationSummary, [DataError]) {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let input = try scratch.write(name, text)
        var issues: [DataError] = []
        let options = ConversationPreparationOptions(
            inputs: [input], outputDirectory: scratch.url.appendingPathComponent("out").path, evalFraction: 0)
        let summary = try ConversationPreparer(options: options).run(issue: { issues.append($0) })
        return (summary, issues)
    }

    @Test func aShareGPTRecordMissingItsClosingBraceCostsOnlyItself() throws {
        let good = ConversationFuzzTests.shareGPT(50)
        // Record 10 loses the `}` that closes it (pretty-printed: the line "  }," becomes "  ,").
        let marker = "\"id\": \"sg-10\""
        let start = try #require(good.range(of: marker))
        let close = try #require(good.range(of: "\n  },", range: start.upperBound..<good.endIndex))
        let broken = good.replacingCharacters(in: close, with: "\n  ,")
        let (summary, issues) = try run(broken, name: "sharegpt.json")
        #expect(summary.manifest.counts.kept == 49)
        #expect(summary.manifest.counts.skipped["malformed_json"] == 1)
        let issue = try #require(issues.first { $0.code == .malformedRecord })
        #expect(issue.location.record == 10)
        let line = broken[..<start.lowerBound].filter { $0 == "\n" }.count  // the `{` is on the line before
        #expect(issue.location.line == line)
        #expect(issue.description.contains("sharegpt.json, record 10 (line \(line)"))
        #expect(summary.manifest.inputs.first?.truncation == nil)
        // The same in a compact array on one line.
        let compact = ConversationFuzzTests.shareGPT(50, pretty: false)
        let compactBroken = compact.replacingOccurrences(
            of: "second line\"}]},{\"id\": \"sg-11\"", with: "second line\"}],{\"id\": \"sg-11\"")
        #expect(compactBroken != compact)
        let (compactSummary, _) = try run(compactBroken, name: "compact.json")
        #expect(compactSummary.manifest.counts.kept == 49)
    }

    @Test func anUnterminatedStringOrUnmatchedBracketResumesAtTheNextRecord() throws {
        let good = ConversationFuzzTests.shareGPT(20)
        for (from, to) in [
            ("\"answer 5\\nsecond line\"}", "\"answer 5\\nsecond line}"),  // a missing quote
            ("\"question 7 with", "\"question 7 ] with"),  // inside a string: harmless
            ("\"id\": \"sg-12\",", "\"id\": \"sg-12\"]],"),  // unmatched closers
            ("\"id\": \"sg-3\",", "\"id\": [[[\"sg-3\","),  // unclosed brackets
        ] {
            let broken = good.replacingOccurrences(of: from, with: to)
            #expect(broken != good)
            let (summary, _) = try run(broken, name: "sharegpt.json")
            let expected = from.hasPrefix("\"question") ? 20 : 19
            #expect(summary.manifest.counts.kept == expected, "\(to)")
            #expect(summary.manifest.counts.recordsRead == 20, "\(to)")
        }
    }

    @Test(arguments: ["\n", "\r\n", "\r"])
    func jsonLinesWithAnyLineEndingKeepEveryRecord(separator: String) throws {
        let (summary, issues) = try run(ConversationFuzzTests.openAI(5, separator: separator), name: "data.jsonl")
        #expect(summary.manifest.counts.kept == 5)
        #expect(issues.isEmpty)
        // Line numbers count CR, LF and CRLF alike.
        let bad =
            ["{\"id\": 1}", "not json", ""].joined(separator: separator)
            + ConversationFuzzTests.openAI(
                1, separator: separator)
        let (_, badIssues) = try run(bad, name: "bad.jsonl")
        #expect(badIssues.map(\.location.line) == [1, 2])
    }

    @Test(arguments: ["", " \n\n", "[]", "[\n]\n", "[{\"id\": 1}]"])
    func anInputWithoutAUsableRecordIsAnError(text: String) throws {
        #expect {
            _ = try run(text, name: "empty.json")
        } throws: { error in
            guard let error = error as? DataError, error.code == .noConversations else { return false }
            return error.description.contains("no usable conversation") && error.description.contains("empty.json")
        }
    }

    @Test func readingAnEmptyPreparedFileIsAnError() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let empty = try scratch.write("train.jsonl", "\n")
        #expect {
            _ = try ConversationFile.read(URL(fileURLWithPath: empty))
        } throws: { error in
            (error as? DataError)?.code == .noConversations && "\(error)".contains("train.jsonl")
        }
        #expect(try ConversationFile.read(URL(fileURLWithPath: empty), allowEmpty: true).isEmpty)
        let line = #"{"id": "a", "messages": [{"role": "user", "content": "q"}]}"#
        let crOnly = try scratch.write("cr.jsonl", line + "\r" + line + "\r\n" + line)
        #expect(try ConversationFile.read(URL(fileURLWithPath: crOnly)).count == 3)
    }
}

/// One record of a pretty-printed ShareGPT array mutated, the others intact: the resync rule
/// (docs/data-prepare.md) must keep every intact record.
@Suite(.serialized) struct ConversationResyncFuzzTests {
    @Test func aMutatedRecordCostsAtMostItself() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let records = ConversationFuzzTests.shareGPT(12).dropFirst(2).dropLast(7).components(separatedBy: "\n  },\n")
        #expect(records.count == 12)
        var failures: [String] = []
        let report = FuzzReport.run(
            seed: 1800, count: FuzzReport.count(default: 200),
            make: { m in
                var mutated = records.map { $0 + "\n  }" }
                let target = 1 + m.below(10)
                mutated[target] = m.mutateText(mutated[target])
                return Data(("[\n" + mutated.joined(separator: ",\n") + "\n]\n").utf8)
            }
        ) { mutant in
            let summary = try ConversationFuzzTests.prepare(mutant, name: "one.json", in: scratch)
            if summary.manifest.counts.kept < 11 {
                if let dump = ProcessInfo.processInfo.environment["FLEDGE_FUZZ_DUMP"] {
                    try? mutant.write(to: URL(fileURLWithPath: dump + "/fail-\(failures.count).json"))
                }
                failures.append(
                    "kept \(summary.manifest.counts.kept): \(String(decoding: mutant, as: UTF8.self).prefix(2000))")
            }
        }
        print("conversation resync fuzz: \(report), \(failures.count) cost more than one record")
        #expect(failures.isEmpty, "\(failures.first ?? "")")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty)
    }
}
