import Foundation
import FledgeTensor

/// Plain autoregressive decoding with a KV cache: one prefill, then one token per forward.
public struct GenerationResult: Sendable {
    public var tokens: [Int32]
    public var promptTokens: Int
    public var prefillSeconds: Double
    public var decodeSeconds: Double
}

extension LlamaModel {
    /// Throws when `logits` hold a NaN or an infinity: weights that are finite but out of range
    /// (a corrupt file) would otherwise decode to garbage text.
    public func checkLogits(_ logits: Tensor) throws {
        let values = logits.pointer
        for index in 0..<logits.count where !values[index].isFinite {
            throw LlamaError(
                "the model produced a non-finite logit (\(values[index]) for token "
                    + "\(index % configuration.vocabularySize))",
                hint: "its weights are out of range; is the weights file corrupt?")
        }
    }

    /// Generates up to `maxTokens` after `prompt`, stopping after any token in `stopTokens`
    /// (which is included). `onToken` sees each token as it is produced; return false to stop.
    /// With `cache`, the prompt is appended to what it holds (a conversation's next turn);
    /// the last generated token is not fed back, so the cache ends one token short.
    public func generate(
        prompt: [Int32], maxTokens: Int, sampling: SamplingOptions = SamplingOptions(), stopTokens: Set<Int32> = [],
        cache: KVCache? = nil, kernels: KernelPolicy = .standard, onToken: (Int32) -> Bool = { _ in true }
    ) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw LlamaError("generate: the prompt is empty") }
        let cache = cache ?? makeCache(capacity: prompt.count + maxTokens)
        guard cache.lengths[0] + prompt.count + maxTokens <= cache.capacity + 1 else {
            throw LlamaError(
                "generate: \(prompt.count) prompt + \(maxTokens) new tokens exceed the cache (\(cache.capacity))")
        }
        var sampler = Sampler(sampling)
        let scratch = Tensor(zeros: [configuration.vocabularySize])
        var tokens: [Int32] = []
        let start = DispatchTime.now().uptimeNanoseconds
        let options = ForwardOptions(logits: .last, kernels: kernels)
        var logits = try forward(TokenBatch(tokens: prompt), cache: cache, options: options).logits!
        try checkLogits(logits)
        let prefillEnd = DispatchTime.now().uptimeNanoseconds
        while tokens.count < maxTokens {
            let next = sampler.sample(logits.pointer, count: configuration.vocabularySize, scratch: scratch.pointer)
            tokens.append(next)
            if !onToken(next) || stopTokens.contains(next) || tokens.count == maxTokens { break }
            logits = try forward(TokenBatch(tokens: [next]), cache: cache, options: options).logits!
            try checkLogits(logits)
        }
        let end = DispatchTime.now().uptimeNanoseconds
        return GenerationResult(
            tokens: tokens, promptTokens: prompt.count, prefillSeconds: Double(prefillEnd - start) / 1e9,
            decodeSeconds: Double(end - prefillEnd) / 1e9)
    }
}

extension LlamaModel {
    /// Generates for several prompts at once: each prompt is prefilled on its own (the same
    /// call whatever the batch), then the rows decode together, one token per row per forward
    /// (row-exact kernels). Each row has its own sampler, so a row's output does not depend on
    /// which other rows share its batch.
    /// - Returns: the generated tokens of each row, each ending at its first stop token
    ///   (included) or after `maxTokens`.
    public func generateBatch(
        prompts: [[Int32]], maxTokens: Int, samplers: [Sampler], stopTokens: Set<Int32>,
        kernels: KernelPolicy = .standard
    ) throws -> [[Int32]] {
        precondition(prompts.count == samplers.count, "one sampler per prompt")
        guard !prompts.isEmpty else { return [] }
        guard prompts.allSatisfy({ !$0.isEmpty }) else { throw LlamaError("generate: an empty prompt") }
        var samplers = samplers
        let rows = prompts.count
        let longest = prompts.map(\.count).max()!
        var cache = makeCache(batch: rows, capacity: longest + maxTokens)
        guard longest + maxTokens <= cache.capacity else {
            throw LlamaError(
                "generate: a \(longest)-token prompt plus \(maxTokens) new tokens exceed the model's "
                    + "\(configuration.maxPositions) positions"
            )
        }
        let vocabulary = configuration.vocabularySize
        let scratch = Tensor(zeros: [vocabulary])
        var outputs = [[Int32]](repeating: [], count: rows)
        var finished = [Bool](repeating: false, count: rows)
        var logits = Tensor(zeros: [rows, vocabulary])
        let single = makeCache(capacity: longest)
        for (row, prompt) in prompts.enumerated() {
            single.reset()
            let last = try forward(
                TokenBatch(tokens: prompt), cache: single, options: ForwardOptions(logits: .last, kernels: kernels)
            ).logits!
            (logits.pointer + row * vocabulary).update(from: last.pointer, count: vocabulary)
            cache.copyRow(row, from: single)
        }
        try checkLogits(logits)
        // Cache row i (and logits row i) holds prompt active[i].
        var active = Array(0..<rows)
        for _ in 0..<maxTokens {
            var next = [Int32](repeating: 0, count: active.count)
            for (i, row) in active.enumerated() where !finished[row] {
                let token = samplers[row].sample(
                    logits.pointer + i * vocabulary, count: vocabulary, scratch: scratch.pointer)
                outputs[row].append(token)
                next[i] = token
                if stopTokens.contains(token) || outputs[row].count == maxTokens { finished[row] = true }
            }
            let remaining = active.indices.filter { !finished[active[$0]] }
            if remaining.isEmpty { break }
            // Once finished rows are half the batch, the others move to a smaller cache (until
            // then finished rows decode a dummy token, their outputs frozen). Row-exact kernels
            // give a row the same bits in any batch.
            if remaining.count * 2 <= active.count {
                let smaller = makeCache(batch: remaining.count, capacity: cache.capacity)
                for (j, i) in remaining.enumerated() { smaller.copyRow(j, from: cache, source: i) }
                cache = smaller
                next = remaining.map { next[$0] }
                active = remaining.map { active[$0] }
            }
            logits = try forward(
                TokenBatch(tokens: next, batch: active.count, length: 1), cache: cache,
                options: ForwardOptions(logits: .last, kernels: kernels)
            ).logits!
            try checkLogits(logits)
        }
        return outputs
    }
}
