import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor

/// An EAGLE-3 draft at inference: its decoder layers, each with its own KV cache.
///
/// Positions follow training (docs/design.md §2.5, §4.1): the feature row of prefix x₀…x_t is
/// processed at position t with the embedding of x_{t+1}; the k-th speculative step after
/// position p runs at p + k, attending to every cached position (causal) — the chain analogue
/// of the training-time-test mask.
public final class Eagle3Drafter: Drafter {
    public let draft: Eagle3Draft
    public let capacity: Int
    /// The matrix kernels of every step (the session sets its own).
    public var kernels = KernelPolicy.standard
    /// Positions held in the cache.
    public var length: Int { caches[0].length }
    /// One per decoder layer, all holding the same positions.
    let caches: [DraftAttentionCache]
    let maxRows: Int
    var buffers: [String: Tensor] = [:]

    /// The target layers whose outputs are fused into the features `[low | mid | high]`.
    public let layers: [Int]
    let columns: [Int32]
    /// Q8_0 copies of the layers' matrices, the head and `fc` (when made with `quantize`),
    /// read by decoding steps under kernel policies that use quantised blocks.
    let quantized: [DecoderLayer.QuantizedWeights]
    let quantizedHead: QuantizedMatrix?
    let quantizedFC: QuantizedMatrix?
    /// Views of the draft's parameters, resolved once (they stay valid: the buffer never moves).
    let weights: Eagle3Draft.Weights

    /// - Parameters:
    ///   - layers: the captured target layers (``Eagle3Draft/makeDrafter(target:capacity:)``
    ///     passes the draft's own, or its method's defaults); only ``features(_:rows:)`` reads them.
    ///   - quantize: keep Q8_0 copies of the matrices (a snapshot of the weights: for decoding
    ///     with a finished draft, not for a draft still training).
    public init(draft: Eagle3Draft, capacity: Int, layers: [Int] = [], maxRows: Int = 256, quantize: Bool = false) {
        let c = draft.configuration
        self.draft = draft
        let p = Eagle3Draft.Weights(draft.parameters, layerCount: c.layerCount, gradients: false)
        weights = p
        if quantize {
            quantized = p.layers.map {
                DecoderLayer.QuantizedWeights(
                    quantizing: $0.q, k: $0.k, v: $0.v, o: $0.o, gate: $0.gate, up: $0.up, down: $0.down)
            }
            quantizedHead = QuantizedMatrix(quantizing: p.head)
            quantizedFC = QuantizedMatrix(quantizing: p.fc)
        } else {
            quantized = p.layers.map { _ in DecoderLayer.QuantizedWeights() }
            (quantizedHead, quantizedFC) = (nil, nil)
        }
        self.layers = layers
        columns = draft.draftTargetIDs
        self.capacity = capacity
        self.maxRows = maxRows
        caches = p.layers.map { _ in
            DraftAttentionCache(
                capacity: capacity, maxRows: maxRows, heads: c.headCount, kvHeads: c.kvHeadCount,
                headDimension: c.headDimension)
        }
        for (name, width) in [
            ("e", c.hiddenSize), ("h", c.hiddenSize), ("en", c.hiddenSize), ("hn", c.hiddenSize),
            ("x", 2 * c.hiddenSize),
            ("q", c.qWidth), ("k", c.kvWidth), ("v", c.kvWidth), ("attn", c.qWidth), ("post", c.hiddenSize),
            ("gate", c.intermediateSize), ("up", c.intermediateSize), ("out", c.hiddenSize), ("normed", c.hiddenSize),
            ("rstd", 1), ("lse", c.headCount),
        ] where name != "logits" {
            buffers[name] = Tensor(zeros: [maxRows * max(width, 1)])
        }
        buffers["logits"] = Tensor(zeros: [maxRows * c.draftVocabularySize])
    }

    /// Forgets positions from `newLength` on (rejected speculation).
    public func trim(to newLength: Int) { for cache in caches { cache.trim(to: newLength) } }

    public func reset() { for cache in caches { cache.reset() } }

    /// Runs the layers on `n` new rows appended at positions `length ..< length + n`.
    /// - Parameters:
    ///   - tokens: the token embedded in each row (x_{t+1}, or the previous draft token).
    ///   - hidden: `[n, H]` rows: `fc` of target features, or the previous step's output.
    /// - Returns: the pre-norm outputs `[n, H]` (the next step's hidden) — a view valid until
    ///   the next call — and the draft-vocabulary logits of the last row. More than `maxRows`
    ///   causal rows are processed in pieces; the result is then the last piece's.
    /// - Parameters (tree drafting): `positions` per row (default `length + i`) and
    ///   `visible`: for each new row, the cache rows at or after `prefix` it may attend to
    ///   besides itself (its ancestors); rows before `prefix` are always visible. Without
    ///   `visible` the rows attend causally. `allLogits` returns every row's logits.
    public func step(
        tokens: [Int32], hidden: UnsafePointer<Float>, positions explicit: [Int32]?,
        prefix: Int, visible: [[Int]]?, allLogits: Bool
    ) -> (hidden: Tensor, logits: Tensor) {
        let c = draft.configuration
        let n = tokens.count
        // A long prompt's rows go through in pieces of at most maxRows (causal rows only).
        if n > maxRows && explicit == nil && visible == nil && !allLogits {
            var start = 0
            while n - start > maxRows {
                _ = step(tokens: Array(tokens[start..<(start + maxRows)]), hidden: hidden + start * c.hiddenSize)
                start += maxRows
            }
            return step(tokens: Array(tokens[start...]), hidden: hidden + start * c.hiddenSize)
        }
        // Checked in release builds too (-Ounchecked drops preconditions).
        if n < 1 || n > maxRows || length + n > capacity {
            fatalError(
                "Eagle3Drafter.step: \(n) rows at position \(length) do not fit "
                    + "(at most \(maxRows) rows per call, \(capacity) positions)"
            )
        }
        let h = c.hiddenSize
        let p = weights
        let b = { (name: String) in self.buffers[name]!.pointer }
        let firstLayer = p.layers[0]
        tokens.withUnsafeBufferPointer { ids in draft.table.gather(b("e"), ids: ids.baseAddress!, count: n) }
        b("h").update(from: hidden, count: n * h)
        RMSNorm.forward(
            b("en"), rstd: b("rstd"), b("e"), weight: firstLayer.inputNorm.pointer, rows: n, channels: h,
            eps: c.rmsNormEps)
        RMSNorm.forward(
            b("hn"), rstd: b("rstd"), b("h"), weight: firstLayer.hiddenNorm!.pointer, rows: n, channels: h,
            eps: c.rmsNormEps)
        // The q/k/v input [en | hn] per row; the residual is h, updated in place in `out`.
        for r in 0..<n {
            (b("x") + r * 2 * h).update(from: b("en") + r * h, count: h)
            (b("x") + r * 2 * h + h).update(from: b("hn") + r * h, count: h)
        }
        b("out").update(from: b("h"), count: n * h)
        let scratch = DecoderLayer.Scratch(
            q: b("q"), k: b("k"), v: b("v"), attention: b("attn"), lse: b("lse"), normed: b("post"),
            rstd: b("rstd"), gate: b("gate"), up: b("up"))
        let positions = explicit ?? (0..<n).map { Int32(length + $0) }
        // The first layer reads [en | hn]; later layers their input_layernorm of the running
        // residual `out` (updated in place by each layer).
        for (index, weights) in p.layers.enumerated() {
            if index > 0 {
                RMSNorm.forward(
                    b("x"), rstd: b("rstd"), b("out"), weight: weights.inputNorm.pointer, rows: n, channels: h,
                    eps: c.rmsNormEps)
            }
            let layer = DecoderLayer(
                dimensions: .init(
                    hiddenSize: h, inputWidth: index == 0 ? 2 * h : h, headCount: c.headCount,
                    kvHeadCount: c.kvHeadCount, headDimension: c.headDimension,
                    intermediateSize: c.intermediateSize, rmsNormEps: c.rmsNormEps),
                weights: .init(
                    q: weights.q, k: weights.k, v: weights.v, o: weights.o, gate: weights.gate, up: weights.up,
                    down: weights.down, postNorm: weights.postNorm, quantized: quantized[index]))
            let cache = caches[index]
            positions.withUnsafeBufferPointer { pos in
                layer.forward(
                    input: b("x"), residual: b("out"), rows: n, positions: pos.baseAddress!, rope: draft.rope,
                    scratch: scratch,
                    fewRows: true, kernels: kernels
                ) { q, k, v, out, lse in
                    cache.attend(out: out, lse: lse, q: q, k: k, v: v, rows: n, prefix: prefix, visible: visible)
                }
            }
        }
        let rows = allLogits ? n : 1
        let first = b("out") + (n - rows) * h
        RMSNorm.forward(
            b("normed"), rstd: b("rstd"), first, weight: p.norm.pointer, rows: rows, channels: h, eps: c.rmsNormEps)
        DecoderLayer.project(
            b("logits"), b("normed"), weight: p.head, quantized: quantizedHead, rows: rows, inFeatures: h,
            outFeatures: c.draftVocabularySize, fewRows: true, kernels: kernels)
        return (
            Tensor(viewing: b("out"), shape: [n, h], owner: buffers["out"]!),
            Tensor(viewing: b("logits"), shape: [rows, c.draftVocabularySize], owner: buffers["logits"]!)
        )
    }

    public var hiddenSize: Int { draft.configuration.hiddenSize }
    public var logitColumns: Int { draft.configuration.draftVocabularySize }
    public var columnTokens: [Int32] { columns }
    public var forwardOptions: ForwardOptions { ForwardOptions(captureLayers: layers, logits: .all) }

    /// `fc([low | mid | high])` of the given rows of a forward's captures.
    public func features(_ result: ForwardResult, rows indices: [Int]) -> Tensor {
        let all = result.concatenatedCaptures(layers, rows: (indices.max() ?? 0) + 1)
        let concatenated = gatherRows(all.pointer, width: all.shape[-1], rows: indices)
        let output = Tensor(zeros: [indices.count, draft.configuration.hiddenSize])
        fuse(concatenated.pointer, rows: indices.count, into: output.pointer)
        return output
    }

    /// `fc` of fused target features `[n, 3H]` into `[n, H]` (the step-0 hidden).
    public func fuse(_ features: UnsafePointer<Float>, rows n: Int, into output: UnsafeMutablePointer<Float>) {
        let c = draft.configuration
        // Few rows (a decoding cycle's accepted tokens) through the decoding kernels, a prompt's
        // rows through OpenBLAS.
        DecoderLayer.project(
            output, features, weight: weights.fc, quantized: quantizedFC, rows: n,
            inFeatures: 3 * c.targetHiddenSize, outFeatures: c.hiddenSize, fewRows: n <= kernels.exactRows,
            kernels: kernels)
    }
}
