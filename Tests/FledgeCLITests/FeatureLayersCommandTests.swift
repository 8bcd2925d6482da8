import ArgumentParser
import Foundation
import Testing
@testable import FledgeCLI
import FledgeSpeculative
import FledgeTestSupport

/// Custom feature layers through the commands on the real SmolLM2: a cache built on other
/// layers than the defaults trains a draft that records them in its checkpoint and both
/// export layouts, and evaluation decodes from them (losslessly).
@Suite struct FeatureLayersCommandTests {
    func run(_ arguments: [String]) async throws { try await runFledge(arguments) }

    func json(_ path: String) throws -> [String: Any] {
        try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    @Test(
        .enabled(
            if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"))
    func aDraftTrainedOnCustomLayersDecodesFromThem() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-layers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let conversations = (0..<8).map { index in
            #"{"id": "c\#(index)", "messages": [{"role": "user", "content": "Count to \#(index + 3), please."}, "#
                + #"{"role": "assistant", "content": "One, two, three and so on up to \#(index + 3)."}]}"#
        }
        try Data((conversations.joined(separator: "\n") + "\n").utf8).write(
            to: folder.appendingPathComponent("data/train.jsonl"))
        try Data(#"{"turns": ["Count to three.", "And to four?"]}"#.utf8).write(
            to: folder.appendingPathComponent("prompts.jsonl"))
        let model = TestAssets.smolLM2.path
        let data = folder.appendingPathComponent("data").path, cache = folder.appendingPathComponent("cache").path
        let save = folder.appendingPathComponent("train").path
        // SmolLM2 has 30 layers: the defaults are 1, 14, 26.
        try await run([
            "cache", "build", "--model", model, "--data-path", data, "--max-length", "48", "--output", cache,
            "--aux-hidden-state-layers", "3", "15", "25",
        ])
        // A layer list that contradicts the cache is refused.
        await #expect {
            try await run([
                "train", "--target-model-path", model, "--data-path", data, "--cache-path", cache,
                "--aux-hidden-state-layers", "1", "14", "26", "--save-path", save, "--max-steps", "1",
            ])
        } throws: { "\($0)".contains("holds layers [3, 15, 25]") }
        try await run([
            "train", "--target-model-path", model, "--data-path", data, "--cache-path", cache, "--save-path", save,
            "--max-length", "48", "--max-steps", "2", "--save-interval", "2", "--draft-vocab-size", "512", "--logger",
            "none",
        ])
        let checkpoint = save + "/checkpoints/step-0000002"
        #expect(try json(checkpoint + "/state.json")["featureLayers"] as? [Int] == [3, 15, 25])
        let exported = try json(save + "/export/config.json")
        #expect(exported["eagle_aux_hidden_state_layer_ids"] as? [Int] == [4, 16, 26])
        #expect(
            (exported["eagle_config"] as? [String: Any])?["eagle_aux_hidden_state_layer_ids"] as? [Int] == [3, 15, 25])
        let speculators = folder.appendingPathComponent("speculators").path
        try await run([
            "export", "--model", model, "--checkpoint", checkpoint, "--format", "speculators", "--dtype", "f32",
            "--output", speculators,
            "--verifier", "HuggingFaceTB/SmolLM2-135M-Instruct",
        ])
        let speculatorsConfig = try json(speculators + "/config.json")
        #expect(speculatorsConfig["eagle_aux_hidden_state_layer_ids"] as? [Int] == [4, 16, 26])
        let verifier =
            ((speculatorsConfig["speculators_config"] as? [String: Any])?["verifier"] as? [String: Any])?[
                "name_or_path"] as? String
        #expect(verifier == "HuggingFaceTB/SmolLM2-135M-Instruct")
        // Every form of the draft decodes from those layers: lossless, and the f32 forms agree.
        var reports: [SpeculativeEvaluation.Report] = []
        for (index, draft) in [checkpoint, speculators, save + "/export"].enumerated() {
            let output = folder.appendingPathComponent("eval\(index).json").path
            try await run([
                "eval", "--model", model, "--draft", draft, "--prompts",
                folder.appendingPathComponent("prompts.jsonl").path,
                "--modes", "chain:2", "--max-tokens", "12", "--output", output,
            ])
            reports.append(
                try JSONDecoder().decode(
                    SpeculativeEvaluation.Report.self, from: Data(contentsOf: URL(fileURLWithPath: output))))
        }
        for report in reports { #expect(report.turns == 2 && report.modes.allSatisfy { $0.lossless == true }) }
        #expect(
            reports[0].modes[0].cycles == reports[1].modes[0].cycles
                && reports[0].modes[0].acceptanceRates == reports[1].modes[0].acceptanceRates)
    }
}
