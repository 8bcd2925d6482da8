import ArgumentParser
import Foundation
import FledgeDraft
import FledgeLlama
import FledgeSpeculative
import FledgeWeights

/// `fledge eval`: acceptance length and wall-clock speedup of a draft on MT-bench, HumanEval or prompts.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract:
            "Speculative decoding (chain or EAGLE-2 tree; greedy, or sampled chains) vs plain decoding: "
            + "τ, per-position acceptance, time shares, tokens/s, speedup."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var sampling: SamplingOptionGroup
    @OptionGroup var speculation: SpeculationOptions
    @OptionGroup var length: LengthOptions

    @Option(
        help: """
            mtbench or mtbench:N (the first N questions, both turns), humaneval or humaneval:N (the HumanEval \
            prompts as user turns; Scripts/fetch-assets.sh humaneval).
            """)
    var bench = "mtbench:10"

    @Option(
        help: """
            Keep the first N questions of each category (MT-bench has 8 categories of 10), before the :N \
            limit: --bench mtbench --per-category 1 asks one question of each kind.
            """)
    var perCategory: Int?

    @Option(help: "A JSONL file of prompts ({\"turns\": [...]} or {\"prompt\": ...}) instead of --bench.")
    var prompts: String?

    @Option(
        name: .customLong("modes"), parsing: .upToNextOption,
        help: """
            Several modes in one run, sharing the plain baseline: chain:K and tree:TOPK/DEPTH/TOKENS \
            (e.g. chain:3 chain:5 tree:8/6/48).
            """
    )
    var modes: [String] = []

    func validate() throws {
        guard speculation.draft != nil else {
            throw ValidationError("eval needs --draft (an exported draft or a checkpoint)")
        }
        for text in modes where SpeculativeEvaluation.Mode(parsing: text).map({ $0 == .plain }) ?? true {
            throw ValidationError(
                "--modes: '\(text)' is not chain:K or tree:TOPK/DEPTH/TOKENS (K, TOPK, DEPTH ≥ 1, TOKENS ≥ 2)")
        }
        if let perCategory, perCategory < 1 { throw ValidationError("--per-category must be at least 1") }
        if modes.isEmpty && speculation.strategy == .plain {
            throw ValidationError("--mode plain: eval compares chain or tree decoding with plain")
        }
        for mode in chosenModes { try SpeculationOptions.check(mode, sampling: sampling.options) }
    }

    /// `--modes`, or the single `--mode`.
    var chosenModes: [SpeculativeEvaluation.Mode] {
        modes.isEmpty ? [speculation.strategy] : modes.compactMap { SpeculativeEvaluation.Mode(parsing: $0) }
    }

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Also write the JSON report to this file.")
    var output: String?

    func run() async throws {
        let url = try model.resolvedURL()
        let target = try TargetModel.load(from: url)
        let loaded = try DraftMethods.load(URL(fileURLWithPath: speculation.draft!), target: target.model)
        let questions: [SpeculativeEvaluation.Question]
        if let prompts {
            questions = try SpeculativeEvaluation.mtBench(URL(fileURLWithPath: prompts), perCategory: perCategory)
        } else {
            let parts = bench.split(separator: ":")
            let files = ["mtbench": "question.jsonl", "humaneval": "HumanEval.jsonl"]
            guard let name = parts.first, let file = files[String(name)], parts.count <= 2,
                parts.count == 1 || Int(parts[1]).map({ $0 >= 1 }) == true
            else {
                throw ValidationError("--bench must be mtbench, mtbench:N, humaneval or humaneval:N")
            }
            let url = DefaultAssets.directory.appendingPathComponent(file)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ValidationError("--bench \(name): \(url.path) is missing; run Scripts/fetch-assets.sh \(name)")
            }
            questions = try SpeculativeEvaluation.mtBench(
                url, limit: parts.count > 1 ? Int(parts[1]) : nil, perCategory: perCategory)
        }
        let temperature = sampling.temperature, topP = sampling.topP
        var line = ProgressLine(label: "eval")
        let started = DispatchTime.now().uptimeNanoseconds
        let report = try SpeculativeEvaluation.run(
            target: target, draft: loaded, questions: questions, modes: chosenModes, maxTokens: length.maxTokens,
            sampling: temperature > 0 ? sampling.options : nil, kernels: speculation.policy
        ) { done, total in
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let eta = elapsed / Double(done) * Double(total - done)
            line.update(done: done, total: total, rate: Double(done) / elapsed * 60, unit: "questions/min", eta: eta)
            if !line.interactive {
                printError(
                    String(format: "eval: %d/%d questions, %.0f s elapsed, ETA %.0f s", done, total, elapsed, eta))
            }
        }
        line.finish()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let encoded = try encoder.encode(report)
        if let output {
            try AtomicFile.write(encoded, to: URL(fileURLWithPath: output))
        }
        if json {
            print(String(decoding: encoded, as: UTF8.self))
            return
        }
        let decoding =
            temperature > 0
            ? String(format: "plain sampling (temperature %.2f, top-p %.2f)", temperature, topP)
            : "plain greedy decoding"
        print(
            String(
                format: "%d questions, %d turns, %d tokens (at most %d per turn); %@ %.1f tokens/s",
                report.questions, report.turns, report.generatedTokens, report.maxTokens, decoding,
                report.plainTokensPerSecond))
        print("mode               τ      acceptance by position          draft  target  tokens/s  speedup  lossless")
        for row in report.modes {
            let rates = row.acceptanceRates.map { String(format: "%.2f", $0) }.joined(separator: " ")
            let name = row.mode.padding(toLength: 18, withPad: " ", startingAt: 0)
            let ratesColumn = rates.padding(toLength: max(31, rates.count), withPad: " ", startingAt: 0)
            print(
                String(
                    format: "%@ %-6.3f %@ %4.0f%%  %5.0f%%  %8.1f  %6.2f×  %@", name, row.acceptanceLength, ratesColumn,
                    100 * row.draftTimeShare, 100 * row.targetTimeShare, row.speculativeTokensPerSecond, row.speedup,
                    row.lossless.map { $0 ? "yes" : "NO (\(row.mismatchedTurns) turns differ)" } ?? "n/a (sampled)"))
        }
        if let table = Self.categoryTable(report) { print("\n" + table) }
    }

    /// τ per question category (rows) and mode (columns), with each category's turns; nil when
    /// the questions have no categories.
    public static func categoryTable(_ report: SpeculativeEvaluation.Report) -> String? {
        guard let first = report.modes.first?.categories, !first.isEmpty else { return nil }
        var lines = [
            "τ by category      turns"
                + report.modes.map { "  " + $0.mode.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined()
        ]
        for (index, category) in first.enumerated() {
            var line =
                category.category.padding(toLength: 18, withPad: " ", startingAt: 0)
                + String(format: "%5d", category.turns)
            for mode in report.modes {
                guard let categories = mode.categories, index < categories.count else { continue }
                line += "  " + String(format: "%-12.3f", categories[index].acceptanceLength)
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
