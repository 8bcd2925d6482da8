import Foundation
import Testing
@testable import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// Every kernel against PyTorch (Scripts/reference/make_layer_fixtures.py).
@Suite struct GoldenFixtureTests {
    let fixtures: FixtureSet

    init() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        fixtures = try FixtureSet(directory: url.appendingPathComponent("layers"))
    }

    func expectClose(
        _ name: String, _ actual: Tensor, _ expectedName: String, atol: Float = 1e-5, rtol: Float = 1e-4
    ) throws {
        let expected = try fixtures.tensor(expectedName)
        let result = compare(name, actual, expected, atol: atol, rtol: rtol)
        #expect(result.passed, "\(result)")
    }

    @Test(arguments: ["nn", "nt", "tn", "tt"])
    func matmul(_ tag: String) throws {
        let a = try fixtures.tensor("matmul_\(tag).a")
        let b = try fixtures.tensor("matmul_\(tag).b")
        let dc = try fixtures.tensor("matmul_\(tag).dc")
        let ta: Transpose = tag.first == "t" ? .transposed : .none
        let tb: Transpose = tag.last == "t" ? .transposed : .none
        let (m, k, n) = (5, 7, 3)
        let c = Tensor(zeros: [m, n])
        Matmul.forward(c.pointer, a.pointer, b.pointer, m: m, n: n, k: k, transA: ta, transB: tb)
        try expectClose("C", c, "matmul_\(tag).c")
        let da = Tensor(zeros: a.shape)
        let db = Tensor(zeros: b.shape)
        Matmul.backward(
            da: da.pointer, db: db.pointer, dc: dc.pointer, a: a.pointer, b: b.pointer, m: m, n: n, k: k, transA: ta,
            transB: tb)
        try expectClose("dA", da, "matmul_\(tag).da")
        try expectClose("dB", db, "matmul_\(tag).db")
    }

    @Test func linear() throws {
        let x = try fixtures.tensor("linear.x"), w = try fixtures.tensor("linear.w"),
            b = try fixtures.tensor("linear.b")
        let dy = try fixtures.tensor("linear.dy")
        let y = Tensor(zeros: [6, 5])
        Linear.forward(y.pointer, x.pointer, weight: w.pointer, bias: b.pointer, rows: 6, inFeatures: 8, outFeatures: 5)
        try expectClose("y", y, "linear.y")
        let dx = Tensor(zeros: x.shape), dw = Tensor(zeros: w.shape), db = Tensor(zeros: b.shape)
        Linear.backward(
            dinp: dx.pointer, dweight: dw.pointer, dbias: db.pointer, dout: dy.pointer, inp: x.pointer,
            weight: w.pointer, rows: 6, inFeatures: 8, outFeatures: 5)
        try expectClose("dx", dx, "linear.dx")
        try expectClose("dw", dw, "linear.dw")
        try expectClose("db", db, "linear.db")
    }

    @Test func embedding() throws {
        let table = try fixtures.tensor("embedding.table")
        let ids = try fixtures.integers("embedding.ids")
        let dout = try fixtures.tensor("embedding.dout")
        let out = Tensor(zeros: [6, 8])
        let dtable = Tensor(zeros: table.shape)
        ids.withUnsafeBufferPointer { idPointer in
            Embedding.forward(
                out.pointer, ids: idPointer.baseAddress!, table: table.pointer, rows: 6, channels: 8, vocabularySize: 11
            )
            Embedding.backward(
                dtable: dtable.pointer, dout: dout.pointer, ids: idPointer.baseAddress!, rows: 6, channels: 8)
        }
        try expectClose("out", out, "embedding.out", atol: 0, rtol: 0)
        try expectClose("dtable", dtable, "embedding.dtable", atol: 1e-6)
    }

    @Test func rmsNorm() throws {
        let x = try fixtures.tensor("rmsnorm.x"), w = try fixtures.tensor("rmsnorm.w"),
            dy = try fixtures.tensor("rmsnorm.dy")
        let y = Tensor(zeros: x.shape), rstd = Tensor(zeros: [6])
        RMSNorm.forward(y.pointer, rstd: rstd.pointer, x.pointer, weight: w.pointer, rows: 6, channels: 32, eps: 1e-5)
        try expectClose("y", y, "rmsnorm.y")
        let dx = Tensor(zeros: x.shape), dw = Tensor(zeros: w.shape)
        RMSNorm.backward(
            dinp: dx.pointer, dweight: dw.pointer, dout: dy.pointer, inp: x.pointer, weight: w.pointer,
            rstd: rstd.pointer, rows: 6, channels: 32)
        try expectClose("dx", dx, "rmsnorm.dx")
        try expectClose("dw", dw, "rmsnorm.dw")
    }

    @Test(arguments: ["default", "linear", "llama3"])
    func rope(_ variant: String) throws {
        let scaling: RoPEScaling
        let theta: Float
        switch variant {
        case "linear": (scaling, theta) = (.linear(factor: 4), 10_000)
        case "llama3":
            (scaling, theta) = (
                .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 64), 500_000
            )
        default: (scaling, theta) = (.none, 10_000)
        }
        let rope = RotaryEmbedding(headDimension: 16, theta: theta, scaling: scaling, maxPositions: 2048)
        let expectedFrequencies = try fixtures.tensor("rope_\(variant).inv_freq")
        let frequencies = Tensor(rope.inverseFrequencies, shape: [8])
        #expect(compare("inv_freq", frequencies, expectedFrequencies, atol: 0, rtol: 1e-6).passed)
        let positions = try fixtures.integers("rope.positions")
        let x = try fixtures.tensor("rope_\(variant).x")
        let dy = try fixtures.tensor("rope_\(variant).dy")
        positions.withUnsafeBufferPointer { p in
            rope.forward(x.pointer, positions: p.baseAddress!, rows: 5, heads: 3)
            rope.backward(dy.pointer, positions: p.baseAddress!, rows: 5, heads: 3)
        }
        // Angles reach 2047 rad, where one float ulp of the angle is 1.2e-4.
        try expectClose("y", x, "rope_\(variant).y", atol: 3e-4)
        try expectClose("dx", dy, "rope_\(variant).dx", atol: 3e-4)
    }

    @Test func swiglu() throws {
        let gate = try fixtures.tensor("swiglu.gate"), up = try fixtures.tensor("swiglu.up"),
            dout = try fixtures.tensor("swiglu.dout")
        let out = Tensor(zeros: gate.shape), dgate = Tensor(zeros: gate.shape), dup = Tensor(zeros: up.shape)
        SwiGLU.forward(out.pointer, gate: gate.pointer, up: up.pointer, count: gate.count)
        SwiGLU.backward(
            dgate: dgate.pointer, dup: dup.pointer, dout: dout.pointer, gate: gate.pointer, up: up.pointer,
            count: gate.count)
        try expectClose("out", out, "swiglu.out")
        try expectClose("dgate", dgate, "swiglu.dgate")
        try expectClose("dup", dup, "swiglu.dup")
        let x = try fixtures.tensor("silu.x"), dy = try fixtures.tensor("silu.dy")
        let y = Tensor(zeros: x.shape), dx = Tensor(zeros: x.shape)
        SwiGLU.siluForward(y.pointer, x.pointer, count: x.count)
        SwiGLU.siluBackward(dx.pointer, dout: dy.pointer, x.pointer, count: x.count)
        try expectClose("silu", y, "silu.y")
        try expectClose("dsilu", dx, "silu.dx")
    }

    @Test func softmaxAndLogSoftmax() throws {
        for name in ["softmax", "logsoftmax"] {
            let x = try fixtures.tensor("\(name).x"), dy = try fixtures.tensor("\(name).dy")
            let y = Tensor(zeros: x.shape), dx = Tensor(zeros: x.shape)
            if name == "softmax" {
                Softmax.forward(y.pointer, x.pointer, rows: 4, columns: 37)
                Softmax.backward(dx.pointer, dout: dy.pointer, out: y.pointer, rows: 4, columns: 37)
            } else {
                Softmax.logForward(y.pointer, x.pointer, rows: 4, columns: 37)
                Softmax.logBackward(dx.pointer, dout: dy.pointer, out: y.pointer, rows: 4, columns: 37)
            }
            try expectClose("\(name) y", y, "\(name).y")
            try expectClose("\(name) dx", dx, "\(name).dx")
        }
    }

    @Test func crossEntropy() throws {
        let logits = try fixtures.tensor("softce.logits"), target = try fixtures.tensor("softce.target")
        let weights = try fixtures.tensor("softce.weights")
        let lse = Tensor(zeros: [6]), rowLosses = Tensor(zeros: [6]), dlogits = Tensor(zeros: logits.shape)
        let soft = CrossEntropy.softForward(
            lse: lse.pointer, rowLosses: rowLosses.pointer, logits: logits.pointer, targets: target.pointer,
            weights: weights.pointer, rows: 6, columns: 45, scale: 1.0 / 6)
        CrossEntropy.softBackward(
            dlogits: dlogits.pointer, logits: logits.pointer, targets: target.pointer, lse: lse.pointer,
            weights: weights.pointer, rows: 6, columns: 45, scale: 1.0 / 6)
        try expectClose("soft loss", Tensor([soft], shape: [1]), "softce.loss")
        try expectClose("soft dlogits", dlogits, "softce.dlogits", atol: 1e-6)
        let labels = try fixtures.integers("hardce.labels")
        dlogits.zero()
        let hard = labels.withUnsafeBufferPointer { l -> Float in
            let loss = CrossEntropy.hardForward(
                lse: lse.pointer, logits: logits.pointer, labels: l.baseAddress!, weights: weights.pointer,
                rows: 6, columns: 45, scale: 1.0 / 6)
            CrossEntropy.hardBackward(
                dlogits: dlogits.pointer, logits: logits.pointer, labels: l.baseAddress!, lse: lse.pointer,
                weights: weights.pointer, rows: 6, columns: 45, scale: 1.0 / 6)
            return loss
        }
        try expectClose("hard loss", Tensor([hard], shape: [1]), "hardce.loss")
        try expectClose("hard dlogits", dlogits, "hardce.dlogits", atol: 1e-6)
    }

    @Test(arguments: ["attn_causal", "attn_ttt", "attn_decode"])
    func attention(_ tag: String) throws {
        let q = try fixtures.tensor("\(tag).q"), k = try fixtures.tensor("\(tag).k"),
            v = try fixtures.tensor("\(tag).v")
        let dout = try fixtures.tensor("\(tag).dout")
        let qs = try fixtures.shape("\(tag).q"), ks = try fixtures.shape("\(tag).k")
        let shape = Attention.Shape(
            batch: qs[0], queries: qs[1], keys: ks[1], heads: qs[2], kvHeads: ks[2], headDimension: qs[3])
        let mask: AttentionMask
        switch tag {
        case "attn_causal":
            mask = AttentionMask(
                causal: true, queryCapacity: shape.queries, keyCapacity: shape.keys, batchCapacity: shape.batch,
                padding: true)
            let valid = try fixtures.integers("attn_causal.key_valid")
            for i in 0..<valid.count { mask.keyValid![i] = UInt8(valid[i]) }
        case "attn_ttt":
            mask = AttentionMask(causal: false, queryCapacity: shape.queries, keyCapacity: shape.keys, dense: true)
            let allowed = try fixtures.integers("attn_ttt.allowed")
            for i in 0..<allowed.count { mask.allowed![i] = UInt8(allowed[i]) }
            mask.updateBlocks()
        default:
            mask = AttentionMask(
                causal: true, queryOffset: shape.keys - shape.queries, queryCapacity: shape.queries,
                keyCapacity: shape.keys)
        }
        let workspace = AttentionWorkspace(
            batch: shape.batch, queries: shape.queries, keys: shape.keys, heads: shape.heads,
            headDimension: shape.headDimension, groupedQuery: shape.heads != shape.kvHeads)
        let out = Tensor(zeros: q.shape), lse = Tensor(zeros: [shape.batch * shape.heads * shape.queries])
        Attention.forward(
            out: out.pointer, lse: lse.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask,
            workspace: workspace)
        try expectClose("\(tag) out", out, "\(tag).out", atol: 2e-5)
        let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
        Attention.backward(
            dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer, out: out.pointer, lse: lse.pointer,
            q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask, workspace: workspace)
        try expectClose("\(tag) dq", dq, "\(tag).dq", atol: 5e-5)
        try expectClose("\(tag) dk", dk, "\(tag).dk", atol: 5e-5)
        try expectClose("\(tag) dv", dv, "\(tag).dv", atol: 5e-5)
    }

    @Test func adamWFiveSteps() throws {
        let set = ParameterSet([("p", [40])])
        set.parameters.copy(from: try fixtures.tensor("adamw.p0"))
        var optimizer = AdamW(learningRate: 1e-2, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1)
        for step in 0..<5 {
            set.gradients.copy(from: try fixtures.tensor("adamw.g\(step)"))
            optimizer.update(set)
            try expectClose("p\(step + 1)", set.parameters, "adamw.p\(step + 1)", atol: 1e-6, rtol: 1e-5)
        }
        #expect(optimizer.step == 5)
    }

    @Test func gradientNormClipping() throws {
        let grads = try fixtures.tensor("clip.grads")
        let norm = GradientClipping.clip(grads.pointer, count: grads.count, maxNorm: 0.5)
        try expectClose("norm", Tensor([norm], shape: [1]), "clip.norm", atol: 1e-5)
        try expectClose("clipped", grads, "clip.clipped", atol: 1e-7, rtol: 1e-5)
    }

    @Test func halfPrecisionRounding() throws {
        let values = try fixtures.tensor("half.values")
        let bf16 = try fixtures.integers("half.bf16")
        let f16 = try fixtures.integers("half.f16")
        for i in 0..<values.count {
            #expect(Int32(HalfPrecision.bf16Bits(values[i])) == bf16[i], "bf16 of \(values[i])")
            #expect(Int32(HalfPrecision.f16Bits(values[i])) == f16[i], "f16 of \(values[i])")
            #expect(HalfPrecision.float(bf16: UInt16(bf16[i])).bitPattern == UInt32(bf16[i]) << 16)
        }
    }
}
