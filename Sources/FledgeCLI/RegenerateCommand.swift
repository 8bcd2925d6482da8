import ArgumentParser
import Foundation
import FledgeData
import FledgeLlama

/// `fledge data regenerate`: replace assistant turns by the target's own answers.
struct RegenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "regenerate",
        abstract:
            "Replace every assistant turn by the target's answer (turn by turn, continuous batching), "
            + "resumable; failures go to a separate file."
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .customLong("data-path"), help: "Prepared data (folder or unified JSONL).")
    var dataPath: String

    @Option(name: .customLong("split"), help: "Which split of a prepared folder to read.")
    var split = "train"

    @Option(help: "Output JSONL (appended; ids already in it are skipped).")
    var output: String

    @Option(help: "Where failed conversations go (default: OUTPUT with .failed.jsonl).")
    var failures: String?

    @Option(name: .customLong("max-tokens"), help: "Most tokens per answer.")
    var maxTokens = 512

    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature: Float = 0.7

    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass.")
    var topP: Float = 1

    @Option(help: "Seed (each conversation turn gets its own stream from it).")
    var seed: UInt64 = 0

    @Option(name: .customLong("batch-size"), help: "Conversations decoded together (continuous batching).")
    var batchSize = 8

    @Option(
        name: .customLong("max-length"),
        help: ArgumentHelp(
            "Longest conversation in tokens: later turns are dropped, the last answer stops there "
                + "(default: the model's positions, at most 2048; use the training --max-length)."))
    var maxLength: Int?

    @Option(name: .customLong("max-conversations"), help: "Regenerate only the first N.")
    var maxConversations: Int?

    @Option(name: .customLong("system-prompt"), help: "Replace (or add) the system message.")
    var systemPrompt: String?

    func validate() throws {
        guard maxTokens >= 1, batchSize >= 1, (maxLength ?? 2) >= 2 else {
            throw ValidationError("--max-tokens and --batch-size must be positive, --max-length at least 2")
        }
        guard temperature >= 0, topP > 0, topP <= 1 else {
            throw ValidationError("--temperature ≥ 0 and --top-p in (0, 1]")
        }
    }

    func run() async throws {
        let target = try TargetModel.load(from: try model.resolvedURL())
        var conversations = try ConversationFile.read(URL(fileURLWithPath: dataPath), split: split)
        if let maxConversations { conversations = Array(conversations.prefix(maxConversations)) }
        var options = Regenerator.Options()
        options.maxTokens = maxTokens
        options.sampling = SamplingOptions(temperature: temperature, topP: topP, seed: seed)
        options.batchSize = batchSize
        options.maxLength = maxLength
        options.systemPrompt = systemPrompt
        let outputURL = URL(fileURLWithPath: output)
        let failureURL = URL(fileURLWithPath: failures ?? Regenerator.defaultFailuresPath(output: output))
        var line = ProgressLine(label: "regenerate")
        var last: Regenerator.Progress?
        try Regenerator(target: target, options: options).run(conversations, output: outputURL, failures: failureURL) {
            progress in
            last = progress
            line.update(
                done: progress.done, total: progress.total, rate: progress.tokensPerSecond, unit: "tokens",
                eta: progress.eta)
            if !line.interactive {  // logs and recipes: a line per report
                printError(
                    String(
                        format: "regenerate: %d/%d conversations, %d tokens, %.0f tokens/s, ETA %.0f s", progress.done,
                        progress.total, progress.generatedTokens, progress.tokensPerSecond, progress.eta))
            }
        }
        line.finish()
        let summary =
            last.map {
                "\($0.done) of \($0.total) conversations done, \($0.failed) failed this run, "
                    + "\($0.generatedTokens) tokens generated"
            }
            ?? "nothing to do: every conversation is already in \(output)"
        print(summary)
        print("output: \(outputURL.path)\nfailures: \(failureURL.path)")
    }
}
