import Foundation
import Testing
@testable import FledgeData
import FledgeLlama
import FledgeTemplate

@Suite struct RegeneratorTests {
    func conversations() -> [Conversation] {
        (0..<20).map { i in
            var messages = [
                ChatMessage(role: "user", content: "question \(i)?"),
                ChatMessage(role: "assistant", content: "old answer"),
            ]
            if i % 3 == 0 {
                messages += [
                    ChatMessage(role: "user", content: "more \(i)"),
                    ChatMessage(role: "assistant", content: "old again"),
                ]
            }
            return Conversation(id: "c\(i)", messages: messages)
        }
    }

    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-regen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    var options: Regenerator.Options {
        var options = Regenerator.Options()
        options.maxTokens = 6
        options.batchSize = 4
        options.sampling = SamplingOptions(temperature: 0.9, topP: 0.95, seed: 3)
        return options
    }

    @Test func aKilledRunResumesToTheSameOutput() throws {
        let regenerator = Regenerator(target: try TinyTarget.make(), options: options)
        let directory = try temporary()
        let straight = directory.appendingPathComponent("straight.jsonl"),
            resumed = directory.appendingPathComponent("resumed.jsonl")
        try regenerator.run(conversations(), output: straight, failures: directory.appendingPathComponent("f1.jsonl"))
        struct Killed: Error {}
        #expect(throws: Killed.self) {
            try regenerator.run(
                conversations(), output: resumed, failures: directory.appendingPathComponent("f2.jsonl")
            ) {
                if $0.done >= 8 { throw Killed() }
            }
        }
        // A half-written line, as a kill during a write leaves it.
        let handle = try FileHandle(forWritingTo: resumed)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"id\": \"c9\", \"mess".utf8))
        try handle.close()
        #expect(Regenerator.completedIDs(in: resumed).count == 8)
        var lastProgress: Regenerator.Progress?
        try regenerator.run(conversations(), output: resumed, failures: directory.appendingPathComponent("f2.jsonl")) {
            lastProgress = $0
        }
        #expect(lastProgress?.done == 20)
        #expect(try Data(contentsOf: straight) == (try Data(contentsOf: resumed)))
        // Every assistant turn was replaced, everything else kept.
        let lines = try String(contentsOf: straight, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 20)
        for (line, original) in zip(lines, conversations()) {
            let item = try JSONDecoder().decode(Conversation.self, from: Data(line.utf8))
            #expect(item.id == original.id && item.messages.count == original.messages.count)
            for (new, old) in zip(item.messages, original.messages) {
                #expect(new.role == old.role)
                if old.role == "user" {
                    #expect(new.content == old.content)
                } else {
                    #expect(new.content != old.content)
                }
            }
        }
    }

    @Test func samplingDoesNotDependOnTheBatchSize() throws {
        var small = options
        small.batchSize = 1
        let directory = try temporary()
        try Regenerator(target: try TinyTarget.make(), options: small).run(
            Array(conversations().prefix(5)), output: directory.appendingPathComponent("a.jsonl"),
            failures: directory.appendingPathComponent("fa.jsonl"))
        try Regenerator(target: try TinyTarget.make(), options: options).run(
            Array(conversations().prefix(5)), output: directory.appendingPathComponent("b.jsonl"),
            failures: directory.appendingPathComponent("fb.jsonl"))
        #expect(
            try Data(contentsOf: directory.appendingPathComponent("a.jsonl"))
                == (try Data(contentsOf: directory.appendingPathComponent("b.jsonl"))))
    }

    /// A second run on an output that a first one is writing stops at once.
    @Test func aSecondRunOnTheSameOutputIsRefused() throws {
        let directory = try temporary()
        let output = directory.appendingPathComponent("out.jsonl")
        let held = try Regenerator.lock(output)
        defer { held.release() }
        #expect(throws: Regenerator.Busy.self) {
            try Regenerator(target: try TinyTarget.make(), options: options).run(
                conversations(), output: output, failures: directory.appendingPathComponent("f.jsonl"))
        }
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }

    /// Thousands of conversations that fail at once (a file of over-long prompts) are worked
    /// through in a loop, not by recursion.
    @Test func manyFailuresInARowDoNotRecurse() throws {
        var long = options
        long.maxLength = 4
        long.batchSize = 1
        let directory = try temporary()
        let many = (0..<20_000).map { i in
            Conversation(
                id: "m\(i)",
                messages: [
                    ChatMessage(role: "user", content: "question \(i)?"), ChatMessage(role: "assistant", content: "a"),
                ])
        }
        try Regenerator(target: try TinyTarget.make(), options: long).run(
            many, output: directory.appendingPathComponent("out.jsonl"),
            failures: directory.appendingPathComponent("failed.jsonl"))
        #expect(Regenerator.completedIDs(in: directory.appendingPathComponent("failed.jsonl")).count == 20_000)
    }

    @Test func tooLongPromptsGoToTheFailureFile() throws {
        var long = options
        long.maxLength = 4  // shorter than any prompt
        let directory = try temporary()
        let output = directory.appendingPathComponent("out.jsonl"),
            failures = directory.appendingPathComponent("failed.jsonl")
        try Regenerator(target: try TinyTarget.make(), options: long).run(
            Array(conversations().prefix(2)), output: output, failures: failures)
        let failed = try String(contentsOf: failures, encoding: .utf8)
        #expect(failed.contains("\"id\":\"c0\"") && failed.contains("leaves no room"))
        #expect(try String(contentsOf: output, encoding: .utf8).isEmpty)
        // A second run counts failed conversations as done: nothing is retried or repeated.
        try Regenerator(target: try TinyTarget.make(), options: long).run(
            Array(conversations().prefix(2)), output: output, failures: failures)
        #expect(try String(contentsOf: failures, encoding: .utf8) == failed)
    }

    /// Under `maxLength`, answers stop at the limit and a conversation ends after the last
    /// turn whose prompt fits; the turns kept equal an unlimited run's up to the limit.
    @Test func theLengthLimitCutsConversationsAfterTheirLastTurnThatFits() throws {
        let target = try TinyTarget.make()
        var greedy = options
        greedy.sampling = SamplingOptions(temperature: 0, seed: 0)
        greedy.maxTokens = 12
        let conversation = conversations()[0]  // two exchanges
        let firstPrompt = try target.encodeChat(Array(conversation.messages.prefix(1)), addGenerationPrompt: true)
        let directory = try temporary()
        let free = directory.appendingPathComponent("free.jsonl"), cut = directory.appendingPathComponent("cut.jsonl")
        try Regenerator(target: target, options: greedy).run(
            [conversation], output: free, failures: directory.appendingPathComponent("f1.jsonl"))
        var limited = greedy
        limited.maxLength = firstPrompt.count + 5  // room for 5 answer tokens, no second turn
        try Regenerator(target: target, options: limited).run(
            [conversation], output: cut, failures: directory.appendingPathComponent("f2.jsonl"))
        let whole = try JSONDecoder().decode(Conversation.self, from: try Data(contentsOf: free))
        let short = try JSONDecoder().decode(Conversation.self, from: try Data(contentsOf: cut))
        #expect(whole.messages.count == 4 && short.messages.count == 2)
        // The greedy answer stopped early: a strict prefix of the unlimited one.
        #expect(!short.messages[1].content.isEmpty)
        #expect(short.messages[1].content.count < whole.messages[1].content.count)
        #expect(whole.messages[1].content.hasPrefix(short.messages[1].content))
    }
}

/// Continuous batching on the real SmolLM2 (integer kernels): multi-turn conversations give
/// the same bytes at any batch size, later turns reusing their conversation's cache.
@Suite(
    .enabled(
        if: DataTestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"))
struct SmolLM2RegeneratorTests {
    @Test func outputDoesNotDependOnTheBatchSize() throws {
        let target = try TargetModel.load(from: DataTestAssets.smolLM2)
        let questions = [
            ("What is a prime number?", "Give an example."), ("Name a colour.", "Another one?"),
            ("Write a haiku about rain.", "Now about snow."), ("What is 2 + 2?", "And times 3?"),
            ("Say hello in French.", "In German?"),
        ]
        let conversations = questions.enumerated().map { index, pair in
            Conversation(
                id: "q\(index)",
                messages: [
                    ChatMessage(role: "user", content: pair.0), ChatMessage(role: "assistant", content: "-"),
                    ChatMessage(role: "user", content: pair.1), ChatMessage(role: "assistant", content: "-"),
                ])
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-regen-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        var outputs: [Data] = []
        for batch in [2, 5] {
            var options = Regenerator.Options()
            options.maxTokens = 12
            options.maxLength = 160
            options.batchSize = batch
            options.sampling = SamplingOptions(temperature: 0.8, seed: 4)
            let output = directory.appendingPathComponent("b\(batch).jsonl")
            try Regenerator(target: target, options: options).run(
                conversations, output: output, failures: directory.appendingPathComponent("f\(batch).jsonl"))
            outputs.append(try Data(contentsOf: output))
        }
        #expect(outputs[0] == outputs[1])
        let lines = String(decoding: outputs[0], as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 5)
        for line in lines {
            let item = try JSONDecoder().decode(Conversation.self, from: Data(line.utf8))
            #expect(item.messages.count == 4 && item.messages[3].content != "-", "\(item.id)")
        }
    }
}
