import Foundation
import FledgeDraft
import FledgeLlama
import FledgeNN
import FledgeTensor

/// Acceptance statistics and time shares of generate calls (docs/design.md §4.6).
public struct AcceptanceStats: Sendable, Codable, Equatable {
    /// Draft–verify cycles (target forwards after the prefill).
    public var cycles = 0
    /// Tokens emitted by those cycles (accepted drafts + the bonus token of each cycle).
    public var emitted = 0
    /// accepted[k]: cycles whose draft token k was accepted (k = 0 is the first draft token).
    public var accepted: [Int] = []
    /// Seconds spent in the draft and in the target (prefill included), in every mode.
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
        if accepted.count < other.accepted.count {
            accepted += Array(repeating: 0, count: other.accepted.count - accepted.count)
        }
        for k in other.accepted.indices { accepted[k] += other.accepted[k] }
        draftSeconds += other.draftSeconds
        targetSeconds += other.targetSeconds
    }
}

/// What one ``DecodingSession/generate(prompt:_:onToken:)`` call asks for.
public struct DecodingRequest: Sendable, Equatable {
    public var strategy: DecodingStrategy
    /// The most new tokens.
    public var maxTokens: Int
    /// Greedy (temperature 0) or sampled; speculative sampling keeps the target's distribution.
    public var sampling: SamplingOptions
    /// Generation ends after any of these (it is part of the output).
    public var stopTokens: Set<Int32>

    public init(
        strategy: DecodingStrategy = .plain, maxTokens: Int, sampling: SamplingOptions = SamplingOptions(),
        stopTokens: Set<Int32> = []
    ) {
        self.strategy = strategy
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopTokens = stopTokens
    }
}

/// The outcome of one generate call.
public struct DecodingResult: Sendable {
    /// The new tokens, ending at the first stop token (included) or after `maxTokens`.
    public var tokens: [Int32]
    public var stats: AcceptanceStats
    /// Prompt tokens the target ran this call; the rest of the prompt came from the cache.
    public var prefilledTokens: Int
    public var prefillSeconds: Double
    /// Seconds of the whole call.
    public var seconds: Double
}

/// One conversation with a target and, optionally, a draft: the decoding engine of `generate`,
/// `chat` and `eval`.
///
/// The session keeps the target's KV cache, the draft's KV cache and the draft's pending
/// features across calls: a call whose prompt extends what the session has seen (the next
/// turn of a chat, which repeats the earlier turns) prefills only the new tokens. Every
/// strategy (plain, chain, tree; greedy or sampled) goes through ``generate(prompt:_:onToken:)``,
/// which records target and draft time in every mode. The kernels are the session's
/// ``KernelPolicy``; a strategy that would make greedy speculation differ from plain decoding
/// under it is refused before anything runs.
public final class DecodingSession {
    public let target: LlamaModel
    public let drafter: (any Drafter)?
    public let kernels: KernelPolicy
    private var cache: KVCache
    /// The tokens whose keys and values the target cache holds, in order.
    public private(set) var history: [Int32] = []
    /// Features (the draft's step-0 rows) of the target positions `drafter.length ..<
    /// drafter.length + pending.rows` that the draft has not consumed yet.
    private var pending: Tensor?
    private let draftIDs: [Int32]

    /// - Parameter drafter: the draft (its KV cache becomes the session's); nil: plain decoding only.
    public init(target: LlamaModel, drafter: (any Drafter)? = nil, kernels: KernelPolicy = .standard) {
        self.target = target
        self.drafter = drafter
        self.kernels = kernels
        draftIDs = drafter?.columnTokens ?? []
        cache = target.makeCache(capacity: 256)
        drafter?.reset()
        drafter?.kernels = kernels
    }

    /// Forgets the conversation (the caches keep their memory).
    public func reset() {
        cache.reset()
        history = []
        pending = nil
        drafter?.reset()
    }

    /// Positions the target cache can hold without growing.
    public var capacity: Int { cache.capacity }

    /// Generates after `prompt`, the whole conversation so far (its longest prefix already in
    /// the caches is reused).
    /// - Throws: ``LlamaError`` for a strategy the session cannot run losslessly, a missing
    ///   draft, an empty prompt, or a conversation longer than the model's positions.
    @discardableResult
    public func generate(
        prompt: [Int32], _ request: DecodingRequest, onToken: (Int32) -> Void = { _ in }
    ) throws -> DecodingResult {
        let strategy = request.strategy
        guard !prompt.isEmpty else { throw LlamaError("generate: the prompt is empty") }
        guard request.maxTokens >= 1 else { throw LlamaError("generate: maxTokens must be at least 1") }
        if let refusal = strategy.refusal(sampling: request.sampling, kernels: kernels) {
            throw LlamaError("\(strategy): \(refusal)", hint: "choose a smaller chain or tree, or plain decoding")
        }
        let needed = prompt.count + request.maxTokens + strategy.verificationRows + 2
        guard needed <= target.configuration.maxPositions else {
            throw LlamaError(
                "generate: \(prompt.count) prompt + \(request.maxTokens) new tokens exceed the model's "
                    + "\(target.configuration.maxPositions) positions",
                hint: "a shorter conversation or fewer --max-tokens")
        }
        growCache(to: needed)
        guard strategy.isSpeculative else { return try generatePlain(prompt: prompt, request, onToken: onToken) }
        guard let drafter else {
            throw LlamaError("generate: \(strategy) needs a draft", hint: "load one with --draft, or decode plainly")
        }
        guard needed <= drafter.capacity else {
            throw LlamaError(
                "generate: the conversation needs \(needed) positions, the draft's cache holds \(drafter.capacity)")
        }
        if case .tree(let topK, let depth, let treeTokens) = strategy {
            return try generateTree(
                prompt: prompt, request, drafter: drafter, topK: topK, depth: depth, treeTokens: treeTokens,
                onToken: onToken)
        }
        return try generateChain(prompt: prompt, request, drafter: drafter, onToken: onToken)
    }

    // MARK: shared parts

    /// A monotonic stopwatch whose laps are added to the target or the draft.
    struct Stopwatch {
        var start = DispatchTime.now().uptimeNanoseconds
        var clock = DispatchTime.now().uptimeNanoseconds
        mutating func lap() -> Double {
            let now = DispatchTime.now().uptimeNanoseconds
            defer { clock = now }
            return Double(now - clock) / 1e9
        }
        var total: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
    }

    /// Replaces the target cache by a larger one holding the same positions.
    private func growCache(to positions: Int) {
        guard positions > cache.capacity else { return }
        let grown = target.makeCache(
            capacity: min(max(positions, 2 * cache.capacity), target.configuration.maxPositions))
        grown.copyPrefix(of: cache)
        cache = grown
    }

    /// The number of leading tokens `history` and `prompt` share, at most `prompt.count − 1`
    /// (the last prompt token always runs: its logits choose the first new token).
    private func reusablePrefix(_ prompt: [Int32]) -> Int {
        var shared = 0
        let limit = min(history.count, prompt.count - 1)
        while shared < limit && history[shared] == prompt[shared] { shared += 1 }
        return shared
    }

    /// Plain decoding: the cached prefix is kept and the rest of the prompt prefilled.
    private func generatePlain(
        prompt: [Int32], _ request: DecodingRequest, onToken: (Int32) -> Void
    ) throws -> DecodingResult {
        var watch = Stopwatch()
        let keep = reusablePrefix(prompt)
        cache.trim(to: keep)
        history.removeSubrange(keep...)
        // The draft keeps the rows whose tokens are still in the history (row t holds x_{t+1});
        // its pending features stop where the history did.
        if let drafter {
            let kept = min(drafter.length, max(keep - 1, 0))
            if kept < drafter.length {
                drafter.trim(to: kept)
                pending = nil
            } else if let rows = pending?.shape[0] {
                let valid = min(rows, keep - kept)
                pending = valid == rows ? pending : valid == 0 ? nil : gather(pending!, rows: 0..<valid)
            }
        }
        let result = try target.generate(
            prompt: Array(prompt[keep...]), maxTokens: request.maxTokens, sampling: request.sampling,
            stopTokens: request.stopTokens, cache: cache, kernels: kernels
        ) {
            onToken($0); return true
        }
        // The last token is not in the cache (it was never fed back).
        history += prompt[keep...]
        history += result.tokens.dropLast()
        var stats = AcceptanceStats(steps: 0)
        stats.targetSeconds = watch.lap()
        return DecodingResult(
            tokens: result.tokens, stats: stats, prefilledTokens: prompt.count - keep,
            prefillSeconds: result.prefillSeconds, seconds: watch.total)
    }

    /// The prefill of a speculative call: trims both caches to what the new prompt shares,
    /// runs the target on the rest and returns its last row's logits, the draft's step-0 rows
    /// for positions `drafter.length ..< prompt.count` and their tokens (the bonus token
    /// still to append).
    private func prefill(
        _ prompt: [Int32], drafter: any Drafter
    ) throws -> (result: ForwardResult, features: Tensor, rowTokens: [Int32], prefilled: Int) {
        let shared = reusablePrefix(prompt)
        // Draft row t holds token x_{t+1}: rows before shared − 1 stay valid.
        let draftRows = drafter.length
        let keptRows = min(draftRows, max(shared - 1, 0))
        let pendingRows = pending?.shape[0] ?? 0
        // Without trimming the draft, the pending features cover positions up to
        // draftRows + pendingRows; otherwise the target reruns from the kept draft rows.
        let start = keptRows == draftRows ? min(shared, draftRows + pendingRows) : keptRows
        drafter.trim(to: keptRows)
        cache.trim(to: start)
        history.removeSubrange(start...)
        var options = drafter.forwardOptions
        options.logits = .last
        options.kernels = kernels
        let result = try target.forward(TokenBatch(tokens: Array(prompt[start...])), cache: cache, options: options)
        history += prompt[start...]
        let fresh = drafter.features(result, rows: prompt.count - start)
        let reused = start - keptRows
        let features: Tensor
        if reused > 0, let pending {
            let width = fresh.shape[-1]
            features = Tensor(zeros: [reused + fresh.shape[0], width])
            features.pointer.update(from: pending.pointer, count: reused * width)
            (features.pointer + reused * width).update(from: fresh.pointer, count: fresh.count)
        } else {
            features = fresh
        }
        pending = nil
        return (result, features, Array(prompt[(keptRows + 1)...]), prompt.count - start)
    }

    private func gather(_ tensor: Tensor, rows: Range<Int>) -> Tensor {
        let width = tensor.shape[-1]
        let out = Tensor(zeros: [rows.count, width])
        out.pointer.update(from: tensor.pointer + rows.lowerBound * width, count: rows.count * width)
        return out
    }

    /// The prologue of a speculative call: the prefill, the first token (`first` of the last
    /// prompt row's logits, streamed), the draft's step-0 rows and their tokens (the first token
    /// appended), the prefill's time added to the target's.
    private func begin(
        _ prompt: [Int32], drafter: any Drafter, stats: inout AcceptanceStats, watch: inout Stopwatch,
        onToken: (Int32) -> Void, first: (UnsafePointer<Float>) -> Int32
    ) throws -> (features: Tensor, rowTokens: [Int32], bonus: Int32, prefilled: Int, prefillSeconds: Double) {
        let (result, features, rowTokens, prefilled) = try prefill(prompt, drafter: drafter)
        let bonus = first(result.logits!.pointer)
        onToken(bonus)
        let prefillSeconds = watch.lap()
        stats.targetSeconds += prefillSeconds
        return (features, rowTokens + [bonus], bonus, prefilled, prefillSeconds)
    }

    /// What a verification forward returns: the draft's features and every row's logits, under
    /// the session's kernels.
    private func verification(_ drafter: any Drafter) -> ForwardOptions {
        var options = drafter.forwardOptions
        options.kernels = kernels
        return options
    }

    /// Appends `emitted` to `output` up to a stop token or the budget, streaming each.
    private func emit(
        _ emitted: [Int32], into output: inout [Int32], _ request: DecodingRequest, onToken: (Int32) -> Void
    ) {
        for token in emitted where output.count < request.maxTokens && !request.stopTokens.contains(output.last!) {
            output.append(token)
            onToken(token)
        }
    }

    private func finished(_ output: [Int32], _ request: DecodingRequest) -> Bool {
        output.count >= request.maxTokens || request.stopTokens.contains(output.last!)
    }

    // MARK: chain

    /// A chain of K draft tokens per cycle, verified in one target forward: greedy keeps the
    /// longest prefix matching the target's argmax plus the target's next token; sampling
    /// accepts draft token d drawn from q with probability min(1, p(d)/q(d)), draws the next
    /// token from normalise(max(0, p − q)) at the first rejection, and from p after K
    /// acceptances, so the output follows the target's distribution.
    private func generateChain(
        prompt: [Int32], _ request: DecodingRequest, drafter: any Drafter,
        onToken: (Int32) -> Void
    ) throws -> DecodingResult {
        let steps = request.strategy.steps
        let greedy = request.sampling.isGreedy
        let h = drafter.hiddenSize, vd = drafter.logitColumns
        let vocabulary = target.configuration.vocabularySize
        let sampler = Sampler(request.sampling)
        var generator = SeededGenerator(seed: request.sampling.seed)
        var stats = AcceptanceStats(steps: steps)
        var watch = Stopwatch()
        let p = Tensor(zeros: [vocabulary]), residual = Tensor(zeros: [vocabulary]), q = Tensor(zeros: [steps, vd])
        let last = Tensor(zeros: [h])
        /// The target's choice from a row of logits.
        func choose(_ logits: UnsafePointer<Float>) -> Int32 {
            if greedy { return Int32(Sampler.argmax(logits, count: vocabulary)) }
            sampler.distribution(logits, count: vocabulary, into: p.pointer)
            return Int32(Sampler.draw(p.pointer, count: vocabulary, generator: &generator))
        }
        var (features, rowTokens, bonus, prefilled, prefillSeconds) = try begin(
            prompt, drafter: drafter, stats: &stats, watch: &watch, onToken: onToken, first: choose)
        var output: [Int32] = [bonus]
        let verify = verification(drafter)
        var result: ForwardResult
        while !finished(output, request) {
            // Draft K tokens; each step feeds back the last row's output hidden.
            let accepted = drafter.length
            var (hidden, logits) = drafter.step(tokens: rowTokens, hidden: features.pointer)
            var proposals: [Int32] = [], indices: [Int] = []
            for k in 0..<steps {
                let index: Int
                if greedy {
                    index = Sampler.argmax(logits.pointer, count: vd)
                } else {
                    sampler.distribution(logits.pointer, count: vd, into: q.pointer + k * vd)
                    index = Sampler.draw(q.pointer + k * vd, count: vd, generator: &generator)
                }
                indices.append(index)
                proposals.append(draftIDs[index])
                if k == steps - 1 { break }
                last.pointer.update(from: hidden.pointer + (hidden.shape[0] - 1) * h, count: h)
                (hidden, logits) = drafter.step(tokens: [proposals[k]], hidden: last.pointer)
            }
            stats.draftSeconds += watch.lap()
            // Verify [bonus, d1 … dK] in one target forward.
            let start = cache.lengths[0]
            result = try target.forward(TokenBatch(tokens: [bonus] + proposals), cache: cache, options: verify)
            let rows = result.logits!.pointer
            var matched = 0
            var next: Int32 = -1
            while matched < steps {
                let row = rows + matched * vocabulary
                if greedy {
                    guard proposals[matched] == Int32(Sampler.argmax(row, count: vocabulary)) else { break }
                } else {
                    sampler.distribution(row, count: vocabulary, into: p.pointer)
                    let qd = q[matched * vd + indices[matched]]
                    if Double(generator.nextUniform()) >= Double(min(1, p[Int(proposals[matched])] / qd)) {
                        // Rejected: draw from max(0, p − q), q placed on the draft ids in target space.
                        residual.copy(from: p)
                        for i in 0..<vd {
                            residual[Int(draftIDs[i])] = max(0, residual[Int(draftIDs[i])] - q[matched * vd + i])
                        }
                        var mass: Float = 0
                        for i in 0..<vocabulary { mass += residual[i] }
                        if mass > 0 { for i in 0..<vocabulary { residual[i] /= mass } } else { residual.copy(from: p) }
                        next = Int32(Sampler.draw(residual.pointer, count: vocabulary, generator: &generator))
                        break
                    }
                }
                stats.accepted[matched] += 1
                matched += 1
            }
            if next < 0 { next = choose(rows + matched * vocabulary) }
            cache.trim(to: start + 1 + matched)
            history += [bonus] + proposals.prefix(matched)
            stats.cycles += 1
            stats.emitted += matched + 1
            stats.targetSeconds += watch.lap()
            let emitted = Array(proposals.prefix(matched)) + [next]
            emit(emitted, into: &output, request, onToken: onToken)
            bonus = next
            // The draft keeps its rows up to the verified prefix; the verified rows come next.
            drafter.trim(to: accepted + rowTokens.count)
            features = drafter.features(result, rows: matched + 1)
            rowTokens = emitted
        }
        pending = features
        return DecodingResult(
            tokens: output, stats: stats, prefilledTokens: prefilled, prefillSeconds: prefillSeconds,
            seconds: watch.total)
    }

    // MARK: tree

    struct Node {
        var token: Int32
        var parent: Int  // index into nodes, −1 for the root's children
        var score: Float  // cumulative draft log-probability
        var depth: Int
        var row = -1  // the drafter row holding this node once it was expanded
    }

    /// Greedy speculative decoding with an EAGLE-2 dynamic tree: `topK` children per
    /// expanded node, `depth` levels, the best `treeTokens` − 1 nodes (closed under
    /// ancestors) verified in one target forward with an ancestor mask.
    private func generateTree(
        prompt: [Int32], _ request: DecodingRequest, drafter: any Drafter, topK: Int, depth: Int, treeTokens: Int,
        onToken: (Int32) -> Void
    ) throws -> DecodingResult {
        let h = drafter.hiddenSize, vd = drafter.logitColumns
        let vocabulary = target.configuration.vocabularySize
        var stats = AcceptanceStats(steps: depth)
        var watch = Stopwatch()
        var (features, rowTokens, bonus, prefilled, prefillSeconds) = try begin(
            prompt, drafter: drafter, stats: &stats, watch: &watch, onToken: onToken
        ) { Int32(Sampler.argmax($0, count: vocabulary)) }
        var output: [Int32] = [bonus]
        let verify = verification(drafter)
        var result: ForwardResult
        let logProbabilities = Tensor(zeros: [vd])
        let parentHidden = Tensor(zeros: [h])
        while !finished(output, request) {
            // Verified rows, then the tree level by level.
            let (verified, rootLogits) = drafter.step(tokens: rowTokens, hidden: features.pointer)
            let prefix = drafter.length
            parentHidden.pointer.update(from: verified.pointer + (verified.shape[0] - 1) * h, count: h)
            var nodes: [Node] = []
            Softmax.logForward(logProbabilities.pointer, rootLogits.pointer, rows: 1, columns: vd)
            for index in topIndices(logProbabilities.pointer, count: vd, k: topK) {
                nodes.append(Node(token: draftIDs[index], parent: -1, score: logProbabilities[index], depth: 1))
            }
            var frontier = Array(nodes.indices)
            var hiddenByNode: [Int: Tensor] = [:]
            for level in 1..<max(depth, 1) {
                // Expand the frontier: each node's row gets its parent's output hidden.
                let inputs = Tensor(zeros: [frontier.count, h])
                for (i, node) in frontier.enumerated() {
                    let source = nodes[node].parent < 0 ? parentHidden : hiddenByNode[nodes[node].parent]!
                    (inputs.pointer + i * h).update(from: source.pointer, count: h)
                }
                let firstRow = drafter.length
                let visible = frontier.map { node -> [Int] in
                    var rowsSeen: [Int] = []
                    var ancestor = nodes[node].parent
                    while ancestor >= 0 { rowsSeen.append(nodes[ancestor].row); ancestor = nodes[ancestor].parent }
                    return rowsSeen
                }
                let (outputs, logits) = drafter.step(
                    tokens: frontier.map { nodes[$0].token }, hidden: inputs.pointer,
                    positions: frontier.map { Int32(prefix + nodes[$0].depth - 1) },
                    prefix: prefix, visible: visible, allLogits: true)
                var candidates: [Int] = []
                for (i, node) in frontier.enumerated() {
                    nodes[node].row = firstRow + i
                    hiddenByNode[node] = Tensor(
                        Array(UnsafeBufferPointer(start: outputs.pointer + i * h, count: h)), shape: [h])
                    Softmax.logForward(logProbabilities.pointer, logits.pointer + i * vd, rows: 1, columns: vd)
                    for index in topIndices(logProbabilities.pointer, count: vd, k: topK) {
                        nodes.append(
                            Node(
                                token: draftIDs[index], parent: node,
                                score: nodes[node].score + logProbabilities[index], depth: level + 1))
                        candidates.append(nodes.count - 1)
                    }
                }
                frontier = Array(candidates.sorted { nodes[$0].score > nodes[$1].score }.prefix(topK))
            }
            // The best treeTokens − 1 nodes, closed under ancestors, parents before children.
            var chosen = Set(nodes.indices.sorted { nodes[$0].score > nodes[$1].score }.prefix(max(treeTokens - 1, 1)))
            for node in Array(chosen) {
                var ancestor = nodes[node].parent
                while ancestor >= 0 { chosen.insert(ancestor); ancestor = nodes[ancestor].parent }
            }
            let ordered = chosen.sorted { (nodes[$0].depth, $0) < (nodes[$1].depth, $1) }
            var position = [Int: Int]()
            for (i, node) in ordered.enumerated() { position[node] = i + 1 }
            let parents = [-1] + ordered.map { nodes[$0].parent < 0 ? 0 : position[nodes[$0].parent]! }
            stats.draftSeconds += watch.lap()
            // Verify the whole tree in one forward (closing under ancestors can add nodes: the
            // kernels' row limit still holds, as the count never exceeds treeTokens − 1 + depth).
            let start = cache.lengths[0]
            guard parents.count <= kernels.losslessVerificationRows else {
                throw LlamaError(
                    "tree: \(parents.count) tokens to verify exceed the row-exact kernels' "
                        + "\(kernels.losslessVerificationRows)",
                    hint: "a smaller --tree-tokens or --depth")
            }
            result = try target.forward(
                TokenBatch(tokens: [bonus] + ordered.map { nodes[$0].token }, treeParents: parents), cache: cache,
                options: verify)
            var current = 0
            var path: [Int] = []
            while true {
                let wanted = Int32(Sampler.argmax(result.logits!.pointer + current * vocabulary, count: vocabulary))
                guard
                    let child = ordered.indices.first(where: {
                        parents[$0 + 1] == current && nodes[ordered[$0]].token == wanted
                    })
                else { break }
                current = child + 1
                path.append(current)
            }
            let next = Int32(Sampler.argmax(result.logits!.pointer + current * vocabulary, count: vocabulary))
            for k in 0..<min(path.count, depth) { stats.accepted[k] += 1 }
            cache.keep(row: 0, from: start, indices: [0] + path)
            let accepted = path.map { nodes[ordered[$0 - 1]].token }
            history += [bonus] + accepted
            stats.cycles += 1
            stats.emitted += path.count + 1
            stats.targetSeconds += watch.lap()
            let emitted = accepted + [next]
            emit(emitted, into: &output, request, onToken: onToken)
            bonus = next
            drafter.trim(to: prefix)
            features = drafter.features(result, rows: [0] + path)
            rowTokens = emitted
        }
        pending = features
        return DecodingResult(
            tokens: output, stats: stats, prefilledTokens: prefilled, prefillSeconds: prefillSeconds,
            seconds: watch.total)
    }

    /// The indices of the `k` largest values, largest first (ties: lower index first).
    func topIndices(_ x: UnsafePointer<Float>, count: Int, k: Int) -> [Int] {
        var best: [(Float, Int)] = []
        for i in 0..<count where best.count < k || x[i] > best[best.count - 1].0 {
            best.append((x[i], i))
            best.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
            if best.count > k { best.removeLast() }
        }
        return best.map(\.1)
    }
}
