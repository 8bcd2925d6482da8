import Foundation
import FledgeTensor

/// Plain autoregressive decoding with a KV cache: one prefill, then one token per forward.
public struct GenerationResult: Sendable {
    public var tokens: [Int32]
    public var promptTokens: Int
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    /// Generated tokens per second of decoding (after the first token).
    public var decodeTokensPerSecond: Double { tokens.count > 1 ? Double(tokens.count - 1) / decodeSeconds : 0 }
}

extension LlamaModel {
    /// Generates up to `maxTokens` after `prompt`, stopping after any token in `stopTokens`
    /// (which is included). `onToken` sees each token as it is produced; return false to stop.
    public func generate(
        prompt: [Int32], maxTokens: Int, sampling: SamplingOptions = SamplingOptions(), stopTokens: Set<Int32> = [],
        cache: KVCache? = nil, onToken: (Int32) -> Bool = { _ in true }
    ) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw LlamaError("generate: the prompt is empty") }
        let cache = cache ?? makeCache(capacity: prompt.count + maxTokens)
        guard cache.lengths[0] + prompt.count + maxTokens <= cache.capacity + 1 else {
            throw LlamaError("generate: \(prompt.count) prompt + \(maxTokens) new tokens exceed the cache (\(cache.capacity))")
        }
        var sampler = Sampler(sampling)
        let scratch = Tensor(zeros: [configuration.vocabularySize])
        var tokens: [Int32] = []
        let start = DispatchTime.now().uptimeNanoseconds
        var logits = try forward(TokenBatch(tokens: prompt), cache: cache, options: ForwardOptions(logits: .last)).logits!
        let prefillEnd = DispatchTime.now().uptimeNanoseconds
        while tokens.count < maxTokens {
            let next = sampler.sample(logits.pointer, count: configuration.vocabularySize, scratch: scratch.pointer)
            tokens.append(next)
            if !onToken(next) || stopTokens.contains(next) || tokens.count == maxTokens { break }
            logits = try forward(TokenBatch(tokens: [next]), cache: cache, options: ForwardOptions(logits: .last)).logits!
        }
        let end = DispatchTime.now().uptimeNanoseconds
        return GenerationResult(tokens: tokens, promptTokens: prompt.count, prefillSeconds: Double(prefillEnd - start) / 1e9,
                                decodeSeconds: Double(end - prefillEnd) / 1e9)
    }
}
