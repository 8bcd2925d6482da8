import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor

extension Eagle3Trainer {
    var c: Eagle3Configuration { draft.configuration }

    /// The tiled (causal) part of the attention: the step-0 keys.
    private func attentionShape(_ batch: Eagle3Batch) -> Attention.Shape {
        Attention.Shape(
            batch: batch.batch, queries: batch.length, keys: batch.length, heads: c.headCount,
            kvHeads: c.kvHeadCount, headDimension: c.headDimension, keyCapacity: steps * maxLength)
    }

    private func positions(_ batch: Eagle3Batch, k: Int) -> UnsafeMutablePointer<Int32> {
        let positions = UnsafeMutableRawPointer(arena["positions"].pointer).assumingMemoryBound(to: Int32.self)
        for row in 0..<batch.batch {
            for i in 0..<batch.length { positions[row * batch.length + i] = Int32(i + k) }
        }
        return positions
    }

    /// Copies rows [N, width] into (or out of) step `k`'s block of a KV cache [B, K·Tmax, width].
    private func scatter(
        _ rows: UnsafeMutablePointer<Float>, into cache: UnsafeMutablePointer<Float>, batch: Eagle3Batch, k: Int,
        width: Int, gather: Bool = false
    ) {
        let capacity = steps * maxLength
        for row in 0..<batch.batch {
            let block = cache + (row * capacity + k * batch.length) * width
            let source = rows + row * batch.length * width
            if gather {
                source.update(from: block, count: batch.length * width)
            } else {
                block.update(from: source, count: batch.length * width)
            }
        }
    }

    /// The arena name of a per-(layer, step) buffer (layer 0 keeps the one-layer names).
    static func key(_ base: String, _ l: Int, _ k: Int) -> String { l == 0 ? "\(base).\(k)" : "\(base).\(l).\(k)" }

    /// The arena name of layer l's keys, values or their gradients.
    static func cacheKey(_ base: String, _ l: Int) -> String { l == 0 ? base : "\(base).\(l)" }

    func key(_ base: String, _ l: Int, _ k: Int) -> String { Self.key(base, l, k) }
    func cacheKey(_ base: String, _ l: Int) -> String { Self.cacheKey(base, l) }

    /// Layer l's output at step k; the last layer's is the step's output `h.(k+1)`.
    func outputKey(_ l: Int, _ k: Int) -> String { l == c.layerCount - 1 ? "h.\(k + 1)" : "y.\(l).\(k)" }

    /// One step's decoder layers (docs/design.md §2.3): the first on `[en | hn]`, the others
    /// standard pre-norm layers on the previous output; then the final norm.
    func forwardStep(_ batch: Eagle3Batch, k: Int) {
        let (b, t) = (batch.batch, batch.length)
        let n = b * t
        let h = c.hiddenSize
        let first = p.layers[0]
        let e = arena["e.\(k)"], en = arena["en.\(k)"], hn = arena["hn.\(k)"], hIn = arena["h.\(k)"]
        let shifted = UnsafeMutableRawPointer(arena["shifted.ids"].pointer).assumingMemoryBound(to: Int32.self)
        for row in 0..<b { for i in 0..<t { shifted[row * t + i] = shiftedToken(batch, b: row, t: i, k: k) } }
        draft.table.gather(e.pointer, ids: shifted, count: n)
        RMSNorm.forward(
            en.pointer, rstd: arena["rstd.e.\(k)"].pointer, e.pointer, weight: first.inputNorm.pointer, rows: n,
            channels: h, eps: c.rmsNormEps)
        RMSNorm.forward(
            hn.pointer, rstd: arena["rstd.h.\(k)"].pointer, hIn.pointer, weight: first.hiddenNorm!.pointer, rows: n,
            channels: h, eps: c.rmsNormEps)
        // q/k/v of [en | hn]: the left and right halves of each weight, two products each.
        let q = arena["q.\(k)"], kTmp = arena["k.tmp"], vTmp = arena["v.tmp"]
        let enHalf = products.stage(en.pointer, count: n * h)
        for (out, weight, width) in [(q, first.q, c.qWidth), (kTmp, first.k, c.kvWidth), (vTmp, first.v, c.kvWidth)] {
            let weightHalf = half(weight)
            products.gemm(
                .none, .transposed, m: n, n: width, k: h, a: en.pointer, aHalf: enHalf, lda: h, b: weight.pointer,
                bHalf: weightHalf, ldb: 2 * h, beta: 0, c: out.pointer, ldc: width)
            products.gemm(
                .none, .transposed, m: n, n: width, k: h, a: hn.pointer, lda: h, b: weight.pointer + h,
                bHalf: weightHalf.map { $0 + h }, ldb: 2 * h, beta: 1, c: out.pointer, ldc: width)
        }
        attendAndFeedForward(batch, k: k, l: 0, input: hIn.pointer)
        for l in 1..<max(c.layerCount, 1) {
            let layer = p.layers[l]
            let x = arena[outputKey(l - 1, k)], xn = arena[key("xn", l, k)]
            RMSNorm.forward(
                xn.pointer, rstd: arena[key("rstd.x", l, k)].pointer, x.pointer, weight: layer.inputNorm.pointer,
                rows: n, channels: h, eps: c.rmsNormEps)
            let xnHalf = products.stage(xn.pointer, count: n * h)
            for (out, weight, width) in [
                (arena[key("q", l, k)], layer.q, c.qWidth), (kTmp, layer.k, c.kvWidth), (vTmp, layer.v, c.kvWidth),
            ] {
                products.gemm(
                    .none, .transposed, m: n, n: width, k: h, a: xn.pointer, aHalf: xnHalf, lda: h, b: weight.pointer,
                    bHalf: half(weight), ldb: h, beta: 0, c: out.pointer, ldc: width)
            }
            attendAndFeedForward(batch, k: k, l: l, input: x.pointer)
        }
        RMSNorm.forward(
            arena["normed.\(k)"].pointer, rstd: arena["rstd.norm.\(k)"].pointer, arena["h.\(k + 1)"].pointer,
            weight: p.norm.pointer, rows: n, channels: h, eps: c.rmsNormEps)
    }

    /// The rest of layer l at step k, from its q and its k/v rows in `k.tmp`/`v.tmp`: RoPE,
    /// the TTT attention, `a = input + o(attn)`, `output = a + down(swiglu(gate, up)(post(a)))`.
    private func attendAndFeedForward(_ batch: Eagle3Batch, k: Int, l: Int, input: UnsafePointer<Float>) {
        let n = batch.batch * batch.length
        let h = c.hiddenSize
        let weights = p.layers[l]
        let q = arena[key("q", l, k)], kTmp = arena["k.tmp"], vTmp = arena["v.tmp"]
        let keys = arena[cacheKey("keys", l)], values = arena[cacheKey("values", l)]
        let pos = positions(batch, k: k)
        draft.rope.forward(q.pointer, positions: pos, rows: n, heads: c.headCount)
        draft.rope.forward(kTmp.pointer, positions: pos, rows: n, heads: c.kvHeadCount)
        scatter(kTmp.pointer, into: keys.pointer, batch: batch, k: k, width: c.kvWidth)
        scatter(vTmp.pointer, into: values.pointer, batch: batch, k: k, width: c.kvWidth)
        let attn = arena[key("attn", l, k)], lse = arena[key("lse", l, k)]
        Attention.forward(
            out: attn.pointer, lse: lse.pointer, q: q.pointer, k: keys.pointer, v: values.pointer,
            shape: attentionShape(batch), mask: mask, workspace: attentionWorkspace)
        mergeDiagonal(
            batch, k: k, q: q.pointer, keys: keys.pointer, values: values.pointer, out: attn.pointer, lse: lse.pointer)
        let a = arena[key("a", l, k)], post = arena[key("post", l, k)], gate = arena[key("gate", l, k)],
            up = arena[key("up", l, k)], out = arena[outputKey(l, k)]
        a.pointer.update(from: input, count: n * h)
        Linear.forward(
            a.pointer, attn.pointer, weight: weights.o.pointer, weightHalf: half(weights.o), rows: n,
            inFeatures: c.qWidth, outFeatures: h, accumulate: true, products: products)
        RMSNorm.forward(
            post.pointer, rstd: arena[key("rstd.post", l, k)].pointer, a.pointer, weight: weights.postNorm.pointer,
            rows: n, channels: h, eps: c.rmsNormEps)
        let postHalf = products.stage(post.pointer, count: n * h)
        for (result, weight) in [(gate, weights.gate), (up, weights.up)] {
            products.gemm(
                .none, .transposed, m: n, n: c.intermediateSize, k: h, a: post.pointer, aHalf: postHalf, lda: h,
                b: weight.pointer, bHalf: half(weight), ldb: h, c: result.pointer, ldc: c.intermediateSize)
        }
        let mlp = arena["mlp"]
        SwiGLU.forward(mlp.pointer, gate: gate.pointer, up: up.pointer, count: n * c.intermediateSize)
        out.pointer.update(from: a.pointer, count: n * h)
        Linear.forward(
            out.pointer, mlp.pointer, weight: weights.down.pointer, weightHalf: half(weights.down), rows: n,
            inFeatures: c.intermediateSize, outFeatures: h, accumulate: true, products: products)
    }

    struct StepMetrics {
        var loss: Float
        var correct: Int
        var lossMask: Int
        var positions: Int
        var conditionalCorrect: Int
        var conditionalCount: Int
    }

    /// The head, the soft cross-entropy and its gradient for step k, in row blocks:
    /// writes ∂(weight·loss_k)/∂normed into `dnormed.k` and accumulates the head's gradient.
    func headLoss(
        _ batch: Eagle3Batch, k: Int, weight: Float, allCorrect: UnsafeMutablePointer<Bool>, train: Bool
    ) -> StepMetrics {
        let (b, t) = (batch.batch, batch.length)
        let n = b * t
        let h = c.hiddenSize, vd = c.draftVocabularySize
        let normed = arena["normed.\(k)"], dnormed = arena["dnormed.\(k)"], logits = arena["logits"]
        let scale = 1 / Float(n)
        var result = StepMetrics(
            loss: 0, correct: 0, lossMask: 0, positions: 0, conditionalCorrect: 0, conditionalCount: 0)
        var lossSum = 0.0
        var start = 0
        while start < n {
            let rows = min(headBlock, n - start)
            Linear.forward(
                logits.pointer, normed.pointer + start * h, weight: p.head.pointer, weightHalf: half(p.head),
                rows: rows, inFeatures: h, outFeatures: vd, products: products)
            // Rows in parallel (each writes only its own logits and outcome), then the counts
            // and the loss summed in row order, so the result does not depend on the threads.
            let dlogits = products.isBF16 && train ? dlogitsHalf.reserve(rows * vd) : nil
            let coefficient = weight * scale
            let chunk = 8
            Parallel.forEach(units: (rows + chunk - 1) / chunk) { unit, worker in
                for local in (unit * chunk)..<min(rows, unit * chunk + chunk) {
                    let r = start + local
                    let (row, position) = (r / t, r % t)
                    let lm: UInt8 = position + k < t ? batch.lossMask[row * t + position + k] : 0
                    // The row past a sequence's real tokens is the zero row (uniform, argmax 0), as
                    // past the end of the batch in the official code: padding never acts as a target.
                    let source = position + k + 1
                    let hasSource = source < batch.lengths[row]
                    let inVocabulary =
                        hasSource ? targets.inVocabulary[row * t + source] : targets.zeroRowInVocabulary
                    let target =
                        hasSource
                        ? targets.row(row * t + source, scratch: targets.rowScratch.pointer + worker * vd)
                        : UnsafePointer(targets.uniform.pointer)
                    let targetArgmax = hasSource ? Int(targets.draftArgmax[row * t + source]) : 0
                    let z = logits.pointer + local * vd
                    let pm = inVocabulary && lm == 1
                    let correct = Sampler.argmax(z, count: vd) == targetArgmax
                    rowOutcome[local] = (lm == 1 ? 1 : 0) | (pm ? 2 : 0) | (correct ? 4 : 0)
                    rowLoss[local] = 0
                    if pm {
                        // −Σ p (z − lse) and the gradient (softmax(z) − p) · weight/N (Σ p = 1).
                        let m = Softmax.rowMax(z, count: vd)
                        let lse = m + logf(Softmax.sumExp(z, shift: m, count: vd, storeInto: nil))
                        rowLoss[local] = Double(lse) - Double(Elementwise.dot(target, z, count: vd))
                        if train {
                            for i in 0..<vd { z[i] = (VectorMath.exp(z[i] - lse) - target[i]) * coefficient }
                        }
                    } else {
                        z.update(repeating: 0, count: vd)
                    }
                    if let dlogits { BFloat16.round(z, into: dlogits + local * vd, count: vd) }
                }
            }
            for local in 0..<rows {
                let r = start + local
                let outcome = rowOutcome[local]
                let (pm, correct) = (outcome & 2 != 0, outcome & 4 != 0)
                result.lossMask += Int(outcome & 1)
                if pm {
                    result.positions += 1
                    if correct { result.correct += 1 }
                    if allCorrect[r] {
                        result.conditionalCount += 1
                        if correct { result.conditionalCorrect += 1 }
                    }
                    lossSum += rowLoss[local]
                }
                // Chains break where the loss mask ends (speculators' cond_acc on masked positions).
                if !(pm && correct) { allCorrect[r] = false }
            }
            // dnormed = dlogits · W;  dW_head += dlogitsᵀ · normed.
            if !train {
                start += rows
                continue
            }
            products.gemm(
                .none, .none, m: rows, n: h, k: vd, a: logits.pointer, aHalf: dlogits.map { UnsafePointer($0) },
                lda: vd,
                b: p.head.pointer,
                bHalf: half(p.head), ldb: h, beta: 0, c: dnormed.pointer + start * h, ldc: h)
            products.gemm(
                .transposed, .none, m: vd, n: h, k: rows, a: logits.pointer, aHalf: dlogits.map { UnsafePointer($0) },
                lda: vd,
                b: normed.pointer + start * h, ldb: h, beta: 1, c: g.head.pointer, ldc: h)
            start += rows
        }
        result.loss = Float(lossSum) * scale
        return result
    }

    /// Backward through all steps, last to first; the gradient of each step's output hidden
    /// flows into the previous step, and step 0's into `fc`.
    func backward(_ batch: Eagle3Batch) {
        let (b, t) = (batch.batch, batch.length)
        let n = b * t
        let h = c.hiddenSize
        let carry = arena["dcarry"], dh = arena["dh"], da = arena["da"]
        let dq = arena["dq"], dk = arena["dk"], dv = arena["dv"], den = arena["den"], dhn = arena["dhn"]
        let first = p.layers[0], firstGradient = g.layers[0]
        carry.pointer.update(repeating: 0, count: n * h)
        let capacity = steps * maxLength
        for l in 0..<c.layerCount {
            arena[cacheKey("dkeys", l)].pointer.update(repeating: 0, count: b * capacity * c.kvWidth)
            arena[cacheKey("dvalues", l)].pointer.update(repeating: 0, count: b * capacity * c.kvWidth)
        }
        for k in stride(from: steps - 1, through: 0, by: -1) {
            // dh_out = norm backward (this step's loss) + carry (the next step's input).
            dh.pointer.update(from: carry.pointer, count: n * h)
            RMSNorm.backward(
                dinp: dh.pointer, dweight: g.norm.pointer, dout: arena["dnormed.\(k)"].pointer,
                inp: arena["h.\(k + 1)"].pointer,
                weight: p.norm.pointer, rstd: arena["rstd.norm.\(k)"].pointer, rows: n, channels: h)
            // Later layers, last first: dh becomes the gradient of each layer's input.
            for l in stride(from: c.layerCount - 1, through: 1, by: -1) {
                let layer = p.layers[l], gradient = g.layers[l]
                feedForwardAndAttentionBackward(batch, k: k, l: l)
                let xn = arena[key("xn", l, k)], dxn = arena["den"]
                dxn.pointer.update(repeating: 0, count: n * h)
                let xnHalf = products.stage(xn.pointer, count: n * h)
                for (grad, weight, gradWeight, width) in [
                    (dq, layer.q, gradient.q, c.qWidth), (dk, layer.k, gradient.k, c.kvWidth),
                    (dv, layer.v, gradient.v, c.kvWidth),
                ] {
                    products.gemm(
                        .none, .none, m: n, n: h, k: width, a: grad.pointer, lda: width, b: weight.pointer,
                        bHalf: half(weight), ldb: h, beta: 1, c: dxn.pointer, ldc: h)
                    products.gemm(
                        .transposed, .none, m: width, n: h, k: n, a: grad.pointer, lda: width, b: xn.pointer,
                        bHalf: xnHalf, ldb: h, beta: 1, c: gradWeight.pointer, ldc: h)
                }
                // The input's gradient: the residual's (da) and the input norm's.
                dh.pointer.update(from: da.pointer, count: n * h)
                RMSNorm.backward(
                    dinp: dh.pointer, dweight: gradient.inputNorm.pointer, dout: dxn.pointer,
                    inp: arena[outputKey(l - 1, k)].pointer, weight: layer.inputNorm.pointer,
                    rstd: arena[key("rstd.x", l, k)].pointer, rows: n, channels: h)
            }
            feedForwardAndAttentionBackward(batch, k: k, l: 0)
            // a = h_in + o(attn): the residual carries da to h_in.
            carry.pointer.update(from: da.pointer, count: n * h)
            // q/k/v = W_left·en + W_right·hn.
            let en = arena["en.\(k)"], hn = arena["hn.\(k)"]
            den.pointer.update(repeating: 0, count: n * h)
            dhn.pointer.update(repeating: 0, count: n * h)
            let enHalf = products.stage(en.pointer, count: n * h)
            for (grad, weight, gradWeight, width) in [
                (dq, first.q, firstGradient.q, c.qWidth), (dk, first.k, firstGradient.k, c.kvWidth),
                (dv, first.v, firstGradient.v, c.kvWidth),
            ] {
                let weightHalf = half(weight)
                products.gemm(
                    .none, .none, m: n, n: h, k: width, a: grad.pointer, lda: width, b: weight.pointer,
                    bHalf: weightHalf, ldb: 2 * h, beta: 1, c: den.pointer, ldc: h)
                products.gemm(
                    .none, .none, m: n, n: h, k: width, a: grad.pointer, lda: width, b: weight.pointer + h,
                    bHalf: weightHalf.map { $0 + h }, ldb: 2 * h, beta: 1, c: dhn.pointer, ldc: h)
                products.gemm(
                    .transposed, .none, m: width, n: h, k: n, a: grad.pointer, lda: width, b: en.pointer,
                    bHalf: enHalf, ldb: h, beta: 1, c: gradWeight.pointer, ldc: 2 * h)
                products.gemm(
                    .transposed, .none, m: width, n: h, k: n, a: grad.pointer, lda: width, b: hn.pointer, ldb: h,
                    beta: 1, c: gradWeight.pointer + h, ldc: 2 * h)
            }
            RMSNorm.backward(
                dinp: nil, dweight: firstGradient.inputNorm.pointer, dout: den.pointer, inp: arena["e.\(k)"].pointer,
                weight: first.inputNorm.pointer,
                rstd: arena["rstd.e.\(k)"].pointer, rows: n, channels: h)
            RMSNorm.backward(
                dinp: carry.pointer, dweight: firstGradient.hiddenNorm!.pointer, dout: dhn.pointer,
                inp: arena["h.\(k)"].pointer, weight: first.hiddenNorm!.pointer, rstd: arena["rstd.h.\(k)"].pointer,
                rows: n, channels: h)
        }
        // h_0 = fc(aux).
        Linear.backward(
            dinp: nil, dweight: g.fc.pointer, dbias: nil, dout: carry.pointer, inp: batch.auxiliary.pointer,
            weight: p.fc.pointer, rows: n, inFeatures: 3 * c.targetHiddenSize, outFeatures: h, products: products)
    }

    /// Layer l at step k backward from its output's gradient in `dh` down to its q/k/v:
    /// leaves in `da` the gradient of the layer's input through the residual, and in `dq`,
    /// `dk`, `dv` the (RoPE-undone) gradients of its q/k/v products.
    private func feedForwardAndAttentionBackward(_ batch: Eagle3Batch, k: Int, l: Int) {
        let n = batch.batch * batch.length
        let h = c.hiddenSize, inter = c.intermediateSize
        let weights = p.layers[l], gradients = g.layers[l]
        let dh = arena["dh"], da = arena["da"], dpost = arena["dpost"], dattn = arena["dattn"]
        let dq = arena["dq"], dk = arena["dk"], dv = arena["dv"]
        let mlp = arena["mlp"], dmlp = arena["dmlp"], dgate = arena["dgate"], dup = arena["dup"]
        // MLP: out = a + down(m), m = swiglu(gate, up), gate/up = W·post(a).
        let gate = arena[key("gate", l, k)], up = arena[key("up", l, k)], post = arena[key("post", l, k)],
            a = arena[key("a", l, k)]
        SwiGLU.forward(mlp.pointer, gate: gate.pointer, up: up.pointer, count: n * inter)
        SwiGLUMLP.backward(
            dinp: dpost.pointer,
            gradients: .init(gate: gradients.gate.pointer, up: gradients.up.pointer, down: gradients.down.pointer),
            dout: dh.pointer, inp: post.pointer, gate: gate.pointer, up: up.pointer, hidden: mlp.pointer,
            weights: .init(gate: weights.gate.pointer, up: weights.up.pointer, down: weights.down.pointer),
            dhidden: dmlp.pointer, dgate: dgate.pointer, dup: dup.pointer, rows: n, channels: h,
            intermediate: inter,
            halves: halves.map { _ in .init(gate: half(weights.gate)!, up: half(weights.up)!, down: half(weights.down)!)
            },
            products: products)
        da.pointer.update(from: dh.pointer, count: n * h)
        RMSNorm.backward(
            dinp: da.pointer, dweight: gradients.postNorm.pointer, dout: dpost.pointer, inp: a.pointer,
            weight: weights.postNorm.pointer, rstd: arena[key("rstd.post", l, k)].pointer, rows: n, channels: h)
        // a = input + o(attn).
        let attn = arena[key("attn", l, k)], lse = arena[key("lse", l, k)], q = arena[key("q", l, k)]
        dattn.pointer.update(repeating: 0, count: n * c.qWidth)
        Linear.backward(
            dinp: dattn.pointer, dweight: gradients.o.pointer, dbias: nil, dout: da.pointer, inp: attn.pointer,
            weight: weights.o.pointer, weightHalf: half(weights.o), rows: n, inFeatures: c.qWidth, outFeatures: h,
            products: products)
        let keys = arena[cacheKey("keys", l)], values = arena[cacheKey("values", l)]
        let dkeys = arena[cacheKey("dkeys", l)], dvalues = arena[cacheKey("dvalues", l)]
        dq.pointer.update(repeating: 0, count: n * c.qWidth)
        Attention.backward(
            dq: dq.pointer, dk: dkeys.pointer, dv: dvalues.pointer, dout: dattn.pointer, out: attn.pointer,
            lse: lse.pointer, q: q.pointer, k: keys.pointer, v: values.pointer, shape: attentionShape(batch),
            mask: mask, workspace: attentionWorkspace)
        diagonalBackward(
            batch, k: k, q: q.pointer, keys: keys.pointer, values: values.pointer, dkeys: dkeys.pointer,
            dvalues: dvalues.pointer, out: attn.pointer, lse: lse.pointer, dout: dattn.pointer, dq: dq.pointer)
        // Step k's own keys have received every later step's gradient by now.
        scatter(dk.pointer, into: dkeys.pointer, batch: batch, k: k, width: c.kvWidth, gather: true)
        scatter(dv.pointer, into: dvalues.pointer, batch: batch, k: k, width: c.kvWidth, gather: true)
        let pos = positions(batch, k: k)
        draft.rope.backward(dq.pointer, positions: pos, rows: n, heads: c.headCount)
        draft.rope.backward(dk.pointer, positions: pos, rows: n, heads: c.kvHeadCount)
    }
}
