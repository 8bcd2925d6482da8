import ArgumentParser
import Foundation
import FledgeWeights

/// `fledge recipe run`.
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
            throw ValidationError(
                "--redo: the recipe has no stage \(name) (it has \(recipe.stages.map(\.name).joined(separator: ", ")))")
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
            let previous = (try? Data(contentsOf: recordURL)).flatMap {
                try? JSONDecoder.iso.decode(StageRecord.self, from: $0)
            }
            let header = "[\(index + 1)/\(recipe.stages.count)] \(stage.name)"
            if let previous, previous.command == arguments, !redo.contains(stage.name), !upstreamRan {
                print(
                    "\(header): reused (finished \(ISO8601DateFormatter().string(from: previous.finished)) "
                        + "in \(Self.duration(previous.seconds)))"
                )
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
                throw CLIError(
                    "recipe \(recipe.name), stage \(stage.name) failed: \(error)",
                    hint:
                        "fix it and run the recipe again: finished stages are reused, "
                        + "training resumes from its last checkpoint"
                )
            }
            let seconds = Date().timeIntervalSince(begin)
            try AtomicFile.write(
                try JSONEncoder.iso.encode(StageRecord(command: arguments, seconds: seconds, finished: Date())),
                to: recordURL)
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
        seconds < 90
            ? String(format: "%.0f s", seconds) : String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60)
    }

    static func quoted(_ argument: String) -> String {
        argument.contains(" ") || argument.isEmpty ? "'\(argument)'" : argument
    }
}
