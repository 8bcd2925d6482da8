import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor

/// The forward and backward of an EAGLE-1 draft (docs/design.md §3) on memory planned for the
/// largest batch (B, T).
///
/// Alignment (docs/design.md §3.2, per sample of length L): the draft at t reads `[embed(x_{t+1}) | f_t]`
/// and regresses `f_{t+1}`; at t = L − 1 both are zero and the loss mask is 0. The frozen
/// target head turns the predicted feature into logits over the full vocabulary, in row
/// blocks during the forward, which produce the gradient at the prediction at once.
public final class Eagle1Trainer {
    public let draft: Eagle1Draft
    public let maxBatch: Int
    public let maxLength: Int
    let arena: Arena
    let attentionWorkspace: AttentionWorkspace
    let mask: AttentionMask
    let headBlock = 128
    let p: Eagle1Draft.Weights
    let g: Eagle1Draft.Weights
    /// The arithmetic of every matrix product; in bf16 the parameters' bf16 copy (rounded at
    /// the start of each step) and the frozen head's (made once).
    public let products: Products
    let halves: BFloat16Copy?
    let headHalf: BFloat16Copy?

    public init(draft: Eagle1Draft, maxBatch: Int, maxLength: Int, precision: Precision = .fp32) {
        let c = draft.configuration
        precondition(maxLength <= draft.rope.maxPositions, "positions beyond the RoPE table")
        self.draft = draft
        self.maxBatch = maxBatch
        self.maxLength = maxLength
        let n = maxBatch * maxLength
        let h = c.hiddenSize
        var plan = ArenaPlan()
        for (name, width) in [
            ("x", 2 * h), ("z", h), ("q", c.qWidth), ("k", c.kvWidth), ("v", c.kvWidth), ("attn", c.qWidth),
            ("a", h), ("post", h), ("gate", c.intermediateSize), ("up", c.intermediateSize),
            ("mlp", c.intermediateSize), ("out", h), ("target", h), ("dout", h), ("dmlp", c.intermediateSize),
            ("dgate", c.intermediateSize), ("dup", c.intermediateSize), ("dpost", h), ("da", h), ("dattn", c.qWidth),
            ("dq", c.qWidth), ("dk", c.kvWidth), ("dv", c.kvWidth), ("dz", h),
        ] {
            plan.add(name, [n, width])
        }
        plan.add("rstd.post", [n])
        plan.add("lse", [maxBatch * c.headCount * maxLength])
        plan.add("logits", [headBlock, c.vocabularySize])
        plan.add("out.block", [headBlock, h])
        plan.add("target.block", [headBlock, h])
        plan.add("dout.block", [headBlock, h])
        plan.add("target.logits", [headBlock, c.vocabularySize])
        plan.add("positions", [n])
        plan.add("ids.in", [n])
        plan.add("masked.rows", [n])
        arena = Arena(plan)
        attentionWorkspace = AttentionWorkspace(
            batch: maxBatch, queries: maxLength, keys: maxLength, heads: c.headCount,
            headDimension: c.headDimension, groupedQuery: c.headCount != c.kvHeadCount)
        mask = AttentionMask(
            causal: true, queryCapacity: maxLength, keyCapacity: maxLength, batchCapacity: maxBatch, padding: true)
        p = Eagle1Draft.Weights(draft.parameters, gradients: false)
        g = Eagle1Draft.Weights(draft.parameters, gradients: true)
        products = Products(precision: precision)
        halves = precision == .bf16 ? BFloat16Copy(of: draft.parameters.parameters) : nil
        headHalf = precision == .bf16 ? BFloat16Copy(of: draft.head) : nil
    }

    /// `out (= or +=) inp · weightᵀ (+ bias)` under ``products``.
    private func linear(
        _ out: Tensor, _ inp: Tensor, _ weight: Tensor, bias: Tensor? = nil, rows n: Int, inFeatures: Int,
        outFeatures: Int, accumulate: Bool = false
    ) {
        Linear.forward(
            out.pointer, inp.pointer, weight: weight.pointer, weightHalf: halves?.half(weight), rows: n,
            inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate, products: products)
        if let bias { Linear.addBias(out.pointer, bias.pointer, rows: n, outFeatures: outFeatures) }
    }

    /// The bytes of activation memory planned.
    public var activationBytes: Int { arena.byteCount + attentionWorkspace.byteCount }

    var c: Eagle1Configuration { draft.configuration }

    /// Forward and (with `train`) backward on `batch`, ACCUMULATING `scale`·∂total/∂θ into the
    /// draft's gradient buffer (zero it first). `noise` `[B·T, H]`, if given, is added to the
    /// input features only (training; docs/design.md §3.4).
    public func step(
        _ batch: Eagle1Batch, vWeight: Float = 1, pWeight: Float = 0.1, noise: UnsafePointer<Float>? = nil,
        scale: Float = 1, train: Bool = true
    ) -> Eagle1Metrics {
        precondition(batch.batch <= maxBatch && batch.length <= maxLength, "batch larger than planned")
        halves?.refresh()
        prepare(batch, noise: noise)
        forward(batch)
        var metrics = headLoss(batch, vWeight: vWeight, pWeight: pWeight, scale: scale, train: train)
        metrics.total = vWeight * metrics.vloss + pWeight * metrics.ploss
        if train { backward(batch) }
        return metrics
    }

    // MARK: inputs

    /// `x = [embed(ids shifted left) | f (+ noise)]`, the mask's padding, the positions.
    private func prepare(_ batch: Eagle1Batch, noise: UnsafePointer<Float>?) {
        let (b, t) = (batch.batch, batch.length)
        let h = c.hiddenSize
        let ids = UnsafeMutableRawPointer(arena["ids.in"].pointer).assumingMemoryBound(to: Int32.self)
        let positions = UnsafeMutableRawPointer(arena["positions"].pointer).assumingMemoryBound(to: Int32.self)
        let x = arena["x"].pointer
        let e = arena["z"].pointer  // the embeddings pass through z's buffer before fc
        for row in 0..<b {
            for i in 0..<t {
                let r = row * t + i
                ids[r] = i + 1 < batch.lengths[row] ? batch.ids[r + 1] : 0
                positions[r] = Int32(i)
            }
        }
        Embedding.forward(
            e, ids: ids, table: draft.embedding.pointer, rows: b * t, channels: h, vocabularySize: c.vocabularySize)
        for r in 0..<(b * t) {
            (x + r * 2 * h).update(from: e + r * h, count: h)
            let f = x + r * 2 * h + h
            f.update(from: batch.features.pointer + r * h, count: h)
            if let noise { Elementwise.add(f, noise + r * h, f, count: h) }
        }
        let valid = mask.keyValid!
        for row in 0..<b {
            let line = valid + row * maxLength
            line.update(repeating: 0, count: maxLength)
            for m in 0..<batch.lengths[row] { line[m] = 1 }
        }
    }

    // MARK: forward

    private func attentionShape(_ batch: Eagle1Batch) -> Attention.Shape {
        Attention.Shape(
            batch: batch.batch, queries: batch.length, keys: batch.length, heads: c.headCount, kvHeads: c.kvHeadCount,
            headDimension: c.headDimension, keyCapacity: batch.length)
    }

    /// z = fc(x); a = z + o(attn(z)); out = a + down(swiglu(gate(post(a)), up(post(a)))).
    private func forward(_ batch: Eagle1Batch) {
        let n = batch.batch * batch.length
        let h = c.hiddenSize, inter = c.intermediateSize
        let x = arena["x"], z = arena["z"], q = arena["q"], k = arena["k"], v = arena["v"], attn = arena["attn"]
        let a = arena["a"], post = arena["post"], gate = arena["gate"], up = arena["up"], mlp = arena["mlp"],
            out = arena["out"]
        linear(z, x, p.fc, bias: p.fcBias, rows: n, inFeatures: 2 * h, outFeatures: h)
        linear(q, z, p.q, rows: n, inFeatures: h, outFeatures: c.qWidth)
        linear(k, z, p.k, rows: n, inFeatures: h, outFeatures: c.kvWidth)
        linear(v, z, p.v, rows: n, inFeatures: h, outFeatures: c.kvWidth)
        let positions = UnsafeMutableRawPointer(arena["positions"].pointer).assumingMemoryBound(to: Int32.self)
        draft.rope.forward(q.pointer, positions: positions, rows: n, heads: c.headCount)
        draft.rope.forward(k.pointer, positions: positions, rows: n, heads: c.kvHeadCount)
        Attention.forward(
            out: attn.pointer, lse: arena["lse"].pointer, q: q.pointer, k: k.pointer, v: v.pointer,
            shape: attentionShape(batch), mask: mask, workspace: attentionWorkspace)
        a.pointer.update(from: z.pointer, count: n * h)
        linear(a, attn, p.o, rows: n, inFeatures: c.qWidth, outFeatures: h, accumulate: true)
        RMSNorm.forward(
            post.pointer, rstd: arena["rstd.post"].pointer, a.pointer, weight: p.postNorm.pointer, rows: n, channels: h,
            eps: c.rmsNormEps)
        linear(gate, post, p.gate, rows: n, inFeatures: h, outFeatures: inter)
        linear(up, post, p.up, rows: n, inFeatures: h, outFeatures: inter)
        SwiGLU.forward(mlp.pointer, gate: gate.pointer, up: up.pointer, count: n * inter)
        out.pointer.update(from: a.pointer, count: n * h)
        linear(out, mlp, p.down, rows: n, inFeatures: inter, outFeatures: h, accumulate: true)
    }

    // MARK: losses

    /// Both losses, the top-k metrics and (with `train`) ∂(scale·total)/∂out into `dout`.
    private func headLoss(
        _ batch: Eagle1Batch, vWeight: Float, pWeight: Float, scale: Float, train: Bool
    ) -> Eagle1Metrics {
        let (b, t) = (batch.batch, batch.length)
        let n = b * t
        let h = c.hiddenSize, vocabulary = c.vocabularySize
        let out = arena["out"].pointer, target = arena["target"].pointer, dout = arena["dout"].pointer
        let logits = arena["logits"].pointer, targetLogits = arena["target.logits"].pointer
        // target[t] = f[t+1] within the sample, zero at its last real position and on padding.
        // The masked rows, ascending (planned memory: no allocation per step).
        let maskedRows = UnsafeMutableRawPointer(arena["masked.rows"].pointer).assumingMemoryBound(to: Int32.self)
        var count = 0
        for row in 0..<b {
            for i in 0..<t {
                let r = row * t + i
                if i + 1 < batch.lengths[row] {
                    (target + r * h).update(from: batch.features.pointer + (r + 1) * h, count: h)
                    if batch.lossMask[r] != 0 {
                        maskedRows[count] = Int32(r)
                        count += 1
                    }
                } else {
                    (target + r * h).update(repeating: 0, count: h)
                }
            }
        }
        let rows = UnsafeBufferPointer(start: maskedRows, count: count)
        let denominator = Float(count) + 1e-5
        var metrics = Eagle1Metrics(vloss: 0, ploss: 0, total: 0, correct: [0, 0, 0], count: count)
        if train { dout.update(repeating: 0, count: n * h) }
        // vloss: SmoothL1 (beta 1), mean over H; its gradient clamp(out − target, ±1)/H.
        var vSum = 0.0
        for r32 in rows {
            let r = Int(r32)
            var rowSum = 0.0
            for j in 0..<h {
                let d = out[r * h + j] - target[r * h + j]
                rowSum += Double(abs(d) < 1 ? 0.5 * d * d : abs(d) - 0.5)
                if train { dout[r * h + j] = scale * vWeight / denominator / Float(h) * max(-1, min(1, d)) }
            }
            vSum += rowSum / Double(h)
        }
        metrics.vloss = Float(vSum / Double(denominator))
        // ploss through the frozen head, in row blocks of masked rows.
        var pSum = 0.0
        var start = 0
        let coefficient = scale * pWeight / denominator
        let outBlock = arena["out.block"].pointer, targetBlock = arena["target.block"].pointer,
            doutBlock = arena["dout.block"].pointer
        while start < rows.count {
            let block = rows[start..<min(start + headBlock, rows.count)]
            for (local, r) in block.enumerated() {
                (outBlock + local * h).update(from: out + Int(r) * h, count: h)
                (targetBlock + local * h).update(from: target + Int(r) * h, count: h)
            }
            let head = headHalf.map { UnsafePointer($0.buffer.pointer) }
            Linear.forward(
                logits, outBlock, weight: draft.head.pointer, weightHalf: head, rows: block.count, inFeatures: h,
                outFeatures: vocabulary, products: products)
            Linear.forward(
                targetLogits, targetBlock, weight: draft.head.pointer, weightHalf: head, rows: block.count,
                inFeatures: h, outFeatures: vocabulary, products: products)
            for local in 0..<block.count {
                let z = logits + local * vocabulary, y = targetLogits + local * vocabulary
                // Top-1/2/3 against the target's argmax (first index on ties, as torch).
                let truth = Sampler.argmax(y, count: vocabulary)
                var above = 0
                for i in 0..<vocabulary where z[i] > z[truth] || (z[i] == z[truth] && i < truth) { above += 1 }
                for k in 0..<3 where above <= k { metrics.correct[k] += 1 }
                // p = softmax(y); −Σ p log_softmax(z); gradient (softmax(z) − p)·coefficient.
                let my = Softmax.rowMax(y, count: vocabulary)
                let sy = Softmax.sumExp(y, shift: my, count: vocabulary, storeInto: nil)
                let mz = Softmax.rowMax(z, count: vocabulary)
                let lse = mz + logf(Softmax.sumExp(z, shift: mz, count: vocabulary, storeInto: nil))
                var rowLoss = 0.0
                for i in 0..<vocabulary {
                    let pi = VectorMath.exp(y[i] - my) / sy
                    rowLoss -= Double(pi) * Double(z[i] - lse)
                    y[i] = pi
                }
                pSum += rowLoss
                if train { for i in 0..<vocabulary { z[i] = (VectorMath.exp(z[i] - lse) - y[i]) * coefficient } }
            }
            if train {
                // dout rows += dlogits · head.
                products.gemm(
                    .none, .none, m: block.count, n: h, k: vocabulary, a: logits, lda: vocabulary,
                    b: draft.head.pointer, bHalf: headHalf.map { UnsafePointer($0.buffer.pointer) }, ldb: h,
                    beta: 0, c: doutBlock, ldc: h)
                for (local, r) in block.enumerated() {
                    Elementwise.add(dout + Int(r) * h, doutBlock + local * h, dout + Int(r) * h, count: h)
                }
            }
            start += block.count
        }
        metrics.ploss = Float(pSum / Double(denominator))
        return metrics
    }

    // MARK: backward

    private func backward(_ batch: Eagle1Batch) {
        let n = batch.batch * batch.length
        let h = c.hiddenSize, inter = c.intermediateSize
        let dout = arena["dout"], dmlp = arena["dmlp"], dgate = arena["dgate"], dup = arena["dup"],
            dpost = arena["dpost"]
        let da = arena["da"], dattn = arena["dattn"], dq = arena["dq"], dk = arena["dk"], dv = arena["dv"],
            dz = arena["dz"]
        let gate = arena["gate"], up = arena["up"], mlp = arena["mlp"], post = arena["post"], a = arena["a"],
            attn = arena["attn"]
        let z = arena["z"], x = arena["x"]
        // out = a + down(mlp).
        SwiGLUMLP.backward(
            dinp: dpost.pointer, gradients: .init(gate: g.gate.pointer, up: g.up.pointer, down: g.down.pointer),
            dout: dout.pointer,
            inp: post.pointer, gate: gate.pointer, up: up.pointer, hidden: mlp.pointer,
            weights: .init(gate: p.gate.pointer, up: p.up.pointer, down: p.down.pointer),
            dhidden: dmlp.pointer, dgate: dgate.pointer, dup: dup.pointer, rows: n, channels: h, intermediate: inter,
            halves: halves.map { .init(gate: $0.half(p.gate), up: $0.half(p.up), down: $0.half(p.down)) },
            products: products)
        da.pointer.update(from: dout.pointer, count: n * h)
        RMSNorm.backward(
            dinp: da.pointer, dweight: g.postNorm.pointer, dout: dpost.pointer, inp: a.pointer,
            weight: p.postNorm.pointer,
            rstd: arena["rstd.post"].pointer, rows: n, channels: h)
        // a = z + o(attn(z)).
        dattn.pointer.update(repeating: 0, count: n * c.qWidth)
        Linear.backward(
            dinp: dattn.pointer, dweight: g.o.pointer, dbias: nil, dout: da.pointer, inp: attn.pointer,
            weight: p.o.pointer, weightHalf: halves?.half(p.o), rows: n, inFeatures: c.qWidth, outFeatures: h,
            products: products)
        dq.pointer.update(repeating: 0, count: n * c.qWidth)
        dk.pointer.update(repeating: 0, count: n * c.kvWidth)
        dv.pointer.update(repeating: 0, count: n * c.kvWidth)
        Attention.backward(
            dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dattn.pointer, out: attn.pointer,
            lse: arena["lse"].pointer,
            q: arena["q"].pointer, k: arena["k"].pointer, v: arena["v"].pointer, shape: attentionShape(batch),
            mask: mask,
            workspace: attentionWorkspace)
        let positions = UnsafeMutableRawPointer(arena["positions"].pointer).assumingMemoryBound(to: Int32.self)
        draft.rope.backward(dq.pointer, positions: positions, rows: n, heads: c.headCount)
        draft.rope.backward(dk.pointer, positions: positions, rows: n, heads: c.kvHeadCount)
        dz.pointer.update(from: da.pointer, count: n * h)
        for (grad, weight, gradWeight, width) in [
            (dq, p.q, g.q, c.qWidth), (dk, p.k, g.k, c.kvWidth), (dv, p.v, g.v, c.kvWidth),
        ] {
            Linear.backward(
                dinp: dz.pointer, dweight: gradWeight.pointer, dbias: nil, dout: grad.pointer, inp: z.pointer,
                weight: weight.pointer, weightHalf: halves?.half(weight), rows: n, inFeatures: h, outFeatures: width,
                products: products)
        }
        // z = fc(x) (+ bias); x is an input (frozen embedding, target features).
        Linear.backward(
            dinp: nil, dweight: g.fc.pointer, dbias: g.fcBias?.pointer, dout: dz.pointer, inp: x.pointer,
            weight: p.fc.pointer, rows: n, inFeatures: 2 * h, outFeatures: h, products: products)
    }
}
