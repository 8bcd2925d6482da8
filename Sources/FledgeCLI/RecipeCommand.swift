import ArgumentParser
import Foundation
import FledgeData
import FledgeSpeculative
import FledgeTraining
import FledgeWeights

/// A pipeline of fledge commands: prepare data, build the vocabulary, train, evaluate, export.
///
/// Each stage is a `fledge` command line with `${RUN}` (the run folder) and `${ASSETS}` (the
/// downloaded model and data) substituted. A stage that finished is recorded in
/// `RUN/stages/NAME.json` with its command line; the next run reuses it while the line is the
/// same and no earlier stage ran again, and a training stage that was killed resumes from its
/// last checkpoint.
public struct Recipe: Codable, Sendable {
    public struct Stage: Codable, Sendable {
        public var name: String
        public var command: [String]
        public var about: String?
    }

    public var name: String
    public var about: String
    public var stages: [Stage]

    /// The stage's command line with the variables substituted.
    func expand(_ stage: Stage, run: String, assets: String) -> [String] {
        stage.command.map { $0.replacingOccurrences(of: "${RUN}", with: run).replacingOccurrences(of: "${ASSETS}", with: assets) }
    }

    /// The recipes built into the binary (`fledge recipe show NAME` prints one to start from).
    public static let builtIn: [String: Recipe] = ["demo": demo, "long": long]

    /// `make demo`: a draft for SmolLM2 from a ShareGPT sample in about 20 minutes on 2 cores.
    public static let demo = Recipe(
        name: "demo",
        about: "EAGLE-3 draft for SmolLM2-135M-Instruct from 4,000 ShareGPT conversations: about 20 minutes on 2 cores",
        stages: [
            Stage(name: "prepare", command: ["data", "prepare", "${ASSETS}/ShareGPT_V3_unfiltered_cleaned_split.json", "--output", "${RUN}/data",
                                             "--max-conversations", "4000"],
                  about: "ShareGPT → unified JSONL, train/eval split"),
            Stage(name: "vocab", command: ["vocab", "--data-path", "${RUN}/data", "--draft-vocab-size", "8192", "--output", "${RUN}/vocab"],
                  about: "the 8,192 most frequent assistant tokens (d2t/t2d)"),
            Stage(name: "train", command: ["train", "--data-path", "${RUN}/data", "--d2t-path", "${RUN}/vocab/vocab.safetensors",
                                           "--save-path", "${RUN}/train", "--draft-vocab-size", "8192", "--max-length", "512",
                                           "--max-steps", "360", "--ttt-steps", "4", "--lr", "1e-3", "--warmup-ratio", "0.03",
                                           "--init-head-from-target", "--save-interval", "50", "--eval-interval", "100",
                                           "--max-eval-samples", "16", "--logger", "jsonl"],
                  about: "online EAGLE-3 training (the target runs in the loop), checkpoints every 50 steps"),
            Stage(name: "eval", command: ["eval", "--draft", "${RUN}/train/export", "--bench", "mtbench:8", "--modes", "tree:8/4/24", "chain:3",
                                          "--max-tokens", "64", "--output", "${RUN}/eval.json"],
                  about: "speculative vs plain decoding on the first 8 MT-bench questions, both turns"),
            Stage(name: "export", command: ["export", "--checkpoint", "${RUN}/train/export", "--format", "speculators", "--output", "${RUN}/export-speculators"],
                  about: "the draft in the speculators layout too (RUN/train/export is the EAGLE/SpecForge layout)"),
        ])

    /// A longer, better run: all of ShareGPT, 4× the steps, every MT-bench question (README:
    /// the figures of these command lines on this machine).
    public static let long = Recipe(
        name: "long",
        about: "EAGLE-3 draft for SmolLM2-135M-Instruct from all of ShareGPT, 1,300 steps, all 80 MT-bench questions: about 2 hours on 2 cores",
        stages: [
            Stage(name: "prepare", command: ["data", "prepare", "${ASSETS}/ShareGPT_V3_unfiltered_cleaned_split.json", "--output", "${RUN}/data"]),
            Stage(name: "vocab", command: ["vocab", "--data-path", "${RUN}/data", "--draft-vocab-size", "8192", "--output", "${RUN}/vocab"]),
            Stage(name: "train", command: ["train", "--data-path", "${RUN}/data", "--d2t-path", "${RUN}/vocab/vocab.safetensors",
                                           "--save-path", "${RUN}/train", "--max-length", "512", "--max-steps", "1300",
                                           "--draft-vocab-size", "8192", "--ttt-steps", "5", "--lr", "5e-4", "--warmup-ratio", "0.02",
                                           "--init-head-from-target", "--eval-interval", "250", "--save-interval", "100",
                                           "--max-eval-samples", "20", "--logger", "jsonl"]),
            Stage(name: "eval", command: ["eval", "--draft", "${RUN}/train/best", "--bench", "mtbench", "--modes", "chain:3", "chain:5", "tree:8/6/8",
                                          "--max-tokens", "64", "--output", "${RUN}/eval.json"]),
            Stage(name: "export", command: ["export", "--checkpoint", "${RUN}/train/best", "--format", "speculators", "--output", "${RUN}/export-speculators"]),
        ])

    /// A built-in name or a JSON file.
    static func load(_ nameOrPath: String) throws -> Recipe {
        if let recipe = builtIn[nameOrPath] { return recipe }
        let url = URL(fileURLWithPath: nameOrPath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CLIError("no recipe called \(nameOrPath) and no such file", hint: "built in: \(builtIn.keys.sorted().joined(separator: ", ")); or a JSON file (fledge recipe show demo)")
        }
        do {
            let recipe = try JSONDecoder().decode(Recipe.self, from: Data(contentsOf: url))
            for stage in recipe.stages where stage.command.isEmpty || stage.name.isEmpty || stage.name.contains("/") {
                throw CLIError("\(url.path): stage '\(stage.name)' needs a name (no '/') and a command")
            }
            guard Set(recipe.stages.map(\.name)).count == recipe.stages.count else { throw CLIError("\(url.path): two stages share a name") }
            return recipe
        } catch let error as DecodingError {
            throw CLIError("\(url.path): not a recipe: \(error)", hint: "fledge recipe show demo prints one")
        }
    }
}

/// What a finished stage leaves in `RUN/stages/NAME.json`.
struct StageRecord: Codable {
    var command: [String]
    var seconds: Double
    var finished: Date
}

/// `fledge recipe`: run, show and list pipelines.
struct RecipeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipe",
        abstract: "Run a whole pipeline (prepare, vocab, train, eval, export) from a recipe; finished stages are reused.",
        subcommands: [RecipeRun.self, RecipeShow.self, RecipeList.self],
        defaultSubcommand: RecipeRun.self
    )
}

struct RecipeList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the built-in recipes.")

    func run() throws {
        for name in Recipe.builtIn.keys.sorted() { print("\(name.padding(toLength: 8, withPad: " ", startingAt: 0)) \(Recipe.builtIn[name]!.about)") }
    }
}

struct RecipeShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print a recipe as JSON (a starting point for your own).")

    @Argument(help: "A built-in recipe or a JSON file.")
    var recipe = "demo"

    func run() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(try Recipe.load(recipe)), as: UTF8.self))
    }
}

struct RecipeRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a recipe's stages in order, reusing the ones that finished with the same command line."
    )

    @Argument(help: "A built-in recipe (demo, long) or a JSON file.")
    var recipe = "demo"

    @Option(name: .customLong("run-dir"), help: "The run folder (default: runs/NAME).")
    var runDirectory: String?

    @Option(parsing: .upToNextOption, help: "Run these stages again even if they finished.")
    var redo: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Print the command lines and what would be reused, run nothing.")
    var dryRun = false

    func run() async throws {
        let recipe = try Recipe.load(self.recipe)
        for name in redo where !recipe.stages.contains(where: { $0.name == name }) {
            throw ValidationError("--redo: the recipe has no stage \(name) (it has \(recipe.stages.map(\.name).joined(separator: ", ")))")
        }
        let run = runDirectory ?? "runs/\(recipe.name)"
        let assets = DefaultAssets.directory.path
        let stagesFolder = URL(fileURLWithPath: run).appendingPathComponent("stages")
        try FileManager.default.createDirectory(at: stagesFolder, withIntermediateDirectories: true)
        print("recipe \(recipe.name): \(recipe.about)")
        print("run folder \(run), assets \(assets)")
        var rows: [(String, String)] = []
        let started = Date()
        // Once a stage runs, every later one runs too: its inputs may have changed.
        var upstreamRan = false
        for (index, stage) in recipe.stages.enumerated() {
            let arguments = recipe.expand(stage, run: run, assets: assets)
            let recordURL = stagesFolder.appendingPathComponent("\(stage.name).json")
            let previous = (try? Data(contentsOf: recordURL)).flatMap { try? JSONDecoder.iso.decode(StageRecord.self, from: $0) }
            let header = "[\(index + 1)/\(recipe.stages.count)] \(stage.name)"
            if let previous, previous.command == arguments, !redo.contains(stage.name), !upstreamRan {
                print("\(header): reused (finished \(ISO8601DateFormatter().string(from: previous.finished)) in \(Self.duration(previous.seconds)))")
                rows.append((stage.name, "reused (\(Self.duration(previous.seconds)))"))
                continue
            }
            upstreamRan = true
            print("\(header): fledge \(arguments.map(Self.quoted).joined(separator: " "))")
            if let about = stage.about { print("    \(about)") }
            if dryRun {
                rows.append((stage.name, "would run"))
                continue
            }
            let begin = Date()
            var command = try FledgeCommand.parseAsRoot(arguments)
            do {
                if var asynchronous = command as? AsyncParsableCommand {
                    try await asynchronous.run()
                } else {
                    try command.run()
                }
            } catch {
                throw CLIError("recipe \(recipe.name), stage \(stage.name) failed: \(error)",
                               hint: "fix it and run the recipe again: finished stages are reused, training resumes from its last checkpoint")
            }
            let seconds = Date().timeIntervalSince(begin)
            try AtomicFile.write(try JSONEncoder.iso.encode(StageRecord(command: arguments, seconds: seconds, finished: Date())), to: recordURL)
            print("\(header): done in \(Self.duration(seconds))")
            rows.append((stage.name, "ran (\(Self.duration(seconds)))"))
        }
        if dryRun { return }
        print("")
        print("recipe \(recipe.name) finished in \(Self.duration(Date().timeIntervalSince(started)))")
        for (name, status) in rows { print("  \(name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(status)") }
        print(RecipeSummary(recipe: recipe, run: run, assets: assets).text())
    }

    static func duration(_ seconds: Double) -> String {
        seconds < 90 ? String(format: "%.0f s", seconds) : String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60)
    }

    static func quoted(_ argument: String) -> String {
        argument.contains(" ") || argument.isEmpty ? "'\(argument)'" : argument
    }
}

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
                   let data = try? Data(contentsOf: URL(fileURLWithPath: output).appendingPathComponent("manifest.json")),
                   let manifest = try? JSONDecoder().decode(PreparedDatasetManifest.self, from: data) {
                    lines.append("  data       \(manifest.counts.train) training and \(manifest.counts.eval) eval conversations (\(output))")
                }
            case ("train", _):
                guard let save = option("--save-path", in: arguments) else { continue }
                if let records = try? JSONLLogger.read(from: URL(fileURLWithPath: save).appendingPathComponent("logs/metrics.jsonl")) {
                    let train = records.filter { $0.kind == "train" }
                    let tokens = train.compactMap { $0.values["tokens"] }.reduce(0, +)
                    let seconds = train.compactMap { $0.values["step_seconds"] }.reduce(0, +)
                    lines.append(String(format: "  training   %d steps, %.0f tokens in %@ (%.0f tokens/s)", train.count, tokens, RecipeRun.duration(seconds), tokens / max(seconds, 1e-9)))
                    if let last = records.last(where: { $0.kind == "eval" }) {
                        let accuracy = last.positions("acc").map { String(format: "%.2f", $0) }.joined(separator: " ")
                        lines.append(String(format: "  eval split step %d: simulated τ %.2f, accuracy by position %@", last.step, last.values["tau"] ?? 0, accuracy))
                    }
                }
                lines.append("  report     \(save)/report.html")
                lines.append("  draft      \(save)/export (last step; \(save)/best: best simulated τ), EAGLE/SpecForge layout for vLLM and SGLang")
            case ("eval", _):
                guard let output = option("--output", in: arguments), let data = try? Data(contentsOf: URL(fileURLWithPath: output)),
                      let report = try? JSONDecoder().decode(SpeculativeEvaluation.Report.self, from: data) else { continue }
                lines.append(String(format: "  decoding   %d questions, %d turns; plain %.1f tokens/s", report.questions, report.turns, report.plainTokensPerSecond))
                for mode in report.modes {
                    lines.append(String(format: "    %@ τ %.2f  %.1f tokens/s  %.2f× speedup  lossless: %@", mode.mode.padding(toLength: 16, withPad: " ", startingAt: 0), mode.acceptanceLength,
                                        mode.speculativeTokensPerSecond, mode.speedup, mode.lossless.map { $0 ? "yes" : "NO" } ?? "n/a"))
                }
            case ("export", _):
                if let output = option("--output", in: arguments) { lines.append("  export     \(output)") }
            default:
                continue
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension JSONDecoder {
    static var iso: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

extension JSONEncoder {
    static var iso: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
