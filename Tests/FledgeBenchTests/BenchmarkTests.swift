import Foundation
import Testing
@testable import FledgeBench
import FledgeDistributed
import FledgeDraft
import FledgeLlama
import FledgeTensor
import FledgeTestSupport

/// The benchmarks at toy sizes (their figures are measured on release builds: README,
/// Performance), and how a scaling run reads its ranks' results.
@Suite struct BenchmarkTests {
    static let tiny = TestAssets.packageRoot.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama")

    @Test func aTrainingStepIsTimedWithItsGradientSum() throws {
        let target = try LlamaConfiguration.load(from: Self.tiny)
        let configuration = Eagle3Configuration(target: target, draftVocabularySize: 32)
        var reductions = 0
        let result = TrainBenchmark.run(
            configuration: configuration, length: 16, steps: 2, runs: 2,
            rows: 2
        ) { pointer, count in
            #expect(count > 0 && pointer[0].isFinite)
            reductions += 1
        }
        #expect(reductions == 3)  // the warm-up step and two timed ones
        #expect(result.rows == 2 && result.length == 16 && result.steps == 2)
        #expect(result.seconds > 0 && result.reduceSeconds >= 0 && result.tokensPerSecond == 32 / result.seconds)
        #expect(result.gflop > 2 * TrainBenchmark.flops(configuration, length: 16, steps: 2) / 1e9)
    }

    @Test func targetMeasurementsHaveOneRowEach() throws {
        let model = try LlamaModel.load(from: Self.tiny)
        // (Verification passes follow a 512-token context, longer than this model's 256 positions.)
        let rows = try TargetBenchmark.run(model: model, lengths: [8, 12], decodeTokens: 3, runs: 1)
        #expect(rows.map(\.name) == ["prefill", "prefill", "decode"])
        #expect(rows.map(\.tokens) == [8, 12, 1])
        #expect(rows.allSatisfy { $0.seconds > 0 })
        #expect(TargetBenchmark.reference(for: rows[0])?.contains("README: Performance") == true)
        #expect(TargetBenchmark.reference(for: rows[2])?.contains("README: Performance") == true)
        #expect(TargetBenchmark.reference(for: TargetBenchmark.Row(name: "verify", tokens: 4, seconds: 1)) == nil)
        // Figures measured on SmolLM2 are not printed next to another model's.
        #expect(TargetBenchmark.reference(for: rows[0], model: "SmolLM2-135M-Instruct.Q4_1.gguf") != nil)
        #expect(TargetBenchmark.reference(for: rows[0], model: "llama31-8b.Q4_K.gguf") == nil)
        #expect(TrainBenchmark.specForgeReference(length: 2048, steps: 7) == "27.4 s, 75 tok/s")
        #expect(
            TrainBenchmark.specForgeReference(length: 512, steps: 7, precision: .bf16)?.contains("autocast") == true)
        #expect(TrainBenchmark.specForgeReference(length: 16, steps: 2) == nil)
        #expect(TrainBenchmark.specForgeReference(length: 2048, steps: 7, model: "qwen3-8b.Q4_K.gguf") == nil)
    }

    /// bf16 rows: the training step with bf16 products, prefills on the bf16-stored model.
    @Test(.enabled(if: BFloat16.support.available, "bf16 products unavailable"))
    func bf16RowsRun() throws {
        let target = try LlamaConfiguration.load(from: Self.tiny)
        let configuration = Eagle3Configuration(target: target, draftVocabularySize: 32)
        let result = TrainBenchmark.run(configuration: configuration, length: 16, steps: 2, runs: 1, precision: .bf16)
        #expect(result.seconds > 0)
        let model = try LlamaModel.load(from: Self.tiny)
        let bf16 = try LlamaModel.load(from: Self.tiny, storage: .bfloat16)
        let created = BFloat16.primitivesCreated
        let rows = try TargetBenchmark.run(model: model, lengths: [8], decodeTokens: 3, runs: 1, bf16Prefill: bf16)
        #expect(rows.map(\.name) == ["prefill", "decode"])
        #expect(BFloat16.primitivesCreated > created)  // the prefill's products went through oneDNN
    }

    /// (The default EAGLE-3 layers need a deeper target than the tiny one.)
    @Test(
        .enabled(
            if: TestAssets.hasSmolLM2,
            "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"))
    func theOnlineStepTimesTheTargetWithItsFeatureTaps() throws {
        let model = try LlamaModel.load(from: TestAssets.smolLM2)
        #expect(try TrainBenchmark.targetForwardSeconds(model: model, length: 8, runs: 1) > 0)
    }

    @Test func aScalingRunReadsRankZerosLine() throws {
        let expected = TrainScalingBenchmark.RankResult(seconds: 1.5, reduce: 0.01, rows: 2, ranks: 2, threads: 1)
        let output = "some log line\n{not json\n" + (try TrainScalingBenchmark.line(expected)) + "\n"
        #expect(try TrainScalingBenchmark.result(of: .init(status: 0, output: output), ranks: 2) == expected)
        #expect {
            try TrainScalingBenchmark.result(of: .init(status: 1, output: "boom"), ranks: 2)
        } throws: { "\($0)" == "mpirun -np 2 failed (status 1): boom" }
        #expect(throws: DistributedError.self) {
            try TrainScalingBenchmark.result(of: .init(status: 0, output: "no result"), ranks: 1)
        }
    }
}
