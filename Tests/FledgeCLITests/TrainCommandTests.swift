import ArgumentParser
import Foundation
import Testing
@testable import FledgeCLI
import FledgeDraft
import FledgeTraining

@Suite struct TrainCommandTests {
    @Test func flagsUseTheNamesSpecForgeUsersKnowAndOverrideTheConfigFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("run.yaml")
        try "lr: 3e-4\nttt_steps: 5\nbatch_size: 2\nnum_layers: 3\n".write(to: file, atomically: true, encoding: .utf8)
        let command = try #require(
            try FledgeCommand.parseAsRoot([
                "train", "--config", file.path, "--verifier-name-or-path", "t.gguf", "--data-path", "d", "--ttt-steps",
                "3",
                "--ttt-step-loss-decay", "0.9", "--draft-vocab-size", "8000", "--logger", "jsonl", "--logger",
                "tensorboard",
                "--no-resume-from-checkpoint", "--scheduler", "linear", "--b2", "0.999",
            ]) as? TrainCommand)
        let c = try command.resolved()
        #expect(c.targetModelPath == "t.gguf" && c.dataPath == "d")
        #expect(c.learningRate == 3e-4 && c.batchSize == 2)  // from the file
        #expect(c.tttSteps == 3 && c.tttStepLossDecay == 0.9)  // flags win
        #expect(c.draftVocabSize == 8000 && c.loggers == ["jsonl", "tensorboard"] && !c.resume)
        #expect(c.scheduler == .linear && c.beta2 == 0.999)
        #expect(c.numLayers == 3 && c.draftSettings.layerCount == 3)  // from the file
        let flag = try #require(try FledgeCommand.parseAsRoot(["train", "--num-layers", "2"]) as? TrainCommand)
        #expect(try flag.resolved().numLayers == 2)
    }

    @Test func badValuesAreRejectedWhileParsing() {
        for arguments in [
            ["train", "--ttt-steps", "0"], ["train", "--scheduler", "sawtooth"], ["train", "--logger", "wandb"],
            ["train", "--warmup-ratio", "1.5"], ["train", "--method", "eagle2"],
            ["train", "--method", "eagle1", "--d2t-path", "v.safetensors"],
            ["train", "--method", "eagle1", "--init-head-from-target"],
            ["train", "--method", "eagle1", "--draft-vocab-size", "8192"], ["train", "--v-w", "1"],
            ["train", "--fc-bias"],
            ["train", "--method", "eagle3", "--noise-high", "0.2"],
            ["train", "--num-layers", "0"], ["train", "--num-layers", "17"],
            ["train", "--method", "eagle1", "--num-layers", "2"],
        ] {
            #expect(throws: (any Error).self, "\(arguments)") { try FledgeCommand.parseAsRoot(arguments) }
        }
    }

    @Test func eagle1SettingsParseWithTheirMethod() throws {
        let command = try #require(
            try FledgeCommand.parseAsRoot([
                "train", "--method", "eagle1", "--v-w", "0.5", "--noise-low", "0", "--noise-high", "0",
            ]) as? TrainCommand)
        let settings = Eagle1Method.losses(try command.resolved().draftSettings)
        #expect(settings.vWeight == 0.5 && settings.pWeight == 0.1 && settings.noise == nil && !settings.fcBias)
        #expect(Eagle1Method.losses(TrainingConfiguration().draftSettings).noise == -0.1...0.1)
    }

    @Test func benchRanksParseBothWays() throws {
        for arguments in [["bench", "train", "--ranks", "1", "2"], ["bench", "train", "--ranks", "1,2"]] {
            let command = try #require(try FledgeCommand.parseAsRoot(arguments) as? BenchTrain)
            #expect(command.ranks == [1, 2], "\(arguments)")
        }
        for bad in [
            ["bench", "train", "--ranks", "0"], ["bench", "train", "--ranks", "1,x"],
            ["bench", "train", "--ranks", "2", "--global-batch", "3"],
        ] {
            #expect(throws: (any Error).self, "\(bad)") { try FledgeCommand.parseAsRoot(bad) }
        }
    }

    /// The speculators layout names a verifier the servers can load: never the GGUF itself
    /// when its source repository is known.
    @Test func exportsNameALoadableVerifier() {
        #expect(DefaultAssets.verifierName(for: DefaultAssets.smolLM2) == "HuggingFaceTB/SmolLM2-135M-Instruct")
        #expect(DefaultAssets.verifierName(for: URL(fileURLWithPath: "/models/other.Q4_K.gguf")) == "other.Q4_K.gguf")
        #expect(DefaultAssets.verifierName(for: URL(fileURLWithPath: "/models/llama-3.1-8b")) == "/models/llama-3.1-8b")
    }

    @Test func evalAndExportParse() throws {
        let eval = try #require(
            try FledgeCommand.parseAsRoot(["eval", "--draft", "runs/x/export", "--bench", "mtbench:5", "--steps", "4"])
                as? EvalCommand)
        #expect(eval.speculation.steps == 4 && eval.bench == "mtbench:5" && eval.chosenModes == [.chain(steps: 4)])
        let export = try #require(
            try FledgeCommand.parseAsRoot(["export", "--checkpoint", "c", "--format", "speculators", "--output", "o"])
                as? ExportCommand)
        #expect(export.format == "speculators" && export.dtype == "bf16")
    }
}
