import Testing
@testable import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// Every backward against central differences (in Double) of its own forward.
@Suite struct GradientCheckTests {
    let checker = GradientCheck(step: 1e-2, samples: 40)
    let tolerance = 2e-3

    /// Runs `forward` into `out`, returns Σ r ⊙ out.
    func lossOf(_ out: Tensor, _ r: Tensor, _ forward: () -> Void) -> Double {
        forward()
        return GradientCheck.weightedSum(out.pointer, r.pointer, count: out.count)
    }

    func expectPasses(_ report: GradientCheck.Report) {
        #expect(report.worstError < tolerance, "\(report)")
    }

    @Test(arguments: [
        (Transpose.none, Transpose.none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed),
    ])
    func matmul(_ transA: Transpose, _ transB: Transpose) {
        let (m, n, k) = (4, 5, 6)
        let a = randomTensor([m * k], seed: 1), b = randomTensor([k * n], seed: 2), r = randomTensor([m * n], seed: 3)
        let c = Tensor(zeros: [m * n])
        let forward = {
            Matmul.forward(c.pointer, a.pointer, b.pointer, m: m, n: n, k: k, transA: transA, transB: transB)
        }
        let da = Tensor(zeros: a.shape), db = Tensor(zeros: b.shape)
        forward()
        Matmul.backward(
            da: da.pointer, db: db.pointer, dc: r.pointer, a: a.pointer, b: b.pointer, m: m, n: n, k: k, transA: transA,
            transB: transB)
        expectPasses(checker.check("dA", input: a, analytic: da) { lossOf(c, r, forward) })
        expectPasses(checker.check("dB", input: b, analytic: db) { lossOf(c, r, forward) })
    }

    @Test func batchedMatmulWithSharedOperand() {
        let (m, n, k, batch) = (3, 4, 5, 3)
        let a = randomTensor([batch * m * k], seed: 4), b = randomTensor([k * n], seed: 5),
            r = randomTensor([batch * m * n], seed: 6)
        let c = Tensor(zeros: [batch * m * n])
        let forward = {
            Matmul.forwardBatched(
                c.pointer, a.pointer, b.pointer, m: m, n: n, k: k, batch: batch, strideA: m * k, strideB: 0,
                strideC: m * n)
        }
        let da = Tensor(zeros: a.shape), db = Tensor(zeros: b.shape)
        forward()
        Matmul.backwardBatched(
            da: da.pointer, db: db.pointer, dc: r.pointer, a: a.pointer, b: b.pointer, m: m, n: n, k: k, batch: batch,
            strideA: m * k, strideB: 0, strideC: m * n)
        expectPasses(checker.check("dA", input: a, analytic: da) { lossOf(c, r, forward) })
        expectPasses(checker.check("dB shared", input: b, analytic: db) { lossOf(c, r, forward) })
    }

    @Test func linear() {
        let (n, i, o) = (5, 7, 4)
        let x = randomTensor([n, i], seed: 1), w = randomTensor([o, i], seed: 2), b = randomTensor([o], seed: 3),
            r = randomTensor([n, o], seed: 4)
        let y = Tensor(zeros: [n, o])
        let forward = {
            Linear.forward(
                y.pointer, x.pointer, weight: w.pointer, bias: b.pointer, rows: n, inFeatures: i, outFeatures: o)
        }
        let dx = Tensor(zeros: x.shape), dw = Tensor(zeros: w.shape), db = Tensor(zeros: b.shape)
        forward()
        Linear.backward(
            dinp: dx.pointer, dweight: dw.pointer, dbias: db.pointer, dout: r.pointer, inp: x.pointer,
            weight: w.pointer,
            rows: n, inFeatures: i, outFeatures: o)
        expectPasses(checker.check("dx", input: x, analytic: dx) { lossOf(y, r, forward) })
        expectPasses(checker.check("dW", input: w, analytic: dw) { lossOf(y, r, forward) })
        expectPasses(checker.check("db", input: b, analytic: db) { lossOf(y, r, forward) })
    }

    @Test func embedding() {
        let table = randomTensor([9, 6], seed: 1), r = randomTensor([5, 6], seed: 2)
        let ids: [Int32] = [2, 8, 2, 0, 2]
        let out = Tensor(zeros: [5, 6]), dtable = Tensor(zeros: table.shape)
        ids.withUnsafeBufferPointer { p in
            let forward = {
                Embedding.forward(
                    out.pointer, ids: p.baseAddress!, table: table.pointer, rows: 5, channels: 6, vocabularySize: 9)
            }
            forward()
            Embedding.backward(dtable: dtable.pointer, dout: r.pointer, ids: p.baseAddress!, rows: 5, channels: 6)
            expectPasses(checker.check("dtable", input: table, analytic: dtable) { lossOf(out, r, forward) })
        }
    }

    @Test func rmsNorm() {
        let (n, c) = (4, 40)
        let x = randomTensor([n, c], seed: 1), w = randomTensor([c], seed: 2), r = randomTensor([n, c], seed: 3)
        let y = Tensor(zeros: [n, c]), rstd = Tensor(zeros: [n])
        let forward = {
            RMSNorm.forward(
                y.pointer, rstd: rstd.pointer, x.pointer, weight: w.pointer, rows: n, channels: c, eps: 1e-5)
        }
        let dx = Tensor(zeros: x.shape), dw = Tensor(zeros: w.shape)
        forward()
        RMSNorm.backward(
            dinp: dx.pointer, dweight: dw.pointer, dout: r.pointer, inp: x.pointer, weight: w.pointer,
            rstd: rstd.pointer, rows: n, channels: c)
        expectPasses(checker.check("dx", input: x, analytic: dx) { lossOf(y, r, forward) })
        expectPasses(checker.check("dw", input: w, analytic: dw) { lossOf(y, r, forward) })
    }

    @Test(arguments: [
        RoPEScaling.none, .linear(factor: 2),
        .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 32),
    ])
    func rope(_ scaling: RoPEScaling) {
        let rope = RotaryEmbedding(headDimension: 16, theta: 10_000, scaling: scaling, maxPositions: 300)
        let positions: [Int32] = [0, 5, 299, 17]
        let x = randomTensor([4, 2, 16], seed: 1), r = randomTensor([4, 2, 16], seed: 2)
        let y = Tensor(zeros: x.shape)
        positions.withUnsafeBufferPointer { p in
            let forward = {
                y.copy(from: x)
                rope.forward(y.pointer, positions: p.baseAddress!, rows: 4, heads: 2)
            }
            let dx = Tensor(zeros: x.shape)
            dx.copy(from: r)
            rope.backward(dx.pointer, positions: p.baseAddress!, rows: 4, heads: 2)
            expectPasses(checker.check("dx", input: x, analytic: dx) { lossOf(y, r, forward) })
        }
    }

    @Test func siluAndSwiGLU() {
        let g = randomTensor([37], seed: 1, std: 3), u = randomTensor([37], seed: 2), r = randomTensor([37], seed: 3)
        let y = Tensor(zeros: [37])
        let silu = { SwiGLU.siluForward(y.pointer, g.pointer, count: 37) }
        let dg = Tensor(zeros: [37])
        SwiGLU.siluBackward(dg.pointer, dout: r.pointer, g.pointer, count: 37)
        expectPasses(checker.check("silu", input: g, analytic: dg) { lossOf(y, r, silu) })
        let swiglu = { SwiGLU.forward(y.pointer, gate: g.pointer, up: u.pointer, count: 37) }
        let dgate = Tensor(zeros: [37]), dup = Tensor(zeros: [37])
        SwiGLU.backward(
            dgate: dgate.pointer, dup: dup.pointer, dout: r.pointer, gate: g.pointer, up: u.pointer, count: 37)
        expectPasses(checker.check("dgate", input: g, analytic: dgate) { lossOf(y, r, swiglu) })
        expectPasses(checker.check("dup", input: u, analytic: dup) { lossOf(y, r, swiglu) })
    }

    @Test func elementwise() {
        let a = randomTensor([35], seed: 1), b = randomTensor([35], seed: 2), r = randomTensor([35], seed: 3)
        let y = Tensor(zeros: [35])
        let mul = { Elementwise.mul(a.pointer, b.pointer, y.pointer, count: 35) }
        let da = Tensor(zeros: [35]), db = Tensor(zeros: [35])
        Elementwise.mulBackward(r.pointer, a.pointer, b.pointer, da.pointer, db.pointer, count: 35)
        expectPasses(checker.check("mul da", input: a, analytic: da) { lossOf(y, r, mul) })
        expectPasses(checker.check("mul db", input: b, analytic: db) { lossOf(y, r, mul) })
        let add = { Elementwise.add(a.pointer, b.pointer, y.pointer, count: 35) }
        da.zero()
        db.zero()
        Elementwise.addBackward(r.pointer, da.pointer, db.pointer, count: 35)
        expectPasses(checker.check("add da", input: a, analytic: da) { lossOf(y, r, add) })
        expectPasses(checker.check("add db", input: b, analytic: db) { lossOf(y, r, add) })
        let scale = { Elementwise.scale(a.pointer, by: -1.7, y.pointer, count: 35) }
        da.zero()
        Elementwise.scaleBackward(r.pointer, by: -1.7, da.pointer, count: 35)
        expectPasses(checker.check("scale", input: a, analytic: da) { lossOf(y, r, scale) })
    }

    @Test func softmaxAndLogSoftmax() {
        let x = randomTensor([3, 21], seed: 1, std: 2), r = randomTensor([3, 21], seed: 2)
        let y = Tensor(zeros: x.shape), dx = Tensor(zeros: x.shape)
        let softmax = { Softmax.forward(y.pointer, x.pointer, rows: 3, columns: 21) }
        softmax()
        Softmax.backward(dx.pointer, dout: r.pointer, out: y.pointer, rows: 3, columns: 21)
        expectPasses(checker.check("softmax", input: x, analytic: dx) { lossOf(y, r, softmax) })
        let logSoftmax = { Softmax.logForward(y.pointer, x.pointer, rows: 3, columns: 21) }
        logSoftmax()
        dx.zero()
        Softmax.logBackward(dx.pointer, dout: r.pointer, out: y.pointer, rows: 3, columns: 21)
        expectPasses(checker.check("logSoftmax", input: x, analytic: dx) { lossOf(y, r, logSoftmax) })
    }

    @Test func crossEntropy() {
        let (n, v) = (5, 33)
        let z = randomTensor([n, v], seed: 1, std: 2)
        let p = Tensor(zeros: [n, v])
        Softmax.forward(p.pointer, randomTensor([n, v], seed: 2).pointer, rows: n, columns: v)
        let w = Tensor([1, 0, 0.5, 1, 2], shape: [n])
        let lse = Tensor(zeros: [n]), rows = Tensor(zeros: [n]), dz = Tensor(zeros: [n, v])
        let soft = {
            Double(
                CrossEntropy.softForward(
                    lse: lse.pointer, rowLosses: rows.pointer, logits: z.pointer, targets: p.pointer,
                    weights: w.pointer, rows: n, columns: v, scale: 0.2))
        }
        _ = soft()
        CrossEntropy.softBackward(
            dlogits: dz.pointer, logits: z.pointer, targets: p.pointer, lse: lse.pointer, weights: w.pointer, rows: n,
            columns: v, scale: 0.2)
        expectPasses(checker.check("soft", input: z, analytic: dz, loss: soft))
        let labels: [Int32] = [4, 32, -1, 0, 7]
        labels.withUnsafeBufferPointer { l in
            let hard = {
                Double(
                    CrossEntropy.hardForward(
                        lse: lse.pointer, logits: z.pointer, labels: l.baseAddress!, weights: w.pointer,
                        rows: n, columns: v, scale: 0.2))
            }
            _ = hard()
            dz.zero()
            CrossEntropy.hardBackward(
                dlogits: dz.pointer, logits: z.pointer, labels: l.baseAddress!, lse: lse.pointer, weights: w.pointer,
                rows: n, columns: v, scale: 0.2)
            expectPasses(checker.check("hard", input: z, analytic: dz, loss: hard))
        }
    }

    /// Attention over several tiles (T > 64 queries, S > 128 keys), GQA, with each mask kind.
    @Test(arguments: ["causal+padding", "dense", "offset"])
    func attention(_ kind: String) {
        let shape: Attention.Shape
        let mask: AttentionMask
        switch kind {
        case "causal+padding":
            shape = Attention.Shape(batch: 2, queries: 140, keys: 140, heads: 4, kvHeads: 2, headDimension: 16)
            mask = AttentionMask(causal: true, queryCapacity: 140, keyCapacity: 140, batchCapacity: 2, padding: true)
            for m in 133..<140 { mask.keyValid![140 + m] = 0 }
        case "dense":
            shape = Attention.Shape(batch: 1, queries: 70, keys: 210, heads: 2, kvHeads: 1, headDimension: 16)
            mask = AttentionMask(causal: false, queryCapacity: 70, keyCapacity: 210, dense: true)
            for i in 0..<70 {
                for m in 0..<210 { mask.allowed![i * 210 + m] = (m <= i || m == 70 + i || m == 140 + i) ? 1 : 0 }
            }
            mask.updateBlocks()
        default:
            shape = Attention.Shape(batch: 1, queries: 5, keys: 150, heads: 2, kvHeads: 2, headDimension: 16)
            mask = AttentionMask(causal: true, queryOffset: 145, queryCapacity: 5, keyCapacity: 150)
        }
        let qCount = shape.batch * shape.queries * shape.heads * shape.headDimension
        let kCount = shape.batch * shape.keys * shape.kvHeads * shape.headDimension
        let q = randomTensor([qCount], seed: 1), k = randomTensor([kCount], seed: 2),
            v = randomTensor([kCount], seed: 3)
        let r = randomTensor([qCount], seed: 4)
        let out = Tensor(zeros: [qCount]), lse = Tensor(zeros: [shape.batch * shape.heads * shape.queries])
        let workspace = AttentionWorkspace(
            batch: shape.batch, queries: shape.queries, keys: shape.keys, heads: shape.heads,
            headDimension: shape.headDimension, groupedQuery: shape.heads != shape.kvHeads)
        let forward = {
            Attention.forward(
                out: out.pointer, lse: lse.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask,
                workspace: workspace)
        }
        forward()
        let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
        Attention.backward(
            dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: r.pointer, out: out.pointer, lse: lse.pointer,
            q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask, workspace: workspace)
        let fine = GradientCheck(step: 1e-2, samples: 60)
        for (name, input, grad) in [("dq", q, dq), ("dk", k, dk), ("dv", v, dv)] {
            let report = fine.check("\(kind) \(name)", input: input, analytic: grad) { lossOf(out, r, forward) }
            expectPasses(report)
        }
    }
}
