import ArgumentParser
import Foundation
import FledgeData
import FledgeLlama

/// Prepared data and how it is tokenised (the flags SpecForge users know).
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data-path"), help: "Prepared data: a folder from fledge data prepare (train.jsonl) or a unified JSONL file.")
    var dataPath: String

    @Option(name: .customLong("max-length"), help: "Longest sample in tokens; longer ones are truncated (or dropped with --drop-long).")
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
        let url = URL(fileURLWithPath: dataPath)
        var isDirectory: ObjCBool = false
        FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        let file = isDirectory.boolValue ? url.appendingPathComponent("\(split).jsonl") : url
        return try Fingerprint.of(file) + "|max=\(maxLength)|drop=\(dropLong)|system=\(systemPrompt ?? "-")"
    }
}

/// A one-line progress display on a terminal (rate and ETA), silent otherwise.
struct ProgressLine {
    let label: String
    let interactive = isatty(STDERR_FILENO) != 0
    var lastUpdate: UInt64 = 0

    mutating func update(done: Int, total: Int, rate: Double, unit: String, eta: Double?) {
        guard interactive else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastUpdate > 200_000_000 || done == total else { return }
        lastUpdate = now
        let percent = total > 0 ? 100 * Double(done) / Double(total) : 0
        let remaining = eta.map { String(format: " ETA %dm%02ds", Int($0) / 60, Int($0) % 60) } ?? ""
        let text = String(format: "\r%@ %d/%d (%.0f%%) %.1f %@/s%@\u{1B}[K", label, done, total, percent, rate, unit, remaining)
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
