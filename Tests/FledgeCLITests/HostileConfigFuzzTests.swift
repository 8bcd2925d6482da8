import Foundation
import Testing
import FledgeDraft
import FledgeLlama
import FledgeSpeculative
import FledgeTestSupport
import FledgeTraining

/// Mutants of an exported draft's `config.json` (both EAGLE-3 layouts and EAGLE-1), loaded with
/// ``DraftMethods/load(_:target:)`` and, when accepted, decoding a few tokens: each is accepted
/// or rejected with a message, none traps and none is slow (`FLEDGE_FUZZ_COUNT` per layout).
@Suite(.serialized) struct DraftConfigFuzzTests {
    @Test(arguments: ["eagle", "speculators", "eagle1"])
    func draftConfigMutantsLoadOrFailWithAMessage(_ layout: String) throws {
        let target = try HostileConfigTests.target()
        let draft: any LoadedDraft =
            layout == "eagle1" ? HostileConfigTests.eagle1(target) : HostileConfigTests.eagle3(target)
        let folder = try HostileConfigTests.folder("fuzz-draft")
        defer { try? FileManager.default.removeItem(at: folder) }
        try draft.export(
            to: folder, format: layout == "eagle1" ? "vllm" : layout, target: .init(name: "tiny"), dtype: .f32)
        let configURL = folder.appendingPathComponent("config.json")
        let original = try String(contentsOf: configURL, encoding: .utf8)
        let seed: UInt64 = layout == "eagle" ? 1_000 : layout == "speculators" ? 2_000 : 3_000
        var generated = 0
        let report = FuzzReport.run(
            seed: seed, count: FuzzReport.count(default: 400),
            make: { Data($0.mutateText(original).utf8) }
        ) { mutant in
            try mutant.write(to: configURL)
            let loaded = try DraftMethods.load(folder, target: target)
            let drafter = try loaded.makeDrafter(target: target, capacity: target.configuration.maxPositions)
            let session = DecodingSession(target: target, drafter: drafter)
            _ = try session.generate(prompt: [5, 17, 99, 3], DecodingRequest(strategy: .chain(steps: 2), maxTokens: 4))
            generated += 1
        }
        print("draft config.json fuzz (\(layout)): \(report); \(generated) decoded")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty, "\(report.silentErrors) \(report.slow)")
        #expect(report.accepted > 0 && report.rejected > 0)
    }
}

/// Mutants of a training config file (JSON and YAML) through ``TrainingConfiguration/load(_:)``.
@Suite struct TrainingConfigFuzzTests {
    static let yaml = """
        # a run
        method: eagle3
        target_model_path: models/target.gguf
        data_path: runs/data
        save_path: "runs/x"  # comment
        epochs: 2
        max_steps: 100
        lr: 3e-4
        warmup_ratio: 0.015
        scheduler: cosine
        b1: 0.9
        b2: 0.95
        batch_size: 2
        grad_accum: 1
        max_length: 512
        ttt_steps: 5
        ttt_step_loss_decay: 0.8
        draft_vocab_size: 8000
        aux_hidden_state_layers: [1, 2, 3]
        logger: [jsonl, tensorboard]
        seed: 7
        drop_long: true
        collective_timeout: 300

        """

    static var json: String {
        """
        {
          "method": "eagle1", "target_model_path": "models/target.gguf", "data_path": "runs/data",
          "save_path": "runs/x", "epochs": 2, "max_steps": 100, "lr": 3e-4, "warmup_ratio": 0.015,
          "scheduler": "linear", "b1": 0.9, "b2": 0.95, "batch_size": 2, "grad_accum": 1, "max_length": 512,
          "ttt_steps": 5, "v_w": 1.0, "p_w": 0.1, "noise_low": -0.1, "noise_high": 0.1, "grad_clip": 0.5,
          "logger": ["jsonl"], "seed": 7, "drop_long": false, "max_eval_samples": 20, "collective_timeout": 300
        }

        """
    }

    @Test(arguments: ["run.yaml", "run.json"])
    func trainingConfigMutantsLoadOrFailWithAMessage(_ name: String) throws {
        let folder = try HostileConfigTests.folder("fuzz-config")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent(name)
        let original = name.hasSuffix("json") ? Self.json : Self.yaml
        try original.write(to: url, atomically: true, encoding: .utf8)
        _ = try TrainingConfiguration.load(url)  // the unmutated file loads
        let report = FuzzReport.run(
            seed: name.hasSuffix("json") ? 5_000 : 4_000, count: FuzzReport.count(default: 500),
            make: { Data($0.mutateText(original).utf8) }
        ) { mutant in
            try mutant.write(to: url)
            let c = try TrainingConfiguration.load(url)
            try c.validate()
        }
        print("training config fuzz (\(name)): \(report)")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty, "\(report.silentErrors) \(report.slow)")
        #expect(report.accepted > 0 && report.rejected > 0)
    }
}
