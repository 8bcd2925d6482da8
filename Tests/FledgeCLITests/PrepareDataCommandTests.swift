import ArgumentParser
import FledgeData
import Foundation
import Testing

@testable import FledgeCLI

@Suite struct PrepareDataCommandTests {
    @Test func parsesInputsAndEveryOption() throws {
        let command = try FledgeCommand.parseAsRoot([
            "data", "prepare", "a.json", "dir", "--output", "out", "--eval-fraction", "0.1", "--seed", "7",
            "--max-conversations", "100", "--json",
        ])
        let prepare = try #require(command as? PrepareDataCommand)
        #expect(prepare.inputs == ["a.json", "dir"])
        #expect(prepare.json)
        let options = prepare.preparationOptions
        #expect(options.inputs == ["a.json", "dir"])
        #expect(options.outputDirectory == "out")
        #expect(options.evalFraction == 0.1)
        #expect(options.seed == 7)
        #expect(options.maxConversations == 100)
    }

    @Test func defaults() throws {
        let prepare = try #require(
            try FledgeCommand.parseAsRoot(["data", "prepare", "x.jsonl", "-o", "out"]) as? PrepareDataCommand)
        #expect(
            prepare.preparationOptions == ConversationPreparationOptions(inputs: ["x.jsonl"], outputDirectory: "out"))
        #expect(prepare.evalFraction == 0.02)
        #expect(prepare.seed == 0)
        #expect(prepare.maxConversations == nil)
        #expect(!prepare.json)
    }

    @Test(arguments: [
        (["data", "prepare", "--output", "out"], "input"),
        (["data", "prepare", "a.json"], "--output"),
        (["data", "prepare", "a.json", "-o", "out", "--eval-fraction", "1"], "--eval-fraction"),
        (["data", "prepare", "a.json", "-o", "out", "--eval-fraction", "-0.1"], "--eval-fraction"),
        (["data", "prepare", "a.json", "-o", "out", "--max-conversations", "0"], "--max-conversations"),
        (["data", "prepare", "a.json", "-o", "out", "--seed", "-1"], "--seed"),
    ])
    func invalidArgumentsNameTheProblem(arguments: [String], mention: String) {
        do {
            _ = try FledgeCommand.parseAsRoot(arguments)
            Issue.record("\(arguments) was accepted")
        } catch {
            let message = FledgeCommand.message(for: error)
            #expect(message.contains(mention), "\(arguments): \(message)")
        }
    }

    @Test func helpListsEveryOption() {
        let help = PrepareDataCommand.helpMessage(columns: 100)
        for option in [
            "<input> ...", "--output <dir>", "--eval-fraction", "--seed", "--max-conversations", "--json", "ShareGPT",
        ] {
            #expect(help.contains(option), "help lacks \(option)")
        }
        #expect(DataCommand.helpMessage(columns: 100).contains("prepare"))
    }

    /// A run on a small file, then the summary table against a golden text (the time line
    /// excluded) and the JSON summary decoded back.
    @Test func runWritesTheFolderAndTheSummaries() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let input = folder.appendingPathComponent("in.jsonl")
        let lines = [
            #"{"id": "a", "conversations": [{"from": "gpt", "value": "hi"}, "#
                + #"{"from": "human", "value": "q"}, {"from": "gpt", "value": "r"}]}"#,
            #"{"id": "b", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}]}"#,
            #"{"id": "c", "messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}]}"#,
            "{oops",
            #"{"id": "d", "messages": [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "r2"}]}"#,
        ]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: input)
        let output = folder.appendingPathComponent("out")
        var command = try #require(
            try FledgeCommand.parseAsRoot(["data", "prepare", input.path, "-o", output.path, "--eval-fraction", "0"])
                as? PrepareDataCommand)
        try await command.run()
        let summary = try ConversationPreparer(options: command.preparationOptions).run()
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("manifest.json").path))

        let table = PrepareDataCommand.table(summary).split(separator: "\n").filter {
            !$0.hasPrefix("time") && !$0.hasPrefix("output")
        }
        let golden = """
            inputs                       1 file, 0.0 MB
            records read                 5
            kept                         2 (train 2, eval 0)
            duplicates                   1
            skipped                      2
              empty_conversation         0
              invalid_utf8               0
              malformed_json             1
              no_user_assistant_pair     0
              not_a_conversation         0
              unknown_role               1
            repaired                     1 conversations
              empty_turn_dropped         0 turns
              later_system_dropped       0 turns
              leading_assistant_dropped  1 turns
              same_role_merged           0 turns
            ids renamed                  0
            roles read                   user 3, assistant 2, gpt 2, human 1, tool 1
            unknown roles                tool 1
            messages written             assistant 2, user 2, system 0
            issues                       2 (listed in manifest.json)
            """
        #expect(table.joined(separator: "\n") == golden)

        let json = try PrepareDataCommand.jsonSummary(summary)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["output"] as? String == output.path)
        #expect(object["elapsed_seconds"] is Double)
        let manifest = try #require(object["manifest"] as? [String: Any])
        #expect(manifest["format"] as? String == "fledge-prepared-conversations")
        let counts = try #require(manifest["counts"] as? [String: Any])
        #expect(counts["records_read"] as? Int == 5)
        #expect(counts["kept"] as? Int == 2)
        #expect((counts["skipped"] as? [String: Int])?["malformed_json"] == 1)
    }
}
