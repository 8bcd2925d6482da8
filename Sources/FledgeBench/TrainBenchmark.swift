import Foundation
import FledgeData
import FledgeDraft
import FledgeLlama
import FledgeNN
import FledgeTensor

/// Speed of one EAGLE-3 training step at a target's configuration, for `fledge bench train`.
public enum TrainBenchmark {
    public struct Result: Sendable, Codable {
        public var length: Int
        public var steps: Int
        public var seconds: Double
        public var gflop: Double
        /// Rows per step on this process, and the median seconds of the gradient reduction
        /// (0 on one process).
        public var rows = 1
        public var reduceSeconds = 0.0
        public var tokensPerSecond: Double { Double(length * rows) / seconds }
        public var gflops: Double { gflop / seconds }
    }

    /// Matmul FLOPs of one step (forward + backward = 3 × forward), counted as for the SpecForge
    /// figures in the README's Performance section:
    /// per TTT step the layer's projections and MLP, the head, and the attention over
    /// (causal half + diagonals); plus fc once and the target logits once.
    public static func flops(_ c: Eagle3Configuration, length t: Int, steps k: Int) -> Double {
        let n = Double(t)
        let h = Double(c.hiddenSize), q = Double(c.headCount * c.headDimension),
            kv = Double(c.kvHeadCount * c.headDimension)
        let layer = 2 * n * (2 * h * (q + 2 * kv) + q * h + 3 * h * Double(c.intermediateSize))
        let head = 2 * n * h * Double(c.draftVocabularySize)
        let attention = 4 * Double(c.headCount * c.headDimension) * n * (n + 1) / 2
        let fc = 2 * n * 3 * Double(c.targetHiddenSize) * h
        return 3 * (Double(k) * (layer + head + attention) + fc)
    }

    /// Times `runs` steps (after one warm-up) with random features: B = `rows`, `length` tokens
    /// each, K `steps`. `reduce` (data-parallel runs: the gradient sum over the ranks) runs
    /// between backward and the optimiser and is timed apart. With `target`, the draft reads
    /// the target's embedding and the labels come from the target's head, as held (a real
    /// run's memory); otherwise both are random Float32 tables.
    public static func run(
        configuration c: Eagle3Configuration, length: Int, steps: Int, runs: Int, rows: Int = 1,
        precision: Precision = .fp32, target model: LlamaModel? = nil,
        reduce: ((UnsafeMutablePointer<Float>, Int) throws -> Void)? = nil
    ) rethrows -> Result {
        var generator = SeededGenerator(seed: 9)
        let table: EmbeddingTable
        if let model {
            table = model.embeddingTable
        } else {
            let embedding = Tensor(zeros: [c.vocabularySize, c.hiddenSize])
            generator.fillNormal(embedding, std: 0.02)
            table = EmbeddingTable(embedding)
        }
        let ids = (0..<c.draftVocabularySize).map { $0 * c.vocabularySize / c.draftVocabularySize }
        var t2d = [Bool](repeating: false, count: c.vocabularySize)
        for id in ids { t2d[id] = true }
        let draft = Eagle3Draft(
            configuration: c, table: table, d2t: ids.enumerated().map { Int64($0.element - $0.offset) },
            t2d: t2d)
        draft.initialize(seed: 1)
        let trainer = Eagle3Trainer(
            draft: draft, maxBatch: rows, maxLength: length, steps: steps, precision: precision)
        let auxiliary = Tensor(zeros: [rows * length, 3 * c.targetHiddenSize]),
            hidden = Tensor(zeros: [rows * length, c.targetHiddenSize])
        generator.fillNormal(auxiliary)
        generator.fillNormal(hidden)
        let target: Eagle3Batch.Target
        if let blocks = model?.headBlocks {
            target = .hiddenQuantizedHead(hidden, head: blocks)
        } else if let model {
            target = .hidden(hidden, head: model.head)
        } else {
            let head = Tensor(zeros: [c.vocabularySize, c.targetHiddenSize])
            generator.fillNormal(head, std: 0.05)
            target = .hidden(hidden, head: head)
        }
        let batch = Eagle3Batch(
            batch: rows, length: length, lengths: [Int](repeating: length, count: rows),
            ids: (0..<(rows * length)).map { _ in Int32(generator.next() % UInt64(c.vocabularySize)) },
            lossMask: [UInt8](repeating: 1, count: rows * length), auxiliary: auxiliary,
            target: target)
        var optimizer = AdamW(learningRate: 1e-4)
        func step() throws -> Double {
            draft.parameters.zeroGradients()
            _ = trainer.step(batch, decay: 0.8)
            let start = DispatchTime.now().uptimeNanoseconds
            try reduce?(draft.parameters.gradients.pointer, draft.parameters.count)
            let reduced = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            GradientClipping.clip(draft.parameters.gradients.pointer, count: draft.parameters.count, maxNorm: 0.5)
            optimizer.update(draft.parameters)
            return reduced
        }
        _ = try step()
        var times: [Double] = [], reduceTimes: [Double] = []
        for _ in 0..<max(1, runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            reduceTimes.append(try step())
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        reduceTimes.sort()
        let targetLogits = 2 * Double(length) * Double(c.targetHiddenSize) * Double(c.vocabularySize)
        return Result(
            length: length, steps: steps, seconds: times[times.count / 2],
            gflop: Double(rows) * (flops(c, length: length, steps: steps) + targetLogits) / 1e9, rows: rows,
            reduceSeconds: reduceTimes[reduceTimes.count / 2])
    }

    /// Median seconds of the target's forward with the EAGLE-3 feature taps over `length` random tokens.
    public static func targetForwardSeconds(
        model: LlamaModel, length: Int, runs: Int, precision: Precision = .fp32
    ) throws -> Double {
        var generator = SeededGenerator(seed: 17)
        let vocabulary = UInt64(model.configuration.vocabularySize)
        let sample = TokenizedSample(
            id: "bench", ids: (0..<length).map { _ in Int32(generator.next() % vocabulary) },
            lossMask: [UInt8](repeating: 1, count: length))
        let source = try OnlineFeatureSource(model: model, precision: precision)
        return try Timing.median(runs: runs) { _ = try source.features(for: [sample]) }
    }

    /// SpecForge's time and tokens/s for the step of `length` tokens and K = `steps` in
    /// `precision` (bf16: its step under `torch.autocast(bfloat16)`), as measured on this machine
    /// kind by Scripts/reference/time_specforge_step.sh (README: Performance), where there is one.
    /// Only for the draft of SmolLM2-135M, the model it was measured on (`model`: a file or folder name).
    public static func specForgeReference(
        length: Int, steps: Int, precision: Precision = .fp32, model: String = "SmolLM2-135M-Instruct"
    ) -> String? {
        guard TargetBenchmark.hasReferenceFigures(model) else { return nil }
        let reference = [
            "fp32/512/7": "5.09 s, 100 tok/s", "fp32/2048/7": "27.4 s, 75 tok/s",
            "bf16/512/7": "3.87 s, 132 tok/s (autocast)", "bf16/2048/7": "22.3 s, 92 tok/s (autocast)",
        ]
        return reference["\(precision.rawValue)/\(length)/\(steps)"]
    }
}
