import ArgumentParser
import Foundation
import FledgeData
import FledgeLlama

/// Prepared data and how it is tokenised (the flags SpecForge users know).
struct DataOptions: ParsableArguments {
    @Option(
        name: .customLong("data-path"),
        help: "Prepared data: a folder from fledge data prepare (train.jsonl) or a unified JSONL file.")
    var dataPath: String

    @Option(
        name: .customLong("max-length"),
        help: "Longest sample in tokens; longer ones are truncated (or dropped with --drop-long).")
    var maxLength = 2048

    @Flag(name: .customLong("drop-long"), help: "Drop samples longer than --max-length instead of truncating them.")
    var dropLong = false

    @Option(name: .customLong("system-prompt"), help: "Replace (or add) the system message of every conversation.")
    var systemPrompt: String?

    @Option(name: .customLong("split"), help: "Which split of a prepared folder to read.")
    var split = "train"

    func validate() throws {
        guard maxLength >= 2 else { throw ValidationError("--max-length must be at least 2") }
    }

    func conversations() throws -> [Conversation] {
        try ConversationFile.read(URL(fileURLWithPath: dataPath), split: split)
    }

    func tokenizer(_ format: ChatFormat) -> ConversationTokenizer {
        ConversationTokenizer(format: format, maxLength: maxLength, dropLong: dropLong, systemPrompt: systemPrompt)
    }

    /// A fingerprint of the data file and every tokenisation setting.
    func fingerprint() throws -> String {
        try ConversationFile.fingerprint(
            URL(fileURLWithPath: dataPath), split: split, maxLength: maxLength,
            dropLong: dropLong, systemPrompt: systemPrompt)
    }
}
