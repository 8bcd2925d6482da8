import ArgumentParser
import Foundation
import Testing
@testable import FledgeCLI
import FledgeData
import FledgeDraft
import FledgeLlama
import FledgeNN
import FledgeTensor
import FledgeTestSupport
@testable import FledgeTraining
import FledgeWeights

/// Hostile draft exports, checkpoints, training configs and flags (issue 15): each ends in an
/// error naming the file, the field and the value, never a trap or a silent acceptance.
@Suite struct HostileConfigTests {
    static func target() throws -> LlamaModel {
        try LlamaModel.load(
            from: TestAssets.packageRoot.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
    }

    static func folder(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// An EAGLE-3 draft over every other token of the tiny target (as `DecodingSessionTests`).
    /// Its feature layers are 0, 1, 2 (the defaults of a 3-layer target do not exist).
    static func eagle3(_ target: LlamaModel, d2t: [Int64]? = nil) -> Eagle3Draft {
        let ids = Array(stride(from: 0, to: 160, by: 2))
        var t2d = [Bool](repeating: false, count: 160)
        for id in ids { t2d[id] = true }
        var configuration = Eagle3Configuration(target: target.configuration, draftVocabularySize: ids.count)
        configuration.featureLayers = [0, 1, 2]
        let draft = Eagle3Draft(
            configuration: configuration, embedding: target.embedding,
            d2t: d2t ?? ids.enumerated().map { Int64($0.element - $0.offset) }, t2d: t2d)
        draft.initialize(seed: 2)
        if d2t == nil { draft.initializeHead(fromTarget: target.head) }
        return draft
    }

    static func eagle1(_ target: LlamaModel) -> Eagle1Draft {
        let draft = Eagle1Draft(
            configuration: Eagle1Configuration(target: target.configuration), embedding: target.embedding,
            head: target.head)
        draft.initialize(seed: 4)
        return draft
    }

    /// Exports `draft` as `format`, rewrites its config with `edit` and loads it back.
    static func load(
        _ draft: any LoadedDraft, format: String, target: LlamaModel, edit: (inout [String: Any]) -> Void
    ) throws -> any LoadedDraft {
        let folder = try folder("hostile-draft")
        defer { try? FileManager.default.removeItem(at: folder) }
        try draft.export(to: folder, format: format, target: .init(name: "tiny"), dtype: .f32)
        let url = folder.appendingPathComponent("config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        return try DraftMethods.load(folder, target: target)
    }

    static func layer(_ config: inout [String: Any], _ format: String, _ key: String, _ value: Any) {
        if format == "speculators" {
            var nested = config["transformer_layer_config"] as? [String: Any] ?? [:]
            nested[key] = value
            config["transformer_layer_config"] = nested
        } else {
            config[key] = value
        }
    }

    static func message(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func draftConfigValuesAreRangeCheckedWhereDecoded() throws {
        let target = try Self.target()
        let drafts: [(any LoadedDraft, String)] = [
            (Self.eagle3(target), "eagle"), (Self.eagle3(target), "speculators"), (Self.eagle1(target), "vllm"),
        ]
        for (draft, format) in drafts {
            // Unchanged, every layout loads.
            _ = try Self.load(draft, format: format, target: target) { _ in }
            let cases: [(String, Any, String)] = [
                ("intermediate_size", -64, "intermediate_size = -64"),
                ("hidden_size", "64", "hidden_size has the wrong type (string, expected an integer)"),
                ("vocab_size", 0, "vocab_size = 0"), ("vocab_size", 161, "vocab_size = 161, the target has 160"),
                ("num_hidden_layers", 0, "num_hidden_layers = 0"),
                ("num_attention_heads", 0, "num_attention_heads = 0"),
                ("num_key_value_heads", 3, "does not divide"), ("head_dim", 7, "head_dim = 7"),
                ("rms_norm_eps", -1.0, "rms_norm_eps = -1.0"), ("max_position_embeddings", 1 << 40, "max_position"),
                ("rope_theta", "x", "rope_theta has the wrong type"),
                ("intermediate_size", 1.5, "wrong type (number 1.5, expected an integer)"),
            ]
            for (key, value, expected) in cases {
                let text = Self.message {
                    try Self.load(draft, format: format, target: target) { Self.layer(&$0, format, key, value) }
                }
                #expect(text.contains(expected) && text.contains("config.json"), "\(format) \(key): \(text)")
            }
            // Heads that do not divide the width are an error unless head_dim is given.
            let text = Self.message {
                try Self.load(draft, format: format, target: target) {
                    Self.layer(&$0, format, "num_attention_heads", 3)
                    Self.layer(&$0, format, "num_key_value_heads", 3)
                    Self.layer(&$0, format, "head_dim", NSNull())
                }
            }
            #expect(text.contains("does not divide") && text.contains("head_dim"), "\(format): \(text)")
        }
        // EAGLE-3 only: the draft vocabulary within the target's.
        let text = Self.message {
            try Self.load(Self.eagle3(target), format: "eagle", target: target) { $0["draft_vocab_size"] = 161 }
        }
        #expect(text.contains("draft_vocab_size = 161"), "\(text)")
    }

    @Test func d2tOutsideTheTargetVocabularyOrInconsistentWithT2dIsRefused() throws {
        let target = try Self.target()
        var outside = Self.eagle3(target).d2t
        outside[79] = 1000
        var overflow = outside
        overflow[3] = Int64.max
        var unmarked = Self.eagle3(target).d2t
        unmarked[5] += 1  // an odd id, which t2d does not mark
        for (d2t, expected) in [(outside, "d2t[79] = 1000"), (overflow, "d2t[3]"), (unmarked, "d2t[5]")] {
            for format in ["eagle", "speculators"] {
                let text = Self.message {
                    try Self.load(Self.eagle3(target, d2t: d2t), format: format, target: target) { _ in }
                }
                #expect(text.contains(expected) && text.contains("model.safetensors"), "\(format): \(text)")
            }
        }
    }

    @Test func nonFiniteWeightsAreRefusedNamingTheTensor() throws {
        let target = try Self.target()
        let eagle3 = Self.eagle3(target)
        eagle3.parameters.parameter("midlayer.mlp.up_proj.weight").pointer[5] = .nan
        let eagle1 = Self.eagle1(target)
        eagle1.parameters.parameter("layers.0.self_attn.q_proj.weight").pointer[0] = .infinity
        for (draft, format, name) in [
            (eagle3 as any LoadedDraft, "eagle", "midlayer.mlp.up_proj.weight"),
            (eagle3, "speculators", "layers.0.mlp.up_proj.weight"),
            (eagle1, "vllm", "layers.0.self_attn.q_proj.weight"),
        ] {
            let text = Self.message { try Self.load(draft, format: format, target: target) { _ in } }
            #expect(text.contains(name) && text.contains("non-finite"), "\(format): \(text)")
        }
    }

    /// Checkpoints (state.json + model.safetensors) get the same checks.
    @Test func checkpointsAreCheckedOnLoad() throws {
        let target = try Self.target()
        func checkpoint(_ draft: Eagle3Draft, d2t: [Int64]) throws -> String {
            let folder = try Self.folder("hostile-checkpoint")
            defer { try? FileManager.default.removeItem(at: folder) }
            var items: [SafetensorsWriter.Item] = draft.parameters.entries.map {
                .init(name: $0.name, tensor: draft.parameters.parameter($0.name))
            }
            items.append(.init(name: "d2t", int64: d2t))
            items.append(.init(name: "t2d", bools: draft.t2d))
            try SafetensorsWriter().write(items, to: folder.appendingPathComponent("model.safetensors"))
            try Data(#"{"format": "fledge-checkpoint", "version": 1, "method": "eagle3"}"#.utf8).write(
                to: folder.appendingPathComponent("state.json"))
            return Self.message { try DraftMethods.load(folder, target: target) }
        }
        let draft = Self.eagle3(target)
        #expect(try checkpoint(draft, d2t: draft.d2t) == "accepted")
        var bad = draft.d2t
        bad[10] = -20
        #expect(try checkpoint(draft, d2t: bad).contains("d2t[10] = -20"))
        #expect(try checkpoint(draft, d2t: Array(draft.d2t.prefix(10))).contains("t2d marks 80"))
        draft.parameters.parameter("fc.weight").pointer[3] = -.infinity
        let text = try checkpoint(draft, d2t: draft.d2t)
        #expect(text.contains("fc.weight") && text.contains("non-finite"), "\(text)")
    }

    // MARK: Training configuration files

    static func configFile(_ text: String, _ name: String) throws -> URL {
        let url = try folder("hostile-config").appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    static func loadMessage(_ text: String, _ name: String = "run.yaml") throws -> String {
        let url = try configFile(text, name)
        return message { try TrainingConfiguration.load(url) }
    }

    @Test func configFileErrorsNameTheFileLineAndKey() throws {
        let cases: [(String, String, [String])] = [
            ("epochs: 2\nlr: 1e400\n", "run.yaml", ["run.yaml:2", "lr", "1e400", "not a finite number"]),
            ("{\n  \"epochs\": 2,\n  \"lr\": 1e400\n}\n", "run.json", ["run.json:3", "lr", "1e400", "finite"]),
            ("lr: .inf\n", "run.yaml", ["run.yaml:1", "lr", "not a finite number"]),
            ("lr: 0\n", "run.yaml", ["run.yaml:1", "lr: must be a finite number above 0"]),
            ("b1: 1.5\n", "run.yaml", ["run.yaml:1", "b1: must be in [0, 1)"]),
            ("b2: -0.1\n", "run.yaml", ["b2: must be in [0, 1)"]),
            ("epochs: 1\nbatch_size: 0\n", "run.yaml", ["run.yaml:2", "batch_size: must be at least 1"]),
            ("save_interval: -5\n", "run.yaml", ["save_interval: must be at least 1 (got -5)"]),
            ("max_length: 1\n", "run.yaml", ["max_length"]),
            ("ttt_step_loss_decay: nan\n", "run.yaml", ["ttt_step_loss_decay", "not a finite number"]),
            ("lr: 1e-4\nlr: 2e-4\n", "run.yaml", ["run.yaml:2", "duplicate key lr", "line 1"]),
            ("{\"lr\": 1e-4,\n \"lr\": 2e-4}", "run.json", ["run.json:2", "duplicate key lr", "line 1"]),
            ("lr: \"3e-4\nepochs: 1\n", "run.yaml", ["run.yaml:1", "syntax error"]),
            ("logger:\n  - jsonl\n", "run.yaml", ["run.yaml:2", "syntax error"]),
            ("logger: [jsonl, [tensorboard]]\n", "run.yaml", ["run.yaml:1", "syntax error"]),
            (
                "epochs: two\n", "run.yaml",
                ["run.yaml:1", "epochs has the wrong type (string \"two\", expected an integer)"]
            ),
            ("{\"epochs\": 1\n \"lr\": 2}", "run.json", ["run.json:2", "not valid JSON"]),
            ("{\n\"epochs\": \"2\"\n}", "run.json", ["run.json:2", "epochs has the wrong type"]),
            ("scheduler: sawtooth\n", "run.yaml", ["run.yaml:1", "sawtooth", "cosine, linear, constant"]),
            ("logger: [jsonl]\nloggers: [none]\n", "run.yaml", ["run.yaml:2", "sets logger again", "line 1"]),
            ("seed: -1\n", "run.yaml", ["run.yaml:1", "seed"]),
            ("d2t_path: /nonexistent/d2t.npy\n", "run.yaml", ["d2t_path: /nonexistent/d2t.npy does not exist"]),
        ]
        for (text, name, expected) in cases {
            let message = try Self.loadMessage(text, name)
            #expect(expected.allSatisfy(message.contains), "\(text.debugDescription): \(message)")
            #expect(!message.contains("not a JSON object") && !message.contains("Cannot initialize"), "\(message)")
        }
        // A YAML syntax error is not reported as a wrong type.
        #expect(!(try Self.loadMessage("epochs: \"1\n", "run.yaml")).contains("wrong type"))
    }

    @Test func flagsAndConfigKeysShareOneNamingScheme() throws {
        // The key of --logger is logger (the old loggers still reads), of --verifier-name-or-path
        // target_model_path; --no-resume-from-checkpoint is no_resume_from_checkpoint.
        for text in ["logger: [jsonl, tensorboard]\n", "loggers: [jsonl, tensorboard]\n"] {
            let url = try Self.configFile(
                text + "no_resume_from_checkpoint: true\nverifier_name_or_path: t.gguf\n", "r.yaml")
            let c = try TrainingConfiguration.load(url)
            #expect(c.loggers == ["jsonl", "tensorboard"] && !c.resume && c.targetModelPath == "t.gguf")
        }
        let json = try Self.configFile(#"{"max-steps": 3, "logger": ["none"]}"#, "r.json")
        let c = try TrainingConfiguration.load(json)
        #expect(c.maxSteps == 3 && c.loggers == ["none"])
        // Every flag of fledge train (but --config) is a key.
        let keys = Set(TrainingConfiguration.CodingKeys.allCases.map(\.rawValue)).union(ConfigFile.aliases.keys)
            .union(["no_resume_from_checkpoint"])
        for argument in TrainCommand.helpMessage().split(separator: " ") where argument.hasPrefix("--") {
            let flag = argument.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" }
            guard !flag.isEmpty, !["config", "help"].contains(String(flag)) else { continue }
            #expect(keys.contains(flag.replacingOccurrences(of: "-", with: "_")), "--\(flag) has no config key")
        }
    }

    @Test func badFlagValuesGetAClearMessage() throws {
        for (arguments, expected) in [
            (["--lr", "inf"], "lr: must be a finite number above 0"), (["--lr", "-1"], "lr: must be a finite number"),
            (["--b1", "1.5"], "b1: must be in [0, 1)"), (["--epochs", "-3"], "epochs: must be at least 1 (got -3)"),
            (["--max-steps", "0"], "max_steps"), (["--save-interval", "-1"], "save_interval"),
            (["--ttt-step-loss-decay", "nan"], "ttt_step_loss_decay"), (["--scheduler", "sawtooth"], "cosine, linear"),
            (["--d2t-path", "/nonexistent/vocab.npy"], "does not exist"),
            (["--collective-timeout", "-inf"], "collective_timeout"), (["--batch-size", "-2"], "batch_size"),
        ] {
            let full: String
            do {
                _ = try FledgeCommand.parseAsRoot(["train"] + arguments)
                full = "accepted"
            } catch {
                full = FledgeCommand.message(for: error)
            }
            #expect(full.contains(expected) && !full.contains("Missing value"), "\(arguments): \(full)")
        }
        // Negative numbers parse where they are allowed.
        let command = try #require(
            try FledgeCommand.parseAsRoot(["train", "--method", "eagle1", "--noise-low", "-0.2"]) as? TrainCommand)
        #expect(try command.resolved().noiseLow == -0.2)
    }

    @Test func pathsOfTheWrongKindAreErrorsBeforeTraining() throws {
        let folder = try Self.folder("hostile-paths")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        var c = TrainingConfiguration()
        c.targetModelPath = "/nonexistent/target.gguf"
        c.dataPath = file.path
        c.savePath = file.path
        #expect(
            Self.message { try TrainingRun.run(c, defaultTarget: nil) { _ in } }.contains("is a file, not a folder"))
        c.savePath = folder.appendingPathComponent("run").path
        c.evalDataPath = folder.appendingPathComponent("missing-eval.jsonl").path
        let text = Self.message { try TrainingRun.run(c, defaultTarget: nil) { _ in } }
        #expect(text.contains("eval_data_path") && text.contains("does not exist"), "\(text)")
        // A vocab.safetensors parses (a recipe's vocab stage writes it later) but must exist to train.
        c.evalDataPath = nil
        c.d2tPath = folder.appendingPathComponent("vocab.safetensors").path
        let vocab = Self.message { try TrainingRun.run(c, defaultTarget: nil) { _ in } }
        #expect(vocab.contains("d2t_path") && vocab.contains("does not exist"), "\(vocab)")
    }

    /// A run of SmolLM2 on one short conversation written into `folder`, saving to `folder/run`.
    static func oneConversationRun(in folder: URL) throws -> TrainingConfiguration {
        let data = folder.appendingPathComponent("train.jsonl")
        try Data(
            (#"{"id": "a", "messages": [{"role": "user", "content": "Hi there, how are you?"}, "#
                + #"{"role": "assistant", "content": "Fine, thank you for asking."}]}"# + "\n").utf8
        ).write(to: data)
        var c = TrainingConfiguration()
        c.targetModelPath = TestAssets.smolLM2.path
        c.dataPath = data.path
        c.savePath = folder.appendingPathComponent("run").path
        return c
    }

    @Test(.enabled(if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model"))
    func dataWithNoUsableSampleIsAnError() throws {
        let folder = try Self.folder("hostile-data")
        defer { try? FileManager.default.removeItem(at: folder) }
        var c = try Self.oneConversationRun(in: folder)
        c.maxLength = 2
        c.dropLong = true
        let text = Self.message { try TrainingRun.run(c, defaultTarget: nil) { _ in } }
        #expect(text.contains("no usable training sample") && text.contains("0 samples"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: c.savePath))
    }

    @Test(.enabled(if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model"))
    func aSecondRunOnTheSameSavePathIsRefused() throws {
        let folder = try Self.folder("hostile-lock")
        defer { try? FileManager.default.removeItem(at: folder) }
        var c = try Self.oneConversationRun(in: folder)
        c.maxSteps = 1
        // The lock a running `fledge train` holds (flock: a second open description conflicts
        // even within one process).
        let held = try FileLock(
            URL(fileURLWithPath: c.savePath).appendingPathComponent(".lock"), busy: "held by the test")
        let text = Self.message { try TrainingRun.run(c, defaultTarget: nil) { _ in } }
        #expect(text.contains("another fledge train is running in this folder"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: c.savePath + "/checkpoints"))
        held.release()
    }

    @Test func draftVocabSizeContradictingTheD2tFileIsAnError() throws {
        let target = try Self.target()
        let folder = try Self.folder("hostile-vocab")
        defer { try? FileManager.default.removeItem(at: folder) }
        let draft = Self.eagle3(target)
        try DraftVocabulary(d2t: draft.d2t, t2d: draft.t2d).write(to: folder)
        var settings = DraftSettings()
        settings.d2tPath = folder.appendingPathComponent("vocab.safetensors").path
        settings.draftVocabSize = 64
        let request = DraftTrainingRequest(
            target: target, settings: settings, maxBatch: 1, maxLength: 16, featureLayers: [0, 1, 2],
            tokenCounts: { [] })
        let text = Self.message { try Eagle3Method().makeTraining(request) }
        #expect(text.contains("draft_vocab_size: 64") && text.contains("80"), "\(text)")
        settings.draftVocabSize = 80
        _ = try Eagle3Method().makeTraining(
            DraftTrainingRequest(
                target: target, settings: settings, maxBatch: 1, maxLength: 16, featureLayers: [0, 1, 2],
                tokenCounts: { [] }))
        // A missing d2t file says so (not "give both d2t and t2d").
        settings.d2tPath = folder.appendingPathComponent("d2t.npy").path + ".missing"
        let missing = Self.message { try DraftMethods.validate(settings, method: "eagle3") }
        #expect(missing.contains("does not exist") && !missing.contains("give both"), "\(missing)")
    }

    @Test func aFailedCheckpointWriteRemovesItsTemporaryFolder() throws {
        let save = try Self.folder("hostile-checkpoint-write")
        defer { try? FileManager.default.removeItem(at: save) }
        let parameters = ParameterSet([("w", Shape([4, 4]))])
        func state(_ step: Int) -> TrainingState {
            TrainingState(
                method: "eagle3", step: step, epoch: 0, batchInEpoch: 0, optimizer: AdamW(), dataFingerprint: "x")
        }
        _ = try Checkpoint.save(parameters: parameters, d2t: [0], t2d: [true], state: state(2), to: save, keep: 2)
        struct DiskFull: Error, CustomStringConvertible { var description: String { "No space left on device" } }
        for failing in ["model.safetensors", "optimizer.safetensors", "state.json"] {
            #expect(throws: DiskFull.self) {
                try Checkpoint.save(
                    parameters: parameters, d2t: [0], t2d: [true], state: state(4), to: save, keep: 2,
                    afterWriting: { if $0.lastPathComponent == failing { throw DiskFull() } })
            }
            let names = try FileManager.default.contentsOfDirectory(atPath: Checkpoint.directory(save).path)
            #expect(names == ["step-0000002"], "\(failing): \(names)")
        }
        #expect(try Checkpoint.list(save).map(\.step) == [2])
        // Resuming from a checkpoint with a non-finite weight names the tensor.
        parameters.parameter("w").pointer[7] = .nan
        let url = try Checkpoint.save(
            parameters: parameters, d2t: [0], t2d: [true], state: state(6), to: save, keep: 3)
        let text = Self.message { try Checkpoint.restore(url, into: ParameterSet([("w", Shape([4, 4]))])) }
        #expect(text.contains("tensor w") && text.contains("non-finite"), "\(text)")
    }
}
