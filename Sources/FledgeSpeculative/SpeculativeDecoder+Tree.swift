import Foundation
import FledgeDraft
import FledgeLlama
import FledgeNN
import FledgeTensor

/// The EAGLE-2 dynamic tree (eagle-spec.md §8.2), verified in one target pass.
extension SpeculativeDecoder {
    /// The most children per expanded node (the drafters return at most this many rows of
    /// logits per call).
    public static let maxTopK = 64

    struct Node {
        var token: Int32
        var parent: Int     // index into nodes, −1 for the root's children
        var score: Float    // cumulative draft log-probability
        var depth: Int
        var row = -1        // the drafter row holding this node once it was expanded
    }

    /// Greedy speculative decoding with a dynamic draft tree: `topK` children per expanded
    /// node, `depth` levels, `treeTokens` − 1 best nodes verified. Lossless like the chain.
    public func generateTree(prompt: [Int32], maxTokens: Int, topK: Int, depth: Int, treeTokens: Int,
                             stopTokens: Set<Int32>, onToken: (Int32) -> Void = { _ in }) throws -> (tokens: [Int32], stats: AcceptanceStats) {
        guard (1...Self.maxTopK).contains(topK) else {
            throw LlamaError("tree top-k \(topK): each level expands 1 to \(Self.maxTopK) nodes", hint: "a smaller --top-k (8 is EAGLE-2's choice)")
        }
        let h = drafter.hiddenSize
        let vocabulary = target.configuration.vocabularySize
        let cache = target.makeCache(capacity: prompt.count + maxTokens + treeTokens + 2)
        drafter.reset()
        var stats = AcceptanceStats(steps: depth)
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap() -> Double {
            let now = DispatchTime.now().uptimeNanoseconds
            defer { clock = now }
            return Double(now - clock) / 1e9
        }
        var result = try target.forward(TokenBatch(tokens: prompt), cache: cache, options: drafter.forwardOptions)
        var bonus = Int32(Sampler.argmax(result.logits!.pointer + (prompt.count - 1) * vocabulary, count: vocabulary))
        var output: [Int32] = [bonus]
        onToken(bonus)
        var features = drafter.features(result, rows: Array(0..<prompt.count))
        var rowTokens = Array(prompt.dropFirst()) + [bonus]
        stats.targetSeconds += lap()
        let vd = drafter.logitColumns
        let logProbabilities = Tensor(zeros: [max(topK, 1) * vd])
        while output.count < maxTokens && !stopTokens.contains(output.last!) {
            // Verified rows, then the tree level by level.
            let (verified, rootLogits) = drafter.step(tokens: rowTokens, hidden: features.pointer)
            let prefix = drafter.length
            let parentHidden = Tensor(zeros: [h])
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
                let rows = frontier.count
                let inputs = Tensor(zeros: [rows, h])
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
                let (outputs, logits) = drafter.step(tokens: frontier.map { nodes[$0].token }, hidden: inputs.pointer,
                                                     positions: frontier.map { Int32(prefix + nodes[$0].depth - 1) },
                                                     prefix: prefix, visible: visible, allLogits: true)
                var candidates: [Int] = []
                for (i, node) in frontier.enumerated() {
                    nodes[node].row = firstRow + i
                    hiddenByNode[node] = Tensor(Array(UnsafeBufferPointer(start: outputs.pointer + i * h, count: h)), shape: [h])
                    Softmax.logForward(logProbabilities.pointer, logits.pointer + i * vd, rows: 1, columns: vd)
                    for index in topIndices(logProbabilities.pointer, count: vd, k: topK) {
                        nodes.append(Node(token: draftIDs[index], parent: node, score: nodes[node].score + logProbabilities[index], depth: level + 1))
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
            stats.draftSeconds += lap()
            // Verify the whole tree in one forward.
            let start = cache.lengths[0]
            result = try target.forward(TokenBatch(tokens: [bonus] + ordered.map { nodes[$0].token }, treeParents: parents), cache: cache,
                                        options: drafter.forwardOptions)
            var current = 0
            var path: [Int] = []
            while true {
                let wanted = Int32(Sampler.argmax(result.logits!.pointer + current * vocabulary, count: vocabulary))
                guard let child = ordered.indices.first(where: { parents[$0 + 1] == current && nodes[ordered[$0]].token == wanted }) else { break }
                current = child + 1
                path.append(current)
            }
            let next = Int32(Sampler.argmax(result.logits!.pointer + current * vocabulary, count: vocabulary))
            for k in 0..<min(path.count, depth) { stats.accepted[k] += 1 }
            cache.keep(row: 0, from: start, indices: [0] + path)
            stats.cycles += 1
            stats.emitted += path.count + 1
            stats.targetSeconds += lap()
            let emitted = path.map { nodes[ordered[$0 - 1]].token } + [next]
            for token in emitted where output.count < maxTokens && !stopTokens.contains(output.last!) {
                output.append(token)
                onToken(token)
            }
            bonus = next
            drafter.trim(to: prefix)
            features = drafter.features(result, rows: [0] + path)
            rowTokens = emitted
        }
        if let stop = output.firstIndex(where: { stopTokens.contains($0) }) { output = Array(output.prefix(stop + 1)) }
        return (Array(output.prefix(maxTokens)), stats)
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
