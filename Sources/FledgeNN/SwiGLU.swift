import FledgeTensor

/// SiLU and the SwiGLU gate of Llama's MLP: `h = silu(g) ⊙ u`, `silu(g) = g·σ(g)`.
///
/// silu forward:    out[N] = g·σ(g);             backward: dg[N] += dout·σ(g)·(1 + g·(1−σ(g)))
/// swiglu forward:  out[N] = silu(gate)⊙up;      backward: dgate += dout·up·silu'(gate), dup += dout·silu(gate)
/// (N counts elements; backward accumulates.)
public enum SwiGLU {
    public typealias V = SIMD16<Float>

    @inline(__always)
    static func sigmoid(_ g: V) -> V { 1 / (1 + VectorMath.exp(-g)) }

    public static func siluForward(_ out: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, count: Int) {
        map(count: count) { i in
            let vg = UnsafeRawPointer(g + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: vg * sigmoid(vg), as: V.self)
        } tail: { i in
            let s = sigmoid(V(repeating: g[i]))[0]
            out[i] = g[i] * s
        }
    }

    public static func siluBackward(
        _ dg: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, _ g: UnsafePointer<Float>, count: Int
    ) {
        map(count: count) { i in
            let vg = UnsafeRawPointer(g + i).loadUnaligned(as: V.self)
            let s = sigmoid(vg)
            let grad = UnsafeRawPointer(dout + i).loadUnaligned(as: V.self) * s * (1 + vg * (1 - s))
            let old = UnsafeRawPointer(dg + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(dg + i).storeBytes(of: old + grad, as: V.self)
        } tail: { i in
            let s = sigmoid(V(repeating: g[i]))[0]
            dg[i] += dout[i] * s * (1 + g[i] * (1 - s))
        }
    }

    public static func forward(
        _ out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int
    ) {
        map(count: count) { i in
            let vg = UnsafeRawPointer(gate + i).loadUnaligned(as: V.self)
            let vu = UnsafeRawPointer(up + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: vg * sigmoid(vg) * vu, as: V.self)
        } tail: { i in
            let s = sigmoid(V(repeating: gate[i]))[0]
            out[i] = gate[i] * s * up[i]
        }
    }

    public static func backward(
        dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int
    ) {
        map(count: count) { i in
            let vg = UnsafeRawPointer(gate + i).loadUnaligned(as: V.self)
            let vu = UnsafeRawPointer(up + i).loadUnaligned(as: V.self)
            let vd = UnsafeRawPointer(dout + i).loadUnaligned(as: V.self)
            let s = sigmoid(vg)
            let silu = vg * s
            let oldG = UnsafeRawPointer(dgate + i).loadUnaligned(as: V.self)
            let oldU = UnsafeRawPointer(dup + i).loadUnaligned(as: V.self)
            UnsafeMutableRawPointer(dgate + i).storeBytes(of: oldG + vd * vu * s * (1 + vg * (1 - s)), as: V.self)
            UnsafeMutableRawPointer(dup + i).storeBytes(of: oldU + vd * silu, as: V.self)
        } tail: { i in
            let s = sigmoid(V(repeating: gate[i]))[0]
            dgate[i] += dout[i] * up[i] * s * (1 + gate[i] * (1 - s))
            dup[i] += dout[i] * gate[i] * s
        }
    }

    /// Runs `vector` on 16-element steps and `tail` on the rest, split across threads in
    /// 16-aligned chunks.
    @inline(__always)
    private static func map(count: Int, vector: (Int) -> Void, tail: (Int) -> Void) {
        let blocks = count / 16
        Parallel.forChunks(count: blocks, grain: 2_048) { range in
            for block in range { vector(block * 16) }
        }
        for i in (blocks * 16)..<count { tail(i) }
    }
}

/// The backward of Llama's MLP `y = down(swiglu(gate(x), up(x)))` over N rows (H → I → H),
/// shared by the draft trainers: from ∂y it writes ∂x into `dinp` (overwritten) and
/// accumulates the three weight gradients. `gate`, `up`, `hidden` are the forward's
/// activations (`hidden` = swiglu(gate, up)); `dhidden`, `dgate`, `dup` are [N, I] scratch.
public enum SwiGLUMLP {
    public struct Matrices {
        public var gate, up, down: UnsafeMutablePointer<Float>
        public init(
            gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>, down: UnsafeMutablePointer<Float>
        ) {
            (self.gate, self.up, self.down) = (gate, up, down)
        }
    }

    /// The bf16 copies of the three weights.
    public struct HalfMatrices {
        public var gate, up, down: UnsafePointer<UInt16>
        public init(gate: UnsafePointer<UInt16>, up: UnsafePointer<UInt16>, down: UnsafePointer<UInt16>) {
            (self.gate, self.up, self.down) = (gate, up, down)
        }
    }

    public static func backward(
        dinp: UnsafeMutablePointer<Float>, gradients: Matrices, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>,
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, hidden: UnsafePointer<Float>, weights: Matrices,
        dhidden: UnsafeMutablePointer<Float>, dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>,
        rows n: Int, channels h: Int, intermediate i: Int, halves: HalfMatrices? = nil, products: Products = .fp32
    ) {
        dhidden.update(repeating: 0, count: n * i)
        Linear.backward(
            dinp: dhidden, dweight: gradients.down, dbias: nil, dout: dout, inp: hidden, weight: weights.down,
            weightHalf: halves?.down, rows: n, inFeatures: i, outFeatures: h, products: products)
        dgate.update(repeating: 0, count: n * i)
        dup.update(repeating: 0, count: n * i)
        SwiGLU.backward(dgate: dgate, dup: dup, dout: dhidden, gate: gate, up: up, count: n * i)
        dinp.update(repeating: 0, count: n * h)
        Linear.backward(
            dinp: dinp, dweight: gradients.gate, dbias: nil, dout: dgate, inp: inp, weight: weights.gate,
            weightHalf: halves?.gate, rows: n, inFeatures: h, outFeatures: i, products: products)
        Linear.backward(
            dinp: dinp, dweight: gradients.up, dbias: nil, dout: dup, inp: inp, weight: weights.up,
            weightHalf: halves?.up, rows: n, inFeatures: h, outFeatures: i, products: products)
    }
}
