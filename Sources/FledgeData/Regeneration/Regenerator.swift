import Foundation
import FledgeLlama
import FledgeTemplate
import FledgeTensor

/// Replaces every assistant turn of conversations with the target's own answer
/// (SpecForge `regenerate_train_data.py` semantics: turn by turn, each prompt holding the
/// earlier turns already regenerated; system and user turns kept).
///
/// Output is append-only JSONL (`{"id", "messages"}`), written one batch at a time, so a
/// killed run loses at most the batch in flight; ids already in the output are skipped on
/// restart, and batches are cut from the remaining conversations in input order, so a
/// resumed run forms the same batches as an uninterrupted one. Each (conversation, turn) has
/// its own sampler seeded from `seed`, so sampling does not depend on batching.
public struct Regenerator {
    public struct Options: Sendable {
        public var maxTokens = 512
        public var sampling = SamplingOptions()
        public var batchSize = 8
        public var systemPrompt: String?
        public init() {}
    }

    public struct Progress: Sendable {
        public var done: Int
        public var total: Int
        public var failed: Int
        public var generatedTokens: Int
        public var tokensPerSecond: Double
        /// Seconds left at the current rate.
        public var eta: Double
    }

    public let target: TargetModel
    public var options: Options

    public init(target: TargetModel, options: Options) {
        self.target = target
        self.options = options
    }

    /// Ids already present in an output file (its complete lines).
    public static func completedIDs(in url: URL) -> Set<String> {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        var ids = Set<String>()
        for line in text.split(separator: "\n") {
            if let data = line.data(using: .utf8), let item = try? JSONDecoder().decode(Conversation.self, from: data) {
                ids.insert(item.id)
            }
        }
        return ids
    }

    /// Where failed conversations go by default: the output path with `.failed.jsonl` in place
    /// of its `.jsonl` (or appended).
    public static func defaultFailuresPath(output: String) -> String {
        (output.hasSuffix(".jsonl") ? String(output.dropLast(6)) : output) + ".failed.jsonl"
    }

    /// Regenerates `conversations` into `output` (appending), failures into `failures`.
    public func run(
        _ conversations: [Conversation], output: URL, failures: URL, progress: (Progress) throws -> Void = { _ in }
    ) throws {
        let done = Self.completedIDs(in: output).union(Self.completedIDs(in: failures))
        let remaining = conversations.filter { !done.contains($0.id) }
        let outputHandle = try Self.appending(output)
        let failureHandle = try Self.appending(failures)
        defer {
            try? outputHandle.close()
            try? failureHandle.close()
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var finished = conversations.count - remaining.count
        var failed = 0
        var tokens = 0
        var index = 0
        while index < remaining.count {
            let batch = Array(remaining[index..<min(remaining.count, index + options.batchSize)])
            index += batch.count
            let (results, generated) = regenerate(batch)
            tokens += generated
            var lines = Data(), failedLines = Data()
            for result in results {
                switch result {
                case .success(let conversation): lines.append(try Self.line(conversation))
                case .failure(let failure):
                    failed += 1
                    failedLines.append(try Self.line(failure))
                }
            }
            try outputHandle.write(contentsOf: lines)
            try failureHandle.write(contentsOf: failedLines)
            try outputHandle.synchronize()
            try failureHandle.synchronize()
            finished += batch.count
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let rate = Double(finished - (conversations.count - remaining.count)) / max(seconds, 1e-9)
            try progress(
                Progress(
                    done: finished, total: conversations.count, failed: failed, generatedTokens: tokens,
                    tokensPerSecond: Double(tokens) / max(seconds, 1e-9),
                    eta: rate > 0 ? Double(conversations.count - finished) / rate : 0))
        }
    }

    /// A conversation that could not be regenerated, with the reason.
    public struct Failure: Codable, Sendable, Error {
        public var id: String
        public var error: String
    }

    /// Regenerates one batch, turn by turn; returns each conversation or its failure, and the tokens generated.
    func regenerate(_ batch: [Conversation]) -> ([Result<Conversation, Failure>], Int) {
        var states = batch.map { conversation -> (messages: [ChatMessage], next: Int, failure: Failure?) in
            var messages = conversation.messages
            if let systemPrompt = options.systemPrompt {
                if messages.first?.role == "system" { messages.removeFirst() }
                messages.insert(ChatMessage(role: "system", content: systemPrompt), at: 0)
            }
            return (messages, 0, nil)
        }
        let stops = target.stopTokens
        var generatedTokens = 0
        while true {
            // The next assistant turn of every conversation that has one left.
            var rows: [(conversation: Int, turn: Int, prompt: [Int32])] = []
            for (i, state) in states.enumerated() where state.failure == nil {
                guard let turn = state.messages[state.next...].firstIndex(where: { $0.role == "assistant" }) else {
                    continue
                }
                do {
                    let prompt = try target.encodeChat(Array(state.messages[..<turn]), addGenerationPrompt: true)
                    guard prompt.count + options.maxTokens <= target.model.configuration.maxPositions else {
                        states[i].failure = Failure(
                            id: batch[i].id,
                            error:
                                "turn \(turn): the \(prompt.count)-token prompt leaves no room "
                                + "for \(options.maxTokens) new tokens"
                        )
                        continue
                    }
                    rows.append((i, turn, prompt))
                } catch {
                    states[i].failure = Failure(id: batch[i].id, error: "turn \(turn): \(error)")
                }
            }
            if rows.isEmpty { break }
            let samplers = rows.map { row in
                var sampling = options.sampling
                sampling.seed = Self.seed(options.sampling.seed, id: batch[row.conversation].id, turn: row.turn)
                return Sampler(sampling)
            }
            do {
                let outputs = try target.model.generateBatch(
                    prompts: rows.map(\.prompt), maxTokens: options.maxTokens, samplers: samplers, stopTokens: stops)
                for (row, output) in zip(rows, outputs) {
                    generatedTokens += output.count
                    let answer = output.filter { !stops.contains($0) }
                    states[row.conversation].messages[row.turn].content = target.tokenizer.decode(
                        answer, skipSpecialTokens: true)
                    states[row.conversation].next = row.turn + 1
                }
            } catch {
                for row in rows {
                    states[row.conversation].failure = Failure(id: batch[row.conversation].id, error: "\(error)")
                }
            }
        }
        let results = zip(batch, states).map { conversation, state -> Result<Conversation, Failure> in
            if let failure = state.failure { return .failure(failure) }
            return .success(Conversation(id: conversation.id, messages: state.messages))
        }
        return (results, generatedTokens)
    }

    /// A per-(conversation, turn) seed: FNV-1a of the id mixed with the run seed and turn.
    static func seed(_ base: UInt64, id: String, turn: Int) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325 ^ base
        for byte in id.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash ^ (UInt64(turn) &* 0x9E37_79B9_7F4A_7C15)
    }

    static func line<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value) + Data("\n".utf8)
    }

    /// Opens `url` for appending (creating it), after cutting a trailing partial line left by a kill.
    static func appending(_ url: URL) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: url.path) {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        let handle = try FileHandle(forUpdating: url)
        let data = try Data(contentsOf: url)
        if let last = data.lastIndex(of: UInt8(ascii: "\n")) {
            try handle.truncate(atOffset: UInt64(last + 1))
        } else if !data.isEmpty {
            try handle.truncate(atOffset: 0)
        }
        try handle.seekToEnd()
        return handle
    }
}
