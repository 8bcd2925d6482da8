import Foundation
import FledgeLlama
import FledgeTensor

/// Speculative sampling (chain): the standard rejection rule keeps the output distribution
/// equal to the target's under the same temperature / top-p.
extension SpeculativeDecoder {
    /// Samples up to `maxTokens` with `steps` draft tokens per cycle. Draft token d drawn
    /// from q is accepted with probability min(1, p(d)/q(d)); at the first rejection the next
    /// token is drawn from normalise(max(0, p − q)); after K acceptances from p.
    public func generateSampled(prompt: [Int32], maxTokens: Int, steps: Int, sampling: SamplingOptions,
                                stopTokens: Set<Int32>, onToken: (Int32) -> Void = { _ in }) throws -> (tokens: [Int32], stats: AcceptanceStats) {
        let h = drafter.hiddenSize
        let vocabulary = target.configuration.vocabularySize
        let vd = drafter.logitColumns
        let sampler = Sampler(sampling)
        var generator = SeededGenerator(seed: sampling.seed)
        let cache = target.makeCache(capacity: prompt.count + maxTokens + steps + 2)
        drafter.reset()
        var stats = AcceptanceStats(steps: steps)
        let p = Tensor(zeros: [vocabulary]), residual = Tensor(zeros: [vocabulary])
        let q = Tensor(zeros: [steps, vd])
        var result = try target.forward(TokenBatch(tokens: prompt), cache: cache, options: drafter.forwardOptions)
        sampler.distribution(result.logits!.pointer + (prompt.count - 1) * vocabulary, count: vocabulary, into: p.pointer)
        var bonus = Int32(Sampler.draw(p.pointer, count: vocabulary, generator: &generator))
        var output: [Int32] = [bonus]
        onToken(bonus)
        var features = drafter.features(result, rows: prompt.count)
        var rowTokens = Array(prompt.dropFirst()) + [bonus]
        while output.count < maxTokens && !stopTokens.contains(output.last!) {
            let accepted = drafter.length
            var (hidden, logits) = drafter.step(tokens: rowTokens, hidden: features.pointer)
            let last = Tensor(zeros: [h])
            var proposals: [Int32] = [], indices: [Int] = []
            for k in 0..<steps {
                sampler.distribution(logits.pointer, count: vd, into: q.pointer + k * vd)
                let index = Sampler.draw(q.pointer + k * vd, count: vd, generator: &generator)
                indices.append(index)
                proposals.append(draftIDs[index])
                if k == steps - 1 { break }
                last.pointer.update(from: hidden.pointer + (hidden.shape[0] - 1) * h, count: h)
                (hidden, logits) = drafter.step(tokens: [proposals[k]], hidden: last.pointer)
            }
            let start = cache.lengths[0]
            result = try target.forward(TokenBatch(tokens: [bonus] + proposals), cache: cache, options: drafter.forwardOptions)
            var matched = 0
            var next: Int32 = -1
            while matched < steps {
                sampler.distribution(result.logits!.pointer + matched * vocabulary, count: vocabulary, into: p.pointer)
                let token = Int(proposals[matched])
                let qd = q[matched * vd + indices[matched]]
                if Double(generator.nextUniform()) < Double(min(1, p[token] / qd)) {
                    stats.accepted[matched] += 1
                    matched += 1
                    continue
                }
                // Rejected: draw from max(0, p − q), q placed on the draft ids in target space.
                residual.copy(from: p)
                for i in 0..<vd { residual[Int(draftIDs[i])] = max(0, residual[Int(draftIDs[i])] - q[matched * vd + i]) }
                var mass: Float = 0
                for i in 0..<vocabulary { mass += residual[i] }
                if mass > 0 { for i in 0..<vocabulary { residual[i] /= mass } } else { residual.copy(from: p) }
                next = Int32(Sampler.draw(residual.pointer, count: vocabulary, generator: &generator))
                break
            }
            if next < 0 {
                sampler.distribution(result.logits!.pointer + steps * vocabulary, count: vocabulary, into: p.pointer)
                next = Int32(Sampler.draw(p.pointer, count: vocabulary, generator: &generator))
            }
            cache.trim(to: start + 1 + matched)
            stats.cycles += 1
            stats.emitted += matched + 1
            let emitted = Array(proposals.prefix(matched)) + [next]
            for token in emitted where output.count < maxTokens && !stopTokens.contains(output.last!) {
                output.append(token)
                onToken(token)
            }
            bonus = next
            drafter.trim(to: accepted + rowTokens.count)
            features = drafter.features(result, rows: matched + 1)
            rowTokens = emitted
        }
        if let stop = output.firstIndex(where: { stopTokens.contains($0) }) { output = Array(output.prefix(stop + 1)) }
        return (Array(output.prefix(maxTokens)), stats)
    }
}
