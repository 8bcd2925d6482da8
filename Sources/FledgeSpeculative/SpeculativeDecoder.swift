import Foundation
import FledgeDraft
import FledgeLlama
import FledgeTensor

/// Acceptance statistics of a speculative run (eagle-spec.md §8.1).
public struct AcceptanceStats: Sendable, Codable, Equatable {
    /// Draft–verify cycles (target forwards after the prefill).
    public var cycles = 0
    /// Tokens emitted by those cycles (accepted drafts + the bonus token of each cycle).
    public var emitted = 0
    /// accepted[k]: cycles whose draft token k was accepted (k = 0 is the first draft token).
    public var accepted: [Int] = []
    public var draftSeconds = 0.0
    public var targetSeconds = 0.0

    public init(steps: Int) { accepted = Array(repeating: 0, count: steps) }

    /// τ: tokens per target forward, bonus token included.
    public var acceptanceLength: Double { cycles == 0 ? 0 : Double(emitted) / Double(cycles) }
    /// Per-position acceptance rates (of all cycles).
    public var acceptanceRates: [Double] { accepted.map { cycles == 0 ? 0 : Double($0) / Double(cycles) } }

    public mutating func merge(_ other: AcceptanceStats) {
        cycles += other.cycles
        emitted += other.emitted
        for k in accepted.indices where k < other.accepted.count { accepted[k] += other.accepted[k] }
        draftSeconds += other.draftSeconds
        targetSeconds += other.targetSeconds
    }
}

/// Greedy chain speculative decoding with an EAGLE-3 or EAGLE-1 draft (any ``Drafter``): the draft proposes K tokens, the
/// target verifies them in one forward (which also yields the features of the accepted
/// tokens for the draft), the longest prefix matching the target's argmax is kept plus the
/// target's own next token; rejected positions are trimmed from both KV caches. The output
/// equals plain greedy decoding of the target.
public final class SpeculativeDecoder {
    public let target: LlamaModel
    public let drafter: any Drafter
    let draftIDs: [Int32]

    public init(target: LlamaModel, drafter: any Drafter) {
        self.target = target
        self.drafter = drafter
        draftIDs = drafter.columnTokens
    }

    /// An EAGLE-3 draft reading the target's `layers` (default: eagle-spec.md §2.1's).
    public convenience init(target: LlamaModel, draft: Eagle3Draft, capacity: Int, layers: [Int]? = nil) {
        let layers = layers ?? Eagle3Drafter.defaultLayers(targetLayerCount: target.configuration.layerCount)
        self.init(target: target, drafter: Eagle3Drafter(draft: draft, capacity: capacity, layers: layers))
    }

    /// An EAGLE-1 draft; its logits go through the target's own head.
    public convenience init(target: LlamaModel, draft: Eagle1Draft, capacity: Int) {
        self.init(target: target, drafter: Eagle1Drafter(draft: draft, capacity: capacity, target: target))
    }

    /// Generates up to `maxTokens` after `prompt` with `steps` draft tokens per cycle.
    public func generate(prompt: [Int32], maxTokens: Int, steps: Int, stopTokens: Set<Int32>,
                         onToken: (Int32) -> Void = { _ in }) throws -> (tokens: [Int32], stats: AcceptanceStats) {
        let h = drafter.hiddenSize
        let cache = target.makeCache(capacity: prompt.count + maxTokens + steps + 2)
        drafter.reset()
        var stats = AcceptanceStats(steps: steps)
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap() -> Double {
            let now = DispatchTime.now().uptimeNanoseconds
            defer { clock = now }
            return Double(now - clock) / 1e9
        }
        // Prefill: the target's features of the prompt and its first token.
        var result = try target.forward(TokenBatch(tokens: prompt), cache: cache, options: drafter.forwardOptions)
        let vocabulary = target.configuration.vocabularySize
        var bonus = Int32(Sampler.argmax(result.logits!.pointer + (prompt.count - 1) * vocabulary, count: vocabulary))
        var output: [Int32] = [bonus]
        onToken(bonus)
        var features = drafter.features(result, rows: prompt.count)
        // The draft's rows: token x_{t+1} with the feature of prefix x_0…x_t.
        var rowTokens = Array(prompt.dropFirst()) + [bonus]
        stats.targetSeconds += lap()
        while output.count < maxTokens && !stopTokens.contains(output.last!) {
            // Draft K tokens.
            let accepted = drafter.length
            var (hidden, logits) = drafter.step(tokens: rowTokens, hidden: features.pointer)
            let last = Tensor(zeros: [h])
            var proposals: [Int32] = []
            for k in 0..<steps {
                let index = Sampler.argmax(logits.pointer, count: logits.count)
                proposals.append(draftIDs[index])
                if k == steps - 1 { break }
                last.pointer.update(from: hidden.pointer + (hidden.shape[0] - 1) * h, count: h)
                (hidden, logits) = drafter.step(tokens: [proposals[k]], hidden: last.pointer)
            }
            stats.draftSeconds += lap()
            // Verify [bonus, d1 … dK] in one target forward.
            let start = cache.lengths[0]
            result = try target.forward(TokenBatch(tokens: [bonus] + proposals), cache: cache, options: drafter.forwardOptions)
            var matched = 0
            while matched < steps && proposals[matched] == Int32(Sampler.argmax(result.logits!.pointer + matched * vocabulary, count: vocabulary)) {
                stats.accepted[matched] += 1
                matched += 1
            }
            let next = Int32(Sampler.argmax(result.logits!.pointer + matched * vocabulary, count: vocabulary))
            cache.trim(to: start + 1 + matched)
            stats.cycles += 1
            stats.emitted += matched + 1
            stats.targetSeconds += lap()
            // Emit the accepted drafts and the target's token (up to a stop token or the budget).
            let emitted = Array(proposals.prefix(matched)) + [next]
            for token in emitted where output.count < maxTokens && !stopTokens.contains(output.last!) {
                output.append(token)
                onToken(token)
            }
            bonus = next
            // The draft keeps its rows up to the verified prefix; the verified rows come next.
            drafter.trim(to: accepted + rowTokens.count)
            features = drafter.features(result, rows: matched + 1)
            rowTokens = emitted
        }
        if let stop = output.firstIndex(where: { stopTokens.contains($0) }) { output = Array(output.prefix(stop + 1)) }
        return (Array(output.prefix(maxTokens)), stats)
    }
}
