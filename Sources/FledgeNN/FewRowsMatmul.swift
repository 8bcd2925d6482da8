import FledgeTensor

/// `out[N,O] (= or +=) inp[N,I] · weight[O,I]ᵀ` for a few rows N: decoding and speculative
/// verification, where the weights are read once per call and OpenBLAS would first pack them
/// (reading and writing every weight once more; at N = 1 that doubles the memory traffic of a
/// decode step).
///
/// Every output is `Σ` over the input in the same order (8-lane partial sums over chunks of 8,
/// reduced, then the tail), whatever N, the row blocking and the thread count: a row's result
/// does not depend on which other rows share the call, so a one-token decode step and a
/// K-token verification give bit-identical logits for the same prefix (greedy speculative
/// decoding stays lossless).
public enum FewRowsMatmul {
    public typealias V = SIMD8<Float>

    /// `Linear.forward` calls that opt in (`fewRows`) with at most this many rows take this kernel.
    public static let rowLimit = 64

    public static func forward(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows n: Int, inFeatures i: Int, outFeatures o: Int, weightStride: Int? = nil, accumulate: Bool
    ) {
        if n == 0 || o == 0 { return }
        let ldw = weightStride ?? i
        // Pairs of weight rows over the workers; about 64 KB of weights per piece.
        let grain = max(2, (16_384 / max(i, 1)) & ~1)
        Parallel.forChunks(count: o, grain: grain) { columns in
            var column = columns.lowerBound
            while column + 2 <= columns.upperBound {
                let w0 = weight + column * ldw, w1 = w0 + ldw
                var row = 0
                while row + 4 <= n {
                    block(out + row * o + column, o, inp + row * i, i, w0, w1, rows: 4, accumulate: accumulate)
                    row += 4
                }
                if row < n {
                    block(out + row * o + column, o, inp + row * i, i, w0, w1, rows: n - row, accumulate: accumulate)
                }
                column += 2
            }
            if column < columns.upperBound {
                let w = weight + column * ldw
                for row in 0..<n {
                    let value = dot(inp + row * i, w, count: i)
                    out[row * o + column] = accumulate ? out[row * o + column] + value : value
                }
            }
        }
    }

    /// Up to 4 input rows against 2 weight rows: 8 accumulators, each weight chunk loaded once.
    @inline(__always)
    static func block(
        _ out: UnsafeMutablePointer<Float>, _ ldo: Int, _ x: UnsafePointer<Float>, _ i: Int,
        _ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, rows: Int, accumulate: Bool
    ) {
        var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V(), a30 = V(), a31 = V()
        let x0 = x, x1 = x + (rows > 1 ? i : 0), x2 = x + (rows > 2 ? 2 * i : 0), x3 = x + (rows > 3 ? 3 * i : 0)
        var p = 0
        while p + 8 <= i {
            let u = UnsafeRawPointer(w0 + p).loadUnaligned(as: V.self)
            let v = UnsafeRawPointer(w1 + p).loadUnaligned(as: V.self)
            let y0 = UnsafeRawPointer(x0 + p).loadUnaligned(as: V.self)
            let y1 = UnsafeRawPointer(x1 + p).loadUnaligned(as: V.self)
            let y2 = UnsafeRawPointer(x2 + p).loadUnaligned(as: V.self)
            let y3 = UnsafeRawPointer(x3 + p).loadUnaligned(as: V.self)
            a00.addProduct(y0, u); a01.addProduct(y0, v)
            a10.addProduct(y1, u); a11.addProduct(y1, v)
            a20.addProduct(y2, u); a21.addProduct(y2, v)
            a30.addProduct(y3, u); a31.addProduct(y3, v)
            p += 8
        }
        finish(out, x0, w0, w1, a00, a01, from: p, count: i, accumulate: accumulate)
        if rows > 1 { finish(out + ldo, x1, w0, w1, a10, a11, from: p, count: i, accumulate: accumulate) }
        if rows > 2 { finish(out + 2 * ldo, x2, w0, w1, a20, a21, from: p, count: i, accumulate: accumulate) }
        if rows > 3 { finish(out + 3 * ldo, x3, w0, w1, a30, a31, from: p, count: i, accumulate: accumulate) }
    }

    /// Reduces a row's two accumulators, adds the tail and stores (or adds) the two outputs.
    @inline(__always)
    static func finish(
        _ line: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w0: UnsafePointer<Float>,
        _ w1: UnsafePointer<Float>,
        _ a0: V, _ a1: V, from p: Int, count i: Int, accumulate: Bool
    ) {
        var s0 = reduce(a0), s1 = reduce(a1)
        var q = p
        while q < i {
            s0 += x[q] * w0[q]
            s1 += x[q] * w1[q]
            q += 1
        }
        if accumulate { line[0] += s0; line[1] += s1 } else { line[0] = s0; line[1] = s1 }
    }

    /// One row against one weight row, in the same order as `block`.
    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, count i: Int) -> Float {
        var a = V()
        var p = 0
        while p + 8 <= i {
            a.addProduct(
                UnsafeRawPointer(x + p).loadUnaligned(as: V.self), UnsafeRawPointer(w + p).loadUnaligned(as: V.self))
            p += 8
        }
        var s = reduce(a)
        while p < i { s += x[p] * w[p]; p += 1 }
        return s
    }

    /// A fixed pairwise reduction of the 8 lanes.
    @inline(__always)
    static func reduce(_ a: V) -> Float {
        let b = a.lowHalf + a.highHalf
        let c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }
}
