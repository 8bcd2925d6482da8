import Foundation
import FledgeLlama
import FledgeTensor

/// Prefill and decode speed of a target model, for `fledge bench target`.
public enum TargetBenchmark {
    public struct Row: Sendable, Codable {
        public var name: String
        public var tokens: Int
        public var seconds: Double
        public var tokensPerSecond: Double { Double(tokens) / seconds }
    }

    /// Prefill of `lengths` tokens (logits of the last position only, as llama.cpp's prompt
    /// processing) and batch-1 greedy decoding of `decodeTokens` after a 128-token prompt;
    /// medians of `runs`.
    /// `verifyTokens`: one forward of M new tokens (logits of all M, as a speculative
    /// verification pass) after a 512-token context, rolled back after each run. `kernels`:
    /// the policy of every forward.
    public static func run(
        model: LlamaModel, lengths: [Int] = [512, 2048], decodeTokens: Int = 64, verifyTokens: [Int] = [],
        runs: Int = 3,
        kernels: KernelPolicy = .standard, bf16Prefill: LlamaModel? = nil
    ) throws -> [Row] {
        var rows: [Row] = []
        var generator = SeededGenerator(seed: 3)
        let vocabulary = UInt64(model.configuration.vocabularySize)
        // Prefills in bf16 run on a model holding its layer matrices in bf16 (as a bf16 run loads it).
        let prefillModel = bf16Prefill ?? model
        var prefillPolicy = kernels
        if bf16Prefill != nil { prefillPolicy.precision = .bf16 }
        for length in lengths {
            let tokens = (0..<length).map { _ in Int32(generator.next() % vocabulary) }
            let cache = prefillModel.makeCache(capacity: length)
            let seconds = try Timing.median(runs: runs) {
                cache.reset()
                _ = try prefillModel.forward(
                    TokenBatch(tokens: tokens), cache: cache,
                    options: ForwardOptions(logits: .last, kernels: prefillPolicy))
            }
            rows.append(Row(name: "prefill", tokens: length, seconds: seconds))
        }
        let prompt = (0..<128).map { _ in Int32(generator.next() % vocabulary) }
        let cache = model.makeCache(capacity: prompt.count + decodeTokens)
        var decodeTimes: [Double] = []
        for _ in 0..<max(1, runs) {
            cache.reset()
            let result = try model.generate(prompt: prompt, maxTokens: decodeTokens, cache: cache, kernels: kernels)
            decodeTimes.append(result.decodeSeconds / Double(max(result.tokens.count - 1, 1)))
        }
        decodeTimes.sort()
        rows.append(Row(name: "decode", tokens: 1, seconds: decodeTimes[decodeTimes.count / 2]))
        if let longest = verifyTokens.max() {
            let context = (0..<512).map { _ in Int32(generator.next() % vocabulary) }
            let cache = model.makeCache(capacity: context.count + longest)
            _ = try model.forward(
                TokenBatch(tokens: context), cache: cache, options: ForwardOptions(logits: .none, kernels: kernels))
            for count in verifyTokens {
                let tokens = (0..<count).map { _ in Int32(generator.next() % vocabulary) }
                let seconds = try Timing.median(runs: runs) {
                    _ = try model.forward(
                        TokenBatch(tokens: tokens), cache: cache,
                        options: ForwardOptions(logits: .all, kernels: kernels))
                    cache.trim(to: context.count)
                }
                rows.append(Row(name: "verify", tokens: count, seconds: seconds))
            }
        }
        return rows
    }

    /// Whether `model` (a file or folder name) is SmolLM2-135M, the model the README's
    /// reference figures (PyTorch, SpecForge, llama.cpp) were measured on.
    public static func hasReferenceFigures(_ model: String) -> Bool {
        model.lowercased().hasPrefix("smollm2-135m")
    }

    /// The reference figures of the README's Performance section for a prefill or decode row
    /// of SmolLM2-135M, the model they were measured on (nil for verification rows and for
    /// another `model`, a file or folder name).
    public static func reference(for row: Row, model: String = "SmolLM2-135M-Instruct") -> String? {
        guard hasReferenceFigures(model) else { return nil }
        return switch row.name {
        case "prefill":
            row.tokens == 512
                ? "PyTorch 460–570; llama.cpp here: Scripts/bench/compare-llamacpp.sh (README: Performance)"
                : "PyTorch 451 (README: Performance)"
        case "decode": "PyTorch 24; llama.cpp here: Scripts/bench/compare-llamacpp.sh (README: Performance)"
        default: nil
        }
    }
}
