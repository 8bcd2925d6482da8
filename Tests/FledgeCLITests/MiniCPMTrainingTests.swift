import Foundation
import Testing
@testable import FledgeCLI
import FledgeSpeculative
import FledgeTestSupport

/// A draft trains against a MiniCPM target end to end: the tiny random MiniCPM GGUF of the
/// Llama fixtures (embedding, residual and logit scales, LongRoPE factors, Q8_0 MLP, a
/// byte-level tokenizer and a ChatML template), trained online; its loss falls and speculative
/// decoding with it is lossless.
@Suite struct MiniCPMTrainingTests {
    static let model = TestAssets.packageRoot.appendingPathComponent(
        "Tests/FledgeLlamaTests/Fixtures/tiny-minicpm/model.gguf")

    func records(_ folder: URL) throws -> [[String: Any]] {
        let logs = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "jsonl" }
        return try logs.flatMap { url in
            try String(contentsOf: url, encoding: .utf8).split(separator: "\n").compactMap {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
    }

    @Test func aDraftTrainsAgainstATinyMiniCPMAndDecodesLosslessly() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "fledge-minicpm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // Short, repetitive answers the draft can learn within a few dozen steps.
        let conversations = (0..<12).map { index in
            #"{"id": "c\#(index)", "messages": [{"role": "user", "content": "say abc \#(index % 3)"}, "#
                + #"{"role": "assistant", "content": "abcabcabc abcabc abc"}]}"#
        }
        try Data((conversations.joined(separator: "\n") + "\n").utf8).write(
            to: folder.appendingPathComponent("data/train.jsonl"))
        try Data(#"{"turns": ["say abc 1"]}"#.utf8).write(to: folder.appendingPathComponent("prompts.jsonl"))
        let data = folder.appendingPathComponent("data").path
        let save = folder.appendingPathComponent("train")
        try await runFledge([
            "train", "--target-model-path", Self.model.path, "--data-path", data, "--save-path", save.path,
            "--max-length", "48", "--max-steps", "40", "--epochs", "10", "--lr", "3e-3", "--draft-vocab-size", "64",
            "--aux-hidden-state-layers", "0", "1", "2", "--eval-interval", "1000", "--save-interval", "40", "--logger",
            "jsonl", "--precision", "fp32",
        ])
        let steps = try records(save.appendingPathComponent("logs")).filter { $0["kind"] as? String == "train" }
            .compactMap { $0["values"] as? [String: Any] }
        let losses = steps.compactMap { $0["loss"] as? Double },
            accuracies = steps.compactMap { $0["acc/0"] as? Double }
        #expect(losses.count == 40 && accuracies.count == 40)
        // The soft loss is bounded below by the random target's entropy; the draft's top-1
        // agreement with the target is what moves (from 0 at the first step).
        #expect(losses.suffix(5).allSatisfy { $0 < losses[0] - 0.1 }, "loss \(losses)")
        #expect(accuracies[0] <= 0.2 && accuracies.suffix(5).reduce(0, +) / 5 >= 0.5, "acc/0 \(accuracies)")
        let output = folder.appendingPathComponent("eval.json").path
        try await runFledge([
            "eval", "--model", Self.model.path, "--draft", save.appendingPathComponent("export").path, "--prompts",
            folder.appendingPathComponent("prompts.jsonl").path, "--modes", "chain:3", "tree:4/3/8",
            "--max-tokens", "16", "--output", output,
        ])
        let report = try JSONDecoder().decode(
            SpeculativeEvaluation.Report.self, from: Data(contentsOf: URL(fileURLWithPath: output)))
        #expect(report.modes.count == 2 && report.modes.allSatisfy { $0.lossless == true })
    }
}
