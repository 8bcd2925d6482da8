import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import FledgeLlama
import FledgeTemplate
import FledgeTensor
import FledgeWeights

/// Replaces every assistant turn of conversations with the target's own answer
/// (SpecForge `regenerate_train_data.py` semantics: turn by turn, each prompt holding the
/// earlier turns already regenerated; system and user turns kept).
///
/// Output is append-only JSONL (`{"id", "messages"}`) in input order, so a killed run loses
/// only the conversations in flight; ids already in the output are skipped on restart. Each
/// (conversation, turn) has its own sampler seeded from `seed`, and a conversation's
/// computation does not depend on the others in the batch, so the output is the same for
/// any batch size and across a resume.
public struct Regenerator {
    public struct Options: Sendable {
        public var maxTokens = 512
        public var sampling = SamplingOptions()
        public var batchSize = 8
        /// The longest conversation, in tokens: a turn starts only while its prompt is
        /// shorter, and its answer stops there; the conversation ends after the last turn
        /// that started (nil: the model's positions, at most 2,048).
        public var maxLength: Int?
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

    /// Ids already present in an output or failure file (its complete lines).
    public static func completedIDs(in url: URL) -> Set<String> {
        struct Line: Decodable { var id: String }
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        var ids = Set<String>()
        for line in text.split(separator: "\n") {
            if let data = line.data(using: .utf8), let item = try? JSONDecoder().decode(Line.self, from: data) {
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
    ///
    /// Continuous batching: `batchSize` slots share one batched decode; a slot whose turn
    /// ends goes on with its conversation's next turn (prefilling only the tokens its cache
    /// does not hold yet) or takes the next conversation, so no slot waits for the longest
    /// conversation of a batch. Each prefill runs alone and the batched decode is row-exact,
    /// so a conversation's output does not depend on which others share the slots. Finished
    /// conversations are written in input order.
    public func run(
        _ conversations: [Conversation], output: URL, failures: URL, progress: (Progress) throws -> Void = { _ in }
    ) throws {
        let lock = try Self.lock(output)
        defer { lock.release() }
        let done = Self.completedIDs(in: output).union(Self.completedIDs(in: failures))
        let remaining = conversations.filter { !done.contains($0.id) }
        let outputHandle = try Self.appending(output)
        let failureHandle = try Self.appending(failures)
        defer {
            try? outputHandle.close()
            try? failureHandle.close()
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let before = conversations.count - remaining.count
        var finished = before, failed = 0, reported = before
        var lastReport = start
        var engine = Slots(regenerator: self, conversations: remaining)
        try engine.run { index, result, generatedTokens in
            switch result {
            case .success(let conversation): try outputHandle.write(contentsOf: try Self.line(conversation))
            case .failure(let failure):
                failed += 1
                try failureHandle.write(contentsOf: try Self.line(failure))
            }
            finished += 1
            let now = DispatchTime.now().uptimeNanoseconds
            // Reported (and synced) every `batchSize` conversations, every 10 s and at the end.
            guard
                finished - reported >= options.batchSize || now - lastReport >= 10_000_000_000
                    || index == remaining.count - 1
            else { return }
            try outputHandle.synchronize()
            try failureHandle.synchronize()
            reported = finished
            lastReport = now
            let seconds = Double(now - start) / 1e9
            let rate = Double(finished - before) / max(seconds, 1e-9)
            try progress(
                Progress(
                    done: finished, total: conversations.count, failed: failed, generatedTokens: generatedTokens,
                    tokensPerSecond: Double(generatedTokens) / max(seconds, 1e-9),
                    eta: rate > 0 ? Double(conversations.count - finished) / rate : 0))
        }
    }

    /// The output is locked by another run (or its lock file cannot be made).
    public struct Busy: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// A conversation that could not be regenerated, with the reason.
    public struct Failure: Codable, Sendable, Error {
        public var id: String
        public var error: String
    }

    /// A conversation's messages with `options.systemPrompt` applied.
    func prepared(_ conversation: Conversation) -> [ChatMessage] {
        var messages = conversation.messages
        if let systemPrompt = options.systemPrompt {
            if messages.first?.role == "system" { messages.removeFirst() }
            messages.insert(ChatMessage(role: "system", content: systemPrompt), at: 0)
        }
        return messages
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

    /// Takes the exclusive lock `OUTPUT.lock` (a second run on the same output would write
    /// every conversation twice); the lock ends with the process.
    static func lock(_ output: URL) throws -> FileLock {
        do {
            return try FileLock(
                URL(fileURLWithPath: output.path + ".lock"),
                busy: "\(output.path): another data regenerate is writing this output; wait for it, "
                    + "or stop it and run again (the output resumes)")
        } catch let error as FileLock.Busy {
            throw Busy(description: error.description)
        }
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
