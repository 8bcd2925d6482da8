import Testing
@testable import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// A miniature training step composed of the kernels, run on planned memory only.
@Suite struct PlannedMemoryTests {
    /// embedding → RMSNorm → q/k/v → RoPE → attention → o-proj → head → soft CE, then the
    /// backward, clipping and AdamW: after the first step no further Fledge buffer is
    /// allocated, the arena keeps its size, and the loss goes down.
    @Test func trainingStepAllocatesNothing() {
        let (t, c, heads, kvHeads, d, vocabulary) = (48, 32, 2, 1, 16, 50)
        let parameters = ParameterSet([
            ("embed", [vocabulary, c]), ("norm", [c]), ("q", [heads * d, c]), ("k", [kvHeads * d, c]),
            ("v", [kvHeads * d, c]), ("o", [c, heads * d]), ("head", [vocabulary, c]),
        ])
        var generator = SeededGenerator(seed: 5)
        generator.fillNormal(parameters.parameters, std: 0.1)
        for i in 0..<c { parameters.parameter("norm")[i] = 1 }
        var plan = ArenaPlan()
        for (name, shape) in [
            ("x", [t, c]), ("xn", [t, c]), ("rstd", [t]), ("q", [t, heads * d]), ("k", [t, kvHeads * d]),
            ("v", [t, kvHeads * d]), ("att", [t, heads * d]), ("lse", [heads * t]), ("h", [t, c]),
            ("logits", [t, vocabulary]), ("target", [t, vocabulary]), ("celse", [t]), ("rows", [t]),
            ("dlogits", [t, vocabulary]), ("dh", [t, c]), ("datt", [t, heads * d]), ("dq", [t, heads * d]),
            ("dk", [t, kvHeads * d]), ("dv", [t, kvHeads * d]), ("dxn", [t, c]), ("dx", [t, c]),
        ] as [(String, Shape)] {
            plan.add(name, shape)
        }
        let arena = Arena(plan)
        let ids = (0..<t).map { Int32(($0 * 7) % vocabulary) }
        let positions = (0..<t).map { Int32($0) }
        let rope = RotaryEmbedding(headDimension: d, theta: 10_000, maxPositions: t)
        let mask = AttentionMask(causal: true, queryCapacity: t, keyCapacity: t)
        let workspace = AttentionWorkspace(
            batch: 1, queries: t, keys: t, heads: heads, headDimension: d, groupedQuery: true)
        let shape = Attention.Shape(batch: 1, queries: t, keys: t, heads: heads, kvHeads: kvHeads, headDimension: d)
        var optimizer = AdamW(learningRate: 1e-2)
        // Target: the next token, as a one-hot distribution.
        let target = arena["target"]
        for i in 0..<t { target[i * vocabulary + Int(ids[(i + 1) % t])] = 1 }

        func step() -> Float {
            ids.withUnsafeBufferPointer { idPointer in
                positions.withUnsafeBufferPointer { positionPointer in
                    let p = parameters
                    Embedding.forward(
                        arena["x"].pointer, ids: idPointer.baseAddress!, table: p.parameter("embed").pointer, rows: t,
                        channels: c, vocabularySize: vocabulary)
                    RMSNorm.forward(
                        arena["xn"].pointer, rstd: arena["rstd"].pointer, arena["x"].pointer,
                        weight: p.parameter("norm").pointer, rows: t, channels: c, eps: 1e-5)
                    for (name, out) in [("q", heads * d), ("k", kvHeads * d), ("v", kvHeads * d)] {
                        Linear.forward(
                            arena[name].pointer, arena["xn"].pointer, weight: p.parameter(name).pointer, bias: nil,
                            rows: t, inFeatures: c, outFeatures: out)
                    }
                    rope.forward(arena["q"].pointer, positions: positionPointer.baseAddress!, rows: t, heads: heads)
                    rope.forward(arena["k"].pointer, positions: positionPointer.baseAddress!, rows: t, heads: kvHeads)
                    Attention.forward(
                        out: arena["att"].pointer, lse: arena["lse"].pointer, q: arena["q"].pointer,
                        k: arena["k"].pointer,
                        v: arena["v"].pointer, shape: shape, mask: mask, workspace: workspace)
                    Linear.forward(
                        arena["h"].pointer, arena["att"].pointer, weight: p.parameter("o").pointer, bias: nil, rows: t,
                        inFeatures: heads * d, outFeatures: c)
                    Elementwise.add(arena["h"].pointer, arena["x"].pointer, arena["h"].pointer, count: t * c)
                    Linear.forward(
                        arena["logits"].pointer, arena["h"].pointer, weight: p.parameter("head").pointer, bias: nil,
                        rows: t, inFeatures: c, outFeatures: vocabulary)
                    let loss = CrossEntropy.softForward(
                        lse: arena["celse"].pointer, rowLosses: arena["rows"].pointer, logits: arena["logits"].pointer,
                        targets: target.pointer, weights: nil, rows: t, columns: vocabulary, scale: 1 / Float(t))
                    // backward
                    p.zeroGradients()
                    for name in ["dlogits", "dh", "datt", "dq", "dk", "dv", "dxn", "dx"] { arena[name].zero() }
                    CrossEntropy.softBackward(
                        dlogits: arena["dlogits"].pointer, logits: arena["logits"].pointer, targets: target.pointer,
                        lse: arena["celse"].pointer, weights: nil, rows: t, columns: vocabulary, scale: 1 / Float(t))
                    Linear.backward(
                        dinp: arena["dh"].pointer, dweight: p.gradient("head").pointer, dbias: nil,
                        dout: arena["dlogits"].pointer,
                        inp: arena["h"].pointer, weight: p.parameter("head").pointer, rows: t, inFeatures: c,
                        outFeatures: vocabulary)
                    Elementwise.addBackward(arena["dh"].pointer, arena["dx"].pointer, nil, count: t * c)
                    Linear.backward(
                        dinp: arena["datt"].pointer, dweight: p.gradient("o").pointer, dbias: nil,
                        dout: arena["dh"].pointer,
                        inp: arena["att"].pointer, weight: p.parameter("o").pointer, rows: t, inFeatures: heads * d,
                        outFeatures: c)
                    Attention.backward(
                        dq: arena["dq"].pointer, dk: arena["dk"].pointer, dv: arena["dv"].pointer,
                        dout: arena["datt"].pointer,
                        out: arena["att"].pointer, lse: arena["lse"].pointer, q: arena["q"].pointer,
                        k: arena["k"].pointer,
                        v: arena["v"].pointer, shape: shape, mask: mask, workspace: workspace)
                    rope.backward(arena["dq"].pointer, positions: positionPointer.baseAddress!, rows: t, heads: heads)
                    rope.backward(arena["dk"].pointer, positions: positionPointer.baseAddress!, rows: t, heads: kvHeads)
                    for (name, out) in [("q", heads * d), ("k", kvHeads * d), ("v", kvHeads * d)] {
                        Linear.backward(
                            dinp: arena["dxn"].pointer, dweight: p.gradient(name).pointer, dbias: nil,
                            dout: arena["d" + name].pointer,
                            inp: arena["xn"].pointer, weight: p.parameter(name).pointer, rows: t, inFeatures: c,
                            outFeatures: out)
                    }
                    RMSNorm.backward(
                        dinp: arena["dx"].pointer, dweight: p.gradient("norm").pointer, dout: arena["dxn"].pointer,
                        inp: arena["x"].pointer,
                        weight: p.parameter("norm").pointer, rstd: arena["rstd"].pointer, rows: t, channels: c)
                    Embedding.backward(
                        dtable: p.gradient("embed").pointer, dout: arena["dx"].pointer, ids: idPointer.baseAddress!,
                        rows: t, channels: c)
                    GradientClipping.clip(p.gradients.pointer, count: p.count, maxNorm: 1)
                    optimizer.update(p)
                    return loss
                }
            }
        }

        let first = step()
        let allocations = Memory.threadAllocationCount
        let arenaBytes = arena.byteCount
        var last = first
        for _ in 0..<30 { last = step() }
        #expect(Memory.threadAllocationCount == allocations, "a training step allocated tensor memory")
        #expect(arena.byteCount == arenaBytes)
        #expect(last < first * 0.5, "loss \(first) → \(last)")
    }
}
