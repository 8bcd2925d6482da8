import FledgeTemplate
import Foundation
import Testing

@testable import FledgeData

/// Runs the preparer and collects its issues.
private func prepare(
    _ inputs: [String], into output: URL, evalFraction: Double = 0, seed: UInt64 = 0,
    maxConversations: Int? = nil, chunkSize: Int = JSONStreamReader.defaultChunkSize
) throws
    -> (summary: ConversationPreparationSummary, issues: [DataError])
{
    var issues: [DataError] = []
    let options = ConversationPreparationOptions(
        inputs: inputs, outputDirectory: output.path, evalFraction: evalFraction, seed: seed,
        maxConversations: maxConversations, chunkSize: chunkSize)
    let summary = try ConversationPreparer(options: options).run(issue: { issues.append($0) })
    return (summary, issues)
}

private func written(_ output: URL) throws -> [PreparedConversation] {
    try PreparedDataset.conversations(in: output.appendingPathComponent("train.jsonl"))
        + PreparedDataset.conversations(in: output.appendingPathComponent("eval.jsonl"))
}

@Suite struct ConversationPreparerTests {
    @Test func theFormatsFolderGivesTheDocumentedCounts() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let output = scratch.url.appendingPathComponent("out")
        let (summary, issues) = try prepare([ConversationFixtures.formats.path], into: output)
        let counts = summary.manifest.counts
        #expect(
            summary.manifest.inputs.map { URL(fileURLWithPath: $0.path).lastPathComponent } == [
                "openai.jsonl", "sharegpt.json", "ultrachat.jsonl",
            ])
        #expect(summary.manifest.inputs.map(\.records) == [4, 12, 2])
        #expect(summary.manifest.inputs.map(\.layout) == [.jsonLines, .jsonArray, .jsonLines])
        #expect(counts.recordsRead == 18)
        #expect(counts.kept == 14)
        #expect(counts.duplicates == 1)
        #expect(
            counts.skipped == [
                "empty_conversation": 1, "no_user_assistant_pair": 1, "unknown_role": 1,
                "invalid_utf8": 0, "malformed_json": 0, "not_a_conversation": 0,
            ])
        #expect(counts.recordsRead == counts.kept + counts.duplicates + counts.skippedTotal)
        #expect(
            counts.repairs == [
                "empty_turn_dropped": 2, "later_system_dropped": 1, "leading_assistant_dropped": 1,
                "same_role_merged": 3,
            ])
        #expect(counts.conversationsRepaired == 4)
        #expect(counts.idsRenamed == 1)
        #expect(counts.train == 14 && counts.eval == 0)
        #expect(summary.manifest.unknownRoles == ["tool": 1])
        #expect(
            summary.manifest.roles["Human"] == 1 && summary.manifest.roles["bing"] == 1
                && summary.manifest.roles["human"] == 10)
        #expect(issues.map(\.code) == [.unknownRole])
        #expect(issues.first?.location.record == 9)

        let conversations = try written(output)
        #expect(conversations.count == 14)
        #expect(Set(conversations.map(\.id)).count == 14)
        let byID = Dictionary(uniqueKeysWithValues: conversations.map { ($0.id, $0) })
        #expect(byID["sg-0"]?.messages.last?.content == "Unicode: café 😀 — and raw UTF-8: naïve 日本")
        #expect(
            byID["sg-0"]?.messages.first?.content
                == #"Brackets ] } [ { and "quotes", a backslash \ and \" and a comma, in a string"#)
        #expect(
            byID["sg-2"]?.messages == [
                ChatMessage(role: "user", content: "First half\n\nsecond half"),
                ChatMessage(role: "assistant", content: "Answer\n\ncontinued"),
            ])
        #expect(byID["oa-3"]?.messages.map(\.content) == ["Q1\n\nQ2", "A2"])
        #expect(byID["oa-2"]?.messages.first?.content == "Part one. Part two.")
        #expect(byID["uc-1"]?.messages.map(\.role) == ["user", "assistant", "user"])
        #expect(byID["42"] != nil)
        #expect(conversations.contains { $0.id.hasPrefix("sg-0-") && $0.source.hasSuffix("sharegpt.json:6") })
        #expect(byID["sg-1"]?.source == ConversationFixtures.formats.path + "/sharegpt.json:1")
        for conversation in conversations {
            let roles = conversation.messages.map(\.role).filter { $0 != "system" }
            #expect(roles.first == "user")
            #expect(zip(roles, roles.dropFirst()).allSatisfy { $0 != $1 }, "\(conversation.id) does not alternate")
        }
    }

    @Test func malformedRecordsAreSkippedWithFileAndRecordIndex() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let good =
            #"{"id": "g%d", "conversations": [{"from": "human", "value": "q%d"}, {"from": "gpt", "value": "a%d"}]}"#
        let lines = [
            String(format: good, 0, 0, 0), #"{"id": "bad", "conversations": [{"from": "human", "value": "q"},]"#,
            "not json at all", String(format: good, 1, 1, 1), #"{"id": "x", "turns": []}"#,
        ]
        let path = try scratch.write("in/mixed.jsonl", lines.joined(separator: "\n") + "\n")
        let array = try scratch.write(
            "in/mixed.json",
            "[" + String(format: good, 2, 2, 2) + ", {\"id\": tru}, " + String(format: good, 3, 3, 3) + "]")
        let (summary, issues) = try prepare([path, array], into: scratch.url.appendingPathComponent("out"))
        #expect(summary.manifest.counts.kept == 4)
        #expect(summary.manifest.counts.skipped["malformed_json"] == 3)
        #expect(summary.manifest.counts.skipped["not_a_conversation"] == 1)
        let malformed = issues.filter { $0.code == .malformedRecord }
        #expect(malformed.map(\.location.file) == [path, path, array])
        #expect(malformed.map(\.location.record) == [1, 2, 1])
        #expect(malformed.map(\.location.line) == [2, 3, 1])
        #expect(malformed[0].description.contains("mixed.jsonl, record 1 (line 2"))
        #expect(issues.contains { $0.code == .notAConversation && $0.location.record == 4 && $0.location.line == 5 })
        #expect(summary.manifest.issues.count == 4)
        #expect(summary.manifest.issueCount == 4)
    }

    @Test func nonUTF8RecordsAreSkippedAndTheRestKept() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let first = Array(
            #"{"id": "ok", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#.utf8
        )
        let latin1 =
            Array(#"{"id": "latin1", "messages": [{"role": "user", "content": "caf"#.utf8) + [0xE9]
            + Array(#""}, {"role": "assistant", "content": "a"}]}"#.utf8)
        let path = try scratch.write(
            "latin1.jsonl",
            first + [0x0A] + latin1 + [0x0A] + first.map { $0 == UInt8(ascii: "q") ? UInt8(ascii: "Q") : $0 } + [0x0A])
        let (summary, issues) = try prepare([path], into: scratch.url.appendingPathComponent("out"))
        #expect(summary.manifest.counts.skipped["invalid_utf8"] == 1)
        #expect(summary.manifest.counts.kept == 2)
        let issue = try #require(issues.first)
        #expect(issue.code == .invalidUTF8)
        #expect(
            issue.location.file == path && issue.location.record == 1 && issue.location.byteOffset == first.count + 1)
        #expect(issue.hint?.contains("UTF-8") == true)
    }

    @Test func aTruncatedFileKeepsItsCompleteRecordsAndWarnsWithTheOffset() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let (summary, issues) = try prepare(
            [ConversationFixtures.root.appendingPathComponent("truncated").path], into: scratch.url)
        // The JSON Lines file holds the same first two conversations: duplicates.
        #expect(summary.manifest.counts.kept == 2)
        #expect(summary.manifest.counts.duplicates == 2)
        #expect(summary.manifest.inputs.map(\.records) == [2, 2])
        #expect(summary.manifest.inputs.map { $0.truncation != nil } == [true, true])
        #expect(issues.map(\.code) == [.truncatedFile, .truncatedFile])
        let arrayTruncation = try #require(summary.manifest.inputs[0].truncation)
        #expect(
            arrayTruncation.byteOffset == 392 && arrayTruncation.droppedBytes == 167
                && arrayTruncation.recordsRecovered == 2)
        #expect(issues[0].location.byteOffset == 392)
        #expect(summary.manifest.inputs.allSatisfy { $0.sha256?.count == 64 })
    }

    @Test func theOutputIsDeterministicAndAddingDataKeepsIdsAndSplit() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let sharegpt = ConversationFixtures.formats.appendingPathComponent("sharegpt.json").path
        let first = scratch.url.appendingPathComponent("first")
        let again = scratch.url.appendingPathComponent("again")
        let more = scratch.url.appendingPathComponent("more")
        _ = try prepare([sharegpt], into: first, evalFraction: 0.5, seed: 3)
        _ = try prepare([sharegpt], into: again, evalFraction: 0.5, seed: 3, chunkSize: 13)
        for name in ["train.jsonl", "eval.jsonl", "manifest.json"] {
            #expect(
                try Data(contentsOf: first.appendingPathComponent(name))
                    == Data(contentsOf: again.appendingPathComponent(name)), "\(name) differs")
        }
        _ = try prepare(
            [sharegpt, ConversationFixtures.formats.appendingPathComponent("openai.jsonl").path], into: more,
            evalFraction: 0.5, seed: 3)
        let before = try PreparedDataset.conversations(in: first.appendingPathComponent("eval.jsonl")).map(\.id)
        let after = try PreparedDataset.conversations(in: more.appendingPathComponent("eval.jsonl")).map(\.id)
        #expect(!before.isEmpty)
        #expect(Set(before).isSubset(of: Set(after)))
        let trainBefore = try PreparedDataset.conversations(in: first.appendingPathComponent("train.jsonl")).map(\.id)
        #expect(Set(trainBefore).isDisjoint(with: Set(after)))
    }

    @Test func maxConversationsStopsEarly() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let (summary, _) = try prepare([ConversationFixtures.formats.path], into: scratch.url, maxConversations: 3)
        #expect(summary.manifest.counts.kept == 3)
        #expect(summary.manifest.counts.stoppedAtMaxConversations)
        #expect(try written(scratch.url).count == 3)
        #expect(summary.manifest.inputs.count == 1 && summary.manifest.inputs[0].sha256 == nil)
    }

    @Test func theManifestRoundTripsAndNoPartialFilesRemain() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let (summary, _) = try prepare([ConversationFixtures.formats.path], into: scratch.url, evalFraction: 0.3)
        let manifest = try PreparedDataset.manifest(in: scratch.url)
        #expect(manifest == summary.manifest)
        #expect(manifest.format == "fledge-prepared-conversations" && manifest.version == 1)
        let names = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).sorted()
        #expect(names == ["eval.jsonl", "manifest.json", "train.jsonl"])
        let text = try String(contentsOf: scratch.url.appendingPathComponent("manifest.json"), encoding: .utf8)
        for key in [
            "\"records_read\"", "\"skipped\"", "\"unknown_roles\"", "\"eval_fraction\"", "\"sha256\"",
            "\"modification_time\"",
        ] {
            #expect(text.contains(key), "manifest lacks \(key)")
        }
        let first = try #require(
            String(contentsOf: scratch.url.appendingPathComponent("train.jsonl"), encoding: .utf8).split(
                separator: "\n"
            ).first)
        #expect(
            first.hasPrefix(#"{"id":""#) && first.contains(#","source":""#)
                && first.contains(#","messages":[{"role":""#))
    }

    @Test func inputErrorsThrowAndLeaveNoOutput() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let output = scratch.url.appendingPathComponent("out")
        let csv = try scratch.write("in/table.csv", "a,b\n")
        #expect(throws: DataError.self) {
            _ = try prepare([scratch.url.appendingPathComponent("nope.json").path], into: output)
        }
        #expect(throws: DataError.self) {
            _ = try prepare([scratch.url.appendingPathComponent("in").path], into: output)
        }  // no *.json
        do {
            _ = try prepare([ConversationFixtures.formats.path, csv], into: output)
            Issue.record("a CSV file was accepted")
        } catch let error as DataError {
            #expect(error.code == .unsupportedLayout && error.location.file == csv)
        }
        #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent("train.jsonl").path))
        #expect((try? FileManager.default.contentsOfDirectory(atPath: output.path))?.isEmpty ?? true)
        #expect(throws: DataError.self) { _ = try prepare([csv], into: output, evalFraction: 1) }
    }

    @Test func theOutputFolderIsNotReadAsInput() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        try FileManager.default.copyItem(
            at: ConversationFixtures.formats, to: scratch.url.appendingPathComponent("data"))
        let data = scratch.url.appendingPathComponent("data")
        _ = try prepare([data.path], into: data.appendingPathComponent("prepared"))
        let (summary, _) = try prepare([data.path], into: data.appendingPathComponent("prepared"))
        #expect(summary.manifest.inputs.count == 3)
        #expect(summary.manifest.counts.recordsRead == 18)
    }
}
