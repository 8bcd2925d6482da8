import ArgumentParser
import Foundation
import Testing
@testable import FledgeCLI
import FledgeSpeculative
import FledgeTestSupport
import FledgeTraining

@Suite struct RecipeCommandTests {
    /// Every stage of the built-in recipes is a valid fledge command line (flags spelled right).
    @Test(arguments: ["demo", "long", "regen"])
    func builtInStagesParse(_ name: String) throws {
        let recipe = try #require(Recipe.builtIn[name])
        #expect(
            recipe.stages.map(\.name)
                == (name == "regen"
                    ? ["prepare", "regen", "regen-eval", "vocab", "train", "eval"]
                    : ["prepare", "vocab", "train", "eval", "export"]))
        for stage in recipe.stages {
            let arguments = recipe.expand(stage, run: "/tmp/run", assets: "/tmp/assets")
            #expect(!arguments.joined().contains("${"), "\(stage.name): a variable was left")
            #expect(throws: Never.self, "\(name)/\(stage.name)") { _ = try FledgeCommand.parseAsRoot(arguments) }
        }
    }

    @Test func badRecipesAreClearErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-recipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect { try Recipe.load("nonesuch") } throws: { "\($0)".contains("no recipe called nonesuch") }
        let file = folder.appendingPathComponent("r.json")
        try Data(#"{"name": "x", "about": "y", "stages": [{"name": "a", "command": []}]}"#.utf8).write(to: file)
        #expect { try Recipe.load(file.path) } throws: {
            "\($0)".contains("needs a name") && "\($0)".contains(file.path)
        }
        try Data(#"{"name": "x", "stages": 3}"#.utf8).write(to: file)
        #expect { try Recipe.load(file.path) } throws: { "\($0)".contains("not a recipe") }
        #expect(throws: (any Error).self) { try FledgeCommand.parseAsRoot(["recipe", "run", "demo", "--redo"]) }
    }

    /// The whole pipeline on the real SmolLM2 at toy size: prepare → vocab → train → eval →
    /// export, then a second run that reuses every stage, and a --redo of one.
    @Test(
        .enabled(
            if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"))
    func aToyRecipeRunsEndToEndAndIsReused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-recipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let conversations = (0..<24).map { index in
            #"{"id": "c\#(index)", "messages": [{"role": "user", "content": "Name a colour, please (\#(index))."}, "#
                + #"{"role": "assistant", "content": "Blue is a colour; so is red, and green \#(index)."}]}"#
        }
        try Data((conversations.joined(separator: "\n") + "\n").utf8).write(
            to: folder.appendingPathComponent("chat.jsonl"))
        try Data(#"{"turns": ["What is a colour?"]}"#.utf8).write(to: folder.appendingPathComponent("prompts.jsonl"))
        let model = TestAssets.smolLM2.path
        let recipe = Recipe(
            name: "toy", about: "toy",
            stages: [
                .init(
                    name: "prepare",
                    command: [
                        "data", "prepare", "${RUN}/../chat.jsonl", "--output", "${RUN}/data", "--eval-fraction", "0.1",
                    ]),
                .init(
                    name: "vocab",
                    command: [
                        "vocab", "--model", model, "--data-path", "${RUN}/data", "--draft-vocab-size", "64", "--output",
                        "${RUN}/vocab", "--cache-dir", "${RUN}/vocab-cache",
                    ]),
                .init(
                    name: "train",
                    command: [
                        "train", "--target-model-path", model, "--data-path", "${RUN}/data", "--d2t-path",
                        "${RUN}/vocab/vocab.safetensors",
                        "--save-path", "${RUN}/train", "--draft-vocab-size", "64", "--max-length", "48", "--max-steps",
                        "3",
                        "--ttt-steps", "2", "--eval-interval", "3", "--save-interval", "2", "--logger", "jsonl",
                    ]),
                .init(
                    name: "eval",
                    command: [
                        "eval", "--model", model, "--draft", "${RUN}/train/export", "--prompts",
                        "${RUN}/../prompts.jsonl",
                        "--modes", "chain:2", "tree:4/3/12", "--max-tokens", "10", "--output", "${RUN}/eval.json",
                    ]),
                .init(
                    name: "export",
                    command: [
                        "export", "--model", model, "--checkpoint", "${RUN}/train/export", "--format", "speculators",
                        "--output", "${RUN}/spec",
                    ]),
            ])
        let file = folder.appendingPathComponent("toy.json")
        try JSONEncoder().encode(recipe).write(to: file)
        let run = folder.appendingPathComponent("run")

        let first = try #require(
            try FledgeCommand.parseAsRoot(["recipe", "run", file.path, "--run-dir", run.path]) as? RecipeRun)
        try await first.run()
        for stage in recipe.stages.map(\.name) {
            #expect(
                FileManager.default.fileExists(atPath: run.appendingPathComponent("stages/\(stage).json").path),
                "\(stage) not recorded")
        }
        let report = try JSONDecoder().decode(
            SpeculativeEvaluation.Report.self, from: Data(contentsOf: run.appendingPathComponent("eval.json")))
        // Lossless with the quantised target: chain verification (3 rows) on the GGUF blocks,
        // tree verification (12 rows) on Float32 weights, decode steps on the blocks.
        #expect(report.turns == 1 && report.modes.count == 2 && report.modes.allSatisfy { $0.lossless == true })
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("spec/config.json").path))
        let summary = RecipeSummary(recipe: recipe, run: run.path, assets: "").text()
        #expect(
            summary.contains("training   3 steps") && summary.contains("chain K = 2")
                && summary.contains("lossless: yes"), "\(summary)")

        // Reused: nothing runs again (the eval report is not rewritten).
        let written =
            try FileManager.default.attributesOfItem(atPath: run.appendingPathComponent("eval.json").path)[
                .modificationDate] as? Date
        let second = try #require(
            try FledgeCommand.parseAsRoot(["recipe", "run", file.path, "--run-dir", run.path]) as? RecipeRun)
        try await second.run()
        #expect(
            try FileManager.default.attributesOfItem(atPath: run.appendingPathComponent("eval.json").path)[
                .modificationDate] as? Date == written)

        // --redo runs that stage again, and the stages after it (their inputs may have changed).
        func finished(_ stage: String) throws -> Date? {  // the record's modification time (sub-second)
            try FileManager.default.attributesOfItem(atPath: run.appendingPathComponent("stages/\(stage).json").path)[
                .modificationDate] as? Date
        }
        let (trained, exported) = (try finished("train"), try finished("export"))
        let third = try #require(
            try FledgeCommand.parseAsRoot(["recipe", "run", file.path, "--run-dir", run.path, "--redo", "eval"])
                as? RecipeRun)
        try await third.run()
        #expect(
            try FileManager.default.attributesOfItem(atPath: run.appendingPathComponent("eval.json").path)[
                .modificationDate] as? Date != written)
        #expect(try finished("train") == trained && finished("export") != exported)
    }
}

/// The recipe summary's tables: accuracy and loss by position with their spread, and τ by
/// question category.
struct RecipeSummaryTableTests {
    @Test func positionTableShowsMeansAndSpread() {
        let record = MetricsRecord(
            kind: "eval", step: 10, epoch: 0,
            values: [
                "acc/0": 0.5, "acc/1": 0.25, "acc_std/0": 0.1, "acc_std/1": 0.05, "loss/0": 2, "loss/1": 3,
                "loss_std/0": 0.5, "loss_std/1": 0.25,
            ], time: 0)
        #expect(
            RecipeSummary.positionTable(record) == [
                "position  accuracy          loss", "       0  0.500 ± 0.100     2.000 ± 0.500",
                "       1  0.250 ± 0.050     3.000 ± 0.250",
            ])
        // Without the spread (one eval batch, or an older log): no table.
        #expect(
            RecipeSummary.positionTable(MetricsRecord(kind: "eval", step: 1, epoch: 0, values: ["acc/0": 1], time: 0))
                .isEmpty)
    }

    @Test func categoryTableHasARowPerCategory() throws {
        func mode(_ name: String, _ taus: [Double]) -> String {
            let categories = zip(["writing", "math"], taus).map {
                "{\"category\": \"\($0)\", \"turns\": 2, \"acceptanceLength\": \($1), \"acceptanceRates\": [0.5]}"
            }
            return """
                {"mode": "\(name)", "steps": 1, "acceptanceLength": 1.5, "acceptanceRates": [0.5], "cycles": 4,
                 "draftTimeShare": 0.1, "targetTimeShare": 0.9, "speculativeTokensPerSecond": 10, "speedup": 1,
                 "lossless": true, "mismatchedTurns": 0, "categories": [\(categories.joined(separator: ", "))]}
                """
        }
        let json = """
            {"questions": 2, "turns": 4, "generatedTokens": 8, "maxTokens": 4, "plainTokensPerSecond": 10,
             "modes": [\(mode("chain K = 1", [1.25, 1.5])), \(mode("tree 4/3/8", [1.75, 2]))]}
            """
        let report = try JSONDecoder().decode(SpeculativeEvaluation.Report.self, from: Data(json.utf8))
        let lines = EvalCommand.categoryTable(report)?.split(separator: "\n").map(String.init) ?? []
        #expect(lines.count == 3 && lines[1].hasPrefix("writing") && lines[2].hasPrefix("math"))
        #expect(lines[1].contains("1.250") && lines[1].contains("1.750") && lines[2].contains("2.000"))
    }
}
