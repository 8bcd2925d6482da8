import ArgumentParser
import Foundation
import Testing
@testable import FledgeCLI
import FledgeSpeculative
import FledgeTestSupport

/// EAGLE-1 through the commands on the real SmolLM2: train a few steps, evaluate the export
/// and a checkpoint (chain and tree, lossless), export a checkpoint in vLLM's and SGLang's
/// layouts and read them back.
@Suite struct Eagle1CommandTests {
    func run(_ arguments: [String]) async throws { try await runFledge(arguments) }

    @Test(
        .enabled(
            if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"))
    func trainEvaluateAndExportAnEagle1Draft() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-eagle1-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let conversations = (0..<12).map { index in
            #"{"id": "c\#(index)", "messages": [{"role": "user", "content": "Name a colour, please (\#(index))."}, "#
                + #"{"role": "assistant", "content": "Blue is a colour; so is red, and green \#(index)."}]}"#
        }
        try Data((conversations.joined(separator: "\n") + "\n").utf8).write(
            to: folder.appendingPathComponent("data/train.jsonl"))
        try Data(#"{"turns": ["What is a colour?"]}"#.utf8).write(to: folder.appendingPathComponent("prompts.jsonl"))
        let model = TestAssets.smolLM2.path
        let save = folder.appendingPathComponent("train").path
        try await run([
            "train", "--method", "eagle1", "--target-model-path", model, "--data-path",
            folder.appendingPathComponent("data").path,
            "--save-path", save, "--max-length", "48", "--max-steps", "2", "--save-interval", "2", "--logger", "jsonl",
        ])
        let exported =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: save + "/export/config.json")))
            as? [String: Any]
        #expect(
            exported?["architectures"] as? [String] == ["LlamaForCausalLM"]
                && exported?["num_hidden_layers"] as? Int == 1)

        // Evaluation of the export and of the checkpoint: lossless, the same acceptance.
        var reports: [SpeculativeEvaluation.Report] = []
        for (index, draft) in [save + "/export", save + "/checkpoints/step-0000002"].enumerated() {
            let output = folder.appendingPathComponent("eval\(index).json").path
            try await run([
                "eval", "--model", model, "--draft", draft, "--prompts",
                folder.appendingPathComponent("prompts.jsonl").path,
                "--modes", "chain:2", "tree:4/3/12", "--max-tokens", "10", "--output", output,
            ])
            reports.append(
                try JSONDecoder().decode(
                    SpeculativeEvaluation.Report.self, from: Data(contentsOf: URL(fileURLWithPath: output))))
        }
        for report in reports { #expect(report.modes.count == 2 && report.modes.allSatisfy { $0.lossless == true }) }
        // The export is bf16, the checkpoint f32: the cycles may differ, the output may not.
        #expect(reports[0].modes.map(\.mode) == reports[1].modes.map(\.mode))

        // Export of the checkpoint in both layouts; each reads back with its own bias rule.
        for format in ["vllm", "sglang"] {
            let output = folder.appendingPathComponent(format).path
            try await run([
                "export", "--model", model, "--checkpoint", save + "/checkpoints/step-0000002", "--format", format,
                "--dtype", "f32", "--output", output,
            ])
            let config =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "/config.json")))
                as? [String: Any]
            #expect(
                config?["architectures"] as? [String] == [
                    format == "vllm" ? "LlamaForCausalLM" : "LlamaForCausalLMEagle"
                ])
            try await run([
                "eval", "--model", model, "--draft", output, "--prompts",
                folder.appendingPathComponent("prompts.jsonl").path,
                "--modes", "chain:1", "--max-tokens", "6", "--output", output + "/eval.json",
            ])
        }
        await #expect {
            try await run([
                "export", "--model", model, "--checkpoint", save + "/export", "--format", "speculators", "--output",
                folder.appendingPathComponent("x").path,
            ])
        } throws: { "\($0)".contains("does not apply to this eagle1 draft") }
    }
}
