import ArgumentParser
import Foundation
import FledgeDraft
import FledgeLlama
import FledgeSpeculative
import FledgeTraining

/// `fledge eval`: acceptance length and wall-clock speedup of a draft on MT-bench or prompts.
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Greedy speculative decoding (chain or EAGLE-2 tree) vs plain decoding: τ, per-position acceptance, time shares, tokens/s, speedup."
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "An exported draft folder or a training checkpoint.")
    var draft: String

    @Option(help: "mtbench or mtbench:N (the first N questions, both turns).")
    var bench = "mtbench:10"

    @Option(help: "A JSONL file of prompts ({\"turns\": [...]} or {\"prompt\": ...}) instead of --bench.")
    var prompts: String?

    @Option(help: "chain or tree (EAGLE-2 dynamic tree).")
    var mode = "chain"

    @Option(help: "Draft tokens per cycle (chain).")
    var steps = 3

    @Option(name: .customLong("top-k"), help: "Children per expanded node (tree).")
    var topK = 8

    @Option(help: "Tree depth.")
    var depth = 6

    @Option(name: .customLong("tree-tokens"), help: "Tokens verified per cycle (tree, the root included).")
    var treeTokens = 48

    func validate() throws {
        guard mode == "chain" || mode == "tree" else { throw ValidationError("--mode must be chain or tree") }
        guard steps >= 1, topK >= 1, depth >= 1, treeTokens >= 2 else { throw ValidationError("--steps, --top-k, --depth ≥ 1 and --tree-tokens ≥ 2") }
    }

    @Option(name: .customLong("max-tokens"), help: "Most new tokens per turn.")
    var maxTokens = 256

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let url = try model.resolvedURL()
        let target = try TargetModel.load(from: url)
        let source = URL(fileURLWithPath: draft)
        let loaded = try CheckpointDraft.loadAny(source, target: target.model)
        let questions: [[String]]
        if let prompts {
            questions = try SpeculativeEvaluation.mtBench(URL(fileURLWithPath: prompts))
        } else {
            let parts = bench.split(separator: ":")
            guard parts.first == "mtbench" else { throw ValidationError("--bench must be mtbench or mtbench:N") }
            questions = try SpeculativeEvaluation.mtBench(DefaultAssets.directory.appendingPathComponent("question.jsonl"), limit: parts.count > 1 ? Int(parts[1]) : nil)
        }
        let decoder = SpeculativeDecoder(target: target.model, draft: loaded, capacity: target.model.configuration.maxPositions)
        var line = ProgressLine(label: "eval")
        let chosen: SpeculativeEvaluation.Mode = mode == "tree" ? .tree(topK: topK, depth: depth, treeTokens: treeTokens) : .chain(steps: steps)
        let report = try SpeculativeEvaluation.run(target: target, decoder: decoder, questions: questions, mode: chosen, maxTokens: maxTokens) { done, total in
            line.update(done: done, total: total, rate: 0, unit: "questions", eta: nil)
        }
        line.finish()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        let label = mode == "tree" ? "tree top-k \(topK), depth \(depth), \(treeTokens) tokens" : "chain K = \(steps)"
        print(String(format: "%d questions, %d turns, %@, %d tokens", report.questions, report.turns, label, report.generatedTokens))
        print(String(format: "τ (tokens per target forward) %.3f; acceptance per position %@", report.acceptanceLength,
                     report.acceptanceRates.map { String(format: "%.2f", $0) }.joined(separator: " ")))
        print(String(format: "time: draft %.0f%%, target %.0f%%; plain %.1f tokens/s, speculative %.1f tokens/s, speedup %.2f×; lossless: %@",
                     100 * report.draftTimeShare, 100 * report.targetTimeShare, report.plainTokensPerSecond, report.speculativeTokensPerSecond,
                     report.speedup, report.lossless ? "yes" : "NO"))
    }
}
