import Foundation
import FledgeData
import FledgeSpeculative
import FledgeTraining

/// The results of a finished recipe, read from what its stages wrote.
struct RecipeSummary {
    let recipe: Recipe
    let run: String
    let assets: String

    /// The value after `flag` in a stage's command line.
    func option(_ flag: String, in arguments: [String]) -> String? {
        guard let index = arguments.firstIndex(of: flag), index + 1 < arguments.count else { return nil }
        return arguments[index + 1]
    }

    func text() -> String {
        var lines: [String] = ["", "results"]
        for stage in recipe.stages {
            let arguments = recipe.expand(stage, run: run, assets: assets)
            switch (arguments.first, arguments.dropFirst().first) {
            case ("data", "prepare"):
                if let output = option("--output", in: arguments),
                    let data = try? Data(
                        contentsOf: URL(fileURLWithPath: output).appendingPathComponent("manifest.json")),
                    let manifest = try? JSONDecoder().decode(PreparedDatasetManifest.self, from: data)
                {
                    lines.append(
                        "  data       \(manifest.counts.train) training and "
                            + "\(manifest.counts.eval) eval conversations (\(output))"
                    )
                }
            case ("train", _):
                guard let save = option("--save-path", in: arguments) else { continue }
                if let records = try? JSONLLogger.read(
                    from: URL(fileURLWithPath: save).appendingPathComponent("logs/metrics.jsonl"))
                {
                    let train = records.filter { $0.kind == "train" }
                    let tokens = train.compactMap { $0.values["tokens"] }.reduce(0, +)
                    let seconds = train.compactMap { $0.values["step_seconds"] }.reduce(0, +)
                    lines.append(
                        String(
                            format: "  training   %d steps, %.0f tokens in %@ (%.0f tokens/s)", train.count, tokens,
                            RecipeRun.duration(seconds), tokens / max(seconds, 1e-9)))
                    if let last = records.last(where: { $0.kind == "eval" }) {
                        let accuracy = last.positions("acc").map { String(format: "%.2f", $0) }.joined(separator: " ")
                        lines.append(
                            String(
                                format: "  eval split step %d: simulated τ %.2f, accuracy by position %@", last.step,
                                last.values["tau"] ?? 0, accuracy))
                        lines += Self.positionTable(last).map { "    " + $0 }
                    }
                }
                lines.append("  report     \(save)/report.html")
                lines.append(
                    "  draft      \(save)/export (last step; \(save)/best: best simulated τ), "
                        + "EAGLE/SpecForge layout for vLLM and SGLang"
                )
            case ("eval", _):
                guard let output = option("--output", in: arguments),
                    let data = try? Data(contentsOf: URL(fileURLWithPath: output)),
                    let report = try? JSONDecoder().decode(SpeculativeEvaluation.Report.self, from: data)
                else { continue }
                lines.append(
                    String(
                        format: "  decoding   %d questions, %d turns; plain %.1f tokens/s", report.questions,
                        report.turns, report.plainTokensPerSecond))
                for mode in report.modes {
                    lines.append(
                        String(
                            format: "    %@ τ %.2f  %.1f tokens/s  %.2f× speedup  lossless: %@",
                            mode.mode.padding(toLength: 16, withPad: " ", startingAt: 0), mode.acceptanceLength,
                            mode.speculativeTokensPerSecond, mode.speedup,
                            mode.lossless.map { $0 ? "yes" : "NO" } ?? "n/a"))
                }
                if let table = EvalCommand.categoryTable(report) {
                    lines += table.split(separator: "\n").map { "    " + $0 }
                }
            case ("export", _):
                if let output = option("--output", in: arguments) { lines.append("  export     \(output)") }
            default:
                continue
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Accuracy and loss by position on the eval split with their standard deviation across
    /// eval samples (MiniCPM4's EAGLE-3 table); empty when the record has no spread.
    static func positionTable(_ record: MetricsRecord) -> [String] {
        let (accuracy, accuracySpread) = (record.positions("acc"), record.positions("acc_std"))
        let (loss, lossSpread) = (record.positions("loss"), record.positions("loss_std"))
        guard !accuracy.isEmpty, accuracySpread.count == accuracy.count, lossSpread.count == loss.count else {
            return []
        }
        var lines = ["position  accuracy          loss"]
        for k in accuracy.indices {
            let lossText = k < loss.count ? String(format: "%.3f ± %.3f", loss[k], lossSpread[k]) : ""
            lines.append(String(format: "%8d  %.3f ± %.3f     %@", k, accuracy[k], accuracySpread[k], lossText))
        }
        return lines
    }
}
