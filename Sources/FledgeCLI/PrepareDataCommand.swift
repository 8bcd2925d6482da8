import ArgumentParser
import FledgeData
import Foundation

/// `fledge data prepare`: conversation files → `train.jsonl`, `eval.jsonl`, `manifest.json`
/// (the library's `ConversationPreparer`; formats and rules in `docs/data-prepare.md`).
struct PrepareDataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Normalise conversation files into unified JSONL (train.jsonl, eval.jsonl, manifest.json).",
        discussion: """
            Reads ShareGPT ("conversations": [{"from", "value"}]) and OpenAI/UltraChat ("messages": \
            [{"role", "content"}]) records from JSON arrays or JSON Lines files, or folders of them \
            (*.json, *.jsonl, *.ndjson). Roles are normalised, broken conversations repaired or \
            skipped (counted by reason), duplicates dropped, and the rest split into train and \
            eval by a hash of each id and --seed. A truncated file keeps its complete records.
            """
    )

    @Argument(help: ArgumentHelp("Conversation files or folders.", valueName: "input"))
    var inputs: [String] = []

    @Option(
        name: [.short, .long],
        help: ArgumentHelp("Folder for train.jsonl, eval.jsonl and manifest.json.", valueName: "dir"))
    var output: String

    @Option(name: .customLong("eval-fraction"), help: "Fraction of conversations held out in eval.jsonl, in [0, 1).")
    var evalFraction = ConversationPreparationOptions.defaultEvalFraction

    @Option(help: "Seed of the train/eval split.")
    var seed: UInt64 = 0

    @Option(name: .customLong("max-conversations"), help: "Stop after this many conversations are kept.")
    var maxConversations: Int?

    @Flag(help: "Print the summary as JSON (the manifest plus timing) instead of a table.")
    var json = false

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("name at least one input file or folder") }
        guard evalFraction >= 0, evalFraction < 1 else {
            throw ValidationError("--eval-fraction must be in [0, 1), got \(evalFraction)")
        }
        if let maxConversations, maxConversations < 1 {
            throw ValidationError("--max-conversations must be at least 1")
        }
    }

    /// The library options these flags stand for.
    var preparationOptions: ConversationPreparationOptions {
        ConversationPreparationOptions(
            inputs: inputs, outputDirectory: output, evalFraction: evalFraction, seed: seed,
            maxConversations: maxConversations)
    }

    func run() async throws {
        let display = PrepareProgressDisplay(interactive: isatty(STDERR_FILENO) != 0)
        let summary = try ConversationPreparer(options: preparationOptions).run(
            progress: display.update, issue: display.report)
        display.finish()
        print(json ? try Self.jsonSummary(summary) : Self.table(summary), terminator: "")
    }

    // MARK: - Output

    /// `--json`: `{"output", "elapsed_seconds", "bytes_read", "manifest"}`, sorted keys.
    static func jsonSummary(_ summary: ConversationPreparationSummary) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(JSONSummary(summary)), as: UTF8.self) + "\n"
    }

    /// The summary table printed at the end of a run.
    static func table(_ summary: ConversationPreparationSummary) -> String {
        let manifest = summary.manifest
        let counts = manifest.counts
        var rows: [(String, String)] = []
        let totalBytes = manifest.inputs.reduce(0) { $0 + $1.bytes }
        rows.append(
            (
                "inputs",
                "\(manifest.inputs.count) file\(manifest.inputs.count == 1 ? "" : "s"), \(megabytes(totalBytes))"
            ))
        rows.append(("records read", grouped(counts.recordsRead)))
        rows.append(("kept", "\(grouped(counts.kept)) (train \(grouped(counts.train)), eval \(grouped(counts.eval)))"))
        rows.append(("duplicates", grouped(counts.duplicates)))
        rows.append(("skipped", grouped(counts.skippedTotal)))
        for (reason, count) in counts.skipped.sorted(by: { $0.key < $1.key }) {
            rows.append(("  " + reason, grouped(count)))
        }
        rows.append(("repaired", "\(grouped(counts.conversationsRepaired)) conversations"))
        for (repair, count) in counts.repairs.sorted(by: { $0.key < $1.key }) {
            rows.append(("  " + repair, "\(grouped(count)) turns"))
        }
        rows.append(("ids renamed", grouped(counts.idsRenamed)))
        rows.append(("roles read", describe(manifest.roles)))
        rows.append(("unknown roles", manifest.unknownRoles.isEmpty ? "none" : describe(manifest.unknownRoles)))
        rows.append(("messages written", describe(counts.messages)))
        for input in manifest.inputs {
            if let truncation = input.truncation {
                rows.append(
                    (
                        "truncated",
                        "\(input.path) at byte \(grouped(truncation.byteOffset)) "
                            + "(\(grouped(truncation.droppedBytes)) bytes dropped)"
                    ))
            }
        }
        if counts.stoppedAtMaxConversations {
            rows.append(("stopped", "at --max-conversations \(manifest.maxConversations ?? 0)"))
        }
        rows.append(("issues", "\(grouped(manifest.issueCount)) (listed in manifest.json)"))
        rows.append(("output", summary.outputDirectory.path))
        let seconds = summary.elapsedSeconds
        let rate =
            seconds > 0
            ? String(format: "%.1f MB/s", Double(summary.bytesRead) / 1e6 / seconds)
                + ", \(grouped(Int(Double(counts.recordsRead) / seconds))) records/s"
            : "-"
        rows.append(("time", String(format: "%.2f s", seconds) + " (\(rate))"))
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + $0.1 + "\n" }.joined()
    }

    private static func describe(_ counts: [String: Int]) -> String {
        counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key) \(grouped($0.value))" }.joined(
            separator: ", ")
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (value < 0 ? "-" : "") + out
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
}

/// The `--json` document.
private struct JSONSummary: Encodable {
    var output: String
    var elapsedSeconds: Double
    var bytesRead: Int
    var manifest: PreparedDatasetManifest

    init(_ summary: ConversationPreparationSummary) {
        output = summary.outputDirectory.path
        elapsedSeconds = (summary.elapsedSeconds * 1000).rounded() / 1000
        bytesRead = summary.bytesRead
        manifest = summary.manifest
    }

    enum CodingKeys: String, CodingKey {
        case output, manifest
        case elapsedSeconds = "elapsed_seconds"
        case bytesRead = "bytes_read"
    }
}
