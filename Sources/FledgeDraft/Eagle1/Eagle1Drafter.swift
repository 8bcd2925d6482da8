import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor

/// An EAGLE-1 draft at inference (docs/design.md §3): `fc([embed(x_{t+1}) | f_t])`, one decoder
/// layer with its own KV cache, and the target's head on the predicted feature.
///
/// Step 0 takes the target's final-norm hidden states of the verified rows; later steps take
/// the draft's own predicted features (the chain analogue of the official `topK_genrate`).
/// Positions as in training: the row of prefix x₀…x_t sits at position t.
public final class Eagle1Drafter: Drafter {
    public let draft: Eagle1Draft
    public let capacity: Int
    /// The matrix kernels of every step (the session sets its own).
    public var kernels = KernelPolicy.standard
    public var length: Int { cache.length }
    /// The target whose head projects the predicted features (its quantised copy for few
    /// rows, as in decoding); nil: the draft's Float32 `head`.
    let target: LlamaModel?
    let cache: DraftAttentionCache
    let maxRows: Int
    let x, z, q, k, v, attn, post, gate, up, out, rstd, lse, logits: Tensor
    let columns: [Int32]

    /// Rows whose logits one call may return (tree levels; the logits span the whole vocabulary).
    let maxLogitRows: Int
    /// Q8_0 copies of the layer's matrices and `fc` (made with `quantize`), read by decoding
    /// steps under kernel policies that use quantised blocks.
    let quantized: DecoderLayer.QuantizedWeights
    let quantizedFC: QuantizedMatrix?

    /// `quantize`: keep Q8_0 copies of the matrices (a snapshot of the weights: for decoding
    /// with a finished draft, not for one still training).
    public init(
        draft: Eagle1Draft, capacity: Int, target: LlamaModel? = nil, maxRows: Int = 256, maxLogitRows: Int = 64,
        quantize: Bool = false
    ) {
        let c = draft.configuration
        self.draft = draft
        if quantize {
            let p = Eagle1Draft.Weights(draft.parameters, gradients: false)
            quantized = DecoderLayer.QuantizedWeights(
                quantizing: p.q, k: p.k, v: p.v, o: p.o, gate: p.gate, up: p.up, down: p.down)
            quantizedFC = QuantizedMatrix(quantizing: p.fc)
        } else {
            (quantized, quantizedFC) = (DecoderLayer.QuantizedWeights(), nil)
        }
        self.capacity = capacity
        self.target = target
        self.maxRows = maxRows
        self.maxLogitRows = min(maxLogitRows, maxRows)
        cache = DraftAttentionCache(
            capacity: capacity, maxRows: maxRows, heads: c.headCount, kvHeads: c.kvHeadCount,
            headDimension: c.headDimension)
        let h = c.hiddenSize
        x = Tensor(zeros: [maxRows, 2 * h])
        (z, post, out) = (Tensor(zeros: [maxRows, h]), Tensor(zeros: [maxRows, h]), Tensor(zeros: [maxRows, h]))
        (q, attn) = (Tensor(zeros: [maxRows, c.qWidth]), Tensor(zeros: [maxRows, c.qWidth]))
        (k, v) = (Tensor(zeros: [maxRows, c.kvWidth]), Tensor(zeros: [maxRows, c.kvWidth]))
        (gate, up) = (Tensor(zeros: [maxRows, c.intermediateSize]), Tensor(zeros: [maxRows, c.intermediateSize]))
        rstd = Tensor(zeros: [maxRows])
        lse = Tensor(zeros: [maxRows * c.headCount])
        logits = Tensor(zeros: [self.maxLogitRows, c.vocabularySize])
        columns = (0..<c.vocabularySize).map { Int32($0) }
    }

    public var hiddenSize: Int { draft.configuration.hiddenSize }
    public var logitColumns: Int { draft.configuration.vocabularySize }
    /// The full target vocabulary: column i is token i.
    public var columnTokens: [Int32] { columns }
    public var forwardOptions: ForwardOptions { ForwardOptions(finalHidden: true, logits: .all) }

    public func reset() { cache.reset() }

    public func trim(to newLength: Int) { cache.trim(to: newLength) }

    /// The target's final-norm hidden states of the given rows.
    public func features(_ result: ForwardResult, rows: [Int]) -> Tensor {
        guard let hidden = result.finalHidden else {
            fatalError("Eagle1Drafter.features: the forward did not return finalHidden (use forwardOptions)")
        }
        return gatherRows(hidden.pointer, width: hidden.shape[-1], rows: rows)
    }

    public func step(
        tokens: [Int32], hidden: UnsafePointer<Float>, positions explicit: [Int32]?, prefix: Int, visible: [[Int]]?,
        allLogits: Bool
    ) -> (hidden: Tensor, logits: Tensor) {
        let c = draft.configuration
        let h = c.hiddenSize
        let n = tokens.count
        if n > maxRows && explicit == nil && visible == nil && !allLogits {
            var start = 0
            while n - start > maxRows {
                _ = step(tokens: Array(tokens[start..<(start + maxRows)]), hidden: hidden + start * h)
                start += maxRows
            }
            return step(tokens: Array(tokens[start...]), hidden: hidden + start * h)
        }
        if n < 1 || n > maxRows || length + n > capacity || (allLogits && n > maxLogitRows) {
            fatalError(
                "Eagle1Drafter.step: \(n) rows at position \(length) do not fit "
                    + "(at most \(maxRows) rows per call, \(maxLogitRows) with all logits, \(capacity) positions)"
            )
        }
        let p = Eagle1Draft.Weights(draft.parameters, gradients: false)
        // x = [embed(token) | feature] per row.
        tokens.withUnsafeBufferPointer { ids in
            Embedding.forward(
                z.pointer, ids: ids.baseAddress!, table: draft.embedding.pointer, rows: n, channels: h,
                vocabularySize: c.vocabularySize)
        }
        for r in 0..<n {
            (x.pointer + r * 2 * h).update(from: z.pointer + r * h, count: h)
            (x.pointer + r * 2 * h + h).update(from: hidden + r * h, count: h)
        }
        DecoderLayer.project(
            z.pointer, x.pointer, weight: p.fc, quantized: quantizedFC, rows: n, inFeatures: 2 * h, outFeatures: h,
            fewRows: true, kernels: kernels)
        if let bias = p.fcBias { Linear.addBias(z.pointer, bias.pointer, rows: n, outFeatures: h) }
        // No input norm: z is both the q/k/v input and the residual (updated in place in `out`).
        out.pointer.update(from: z.pointer, count: n * h)
        let layer = DecoderLayer(
            dimensions: .init(
                hiddenSize: h, headCount: c.headCount, kvHeadCount: c.kvHeadCount, headDimension: c.headDimension,
                intermediateSize: c.intermediateSize, rmsNormEps: c.rmsNormEps),
            weights: .init(
                q: p.q, k: p.k, v: p.v, o: p.o, gate: p.gate, up: p.up, down: p.down, postNorm: p.postNorm,
                quantized: quantized))
        let scratch = DecoderLayer.Scratch(
            q: q.pointer, k: k.pointer, v: v.pointer, attention: attn.pointer, lse: lse.pointer,
            normed: post.pointer, rstd: rstd.pointer, gate: gate.pointer, up: up.pointer)
        let positions = explicit ?? (0..<n).map { Int32(length + $0) }
        positions.withUnsafeBufferPointer { pos in
            layer.forward(
                input: z.pointer, residual: out.pointer, rows: n, positions: pos.baseAddress!, rope: draft.rope,
                scratch: scratch,
                fewRows: true, kernels: kernels
            ) { q, k, v, out, lse in
                cache.attend(out: out, lse: lse, q: q, k: k, v: v, rows: n, prefix: prefix, visible: visible)
            }
        }
        // No final norm: the predicted feature goes straight into the target's head.
        let rows = allLogits ? n : 1
        let first = out.pointer + (n - rows) * h
        if let target {
            target.projectHead(logits.pointer, first, rows: rows, kernels: kernels)
        } else {
            Linear.forward(
                logits.pointer, first, weight: draft.head.pointer, bias: nil, rows: rows, inFeatures: h,
                outFeatures: c.vocabularySize, fewRows: true)
        }
        return (
            Tensor(viewing: out.pointer, shape: [n, h], owner: out),
            Tensor(viewing: logits.pointer, shape: [rows, c.vocabularySize], owner: logits)
        )
    }
}
