import Foundation
import FledgeTensor

extension Attention {
    /// The same attention as ``forward(out:lse:q:k:v:shape:mask:workspace:)`` for a few query
    /// rows, with every (row, head) computed in a fixed order: the scores as dot products over
    /// the head dimension (16 lanes, then the lanes summed), the softmax weights in blocks of 16
    /// keys (``VectorMath/exp(_:)-swift.type.method``), their total over the nonzero weights in
    /// key order (16 lanes, then the lanes summed) and the weighted sum of values in key order:
    /// only the sequence of visible keys matters, not their positions in the cache. A row's output therefore does not
    /// depend on how many other rows the call has, so a verification of M tokens gives each row
    /// the bits of a one-token decode step (the tiled kernel's products round differently for
    /// different M). The rows of a head share each block of keys while it is in cache.
    public static func forwardRowExact(
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        shape: Shape, mask: AttentionMask
    ) {
        let d = shape.headDimension
        let group = shape.heads / shape.kvHeads
        let kvStride = shape.kvHeads * d
        let (keys, queries) = (shape.keys, shape.queries)
        let padded = (keys + 15) & ~15
        // Only the causal rule: every key up to the query's limit is visible.
        let causalOnly = mask.allowed == nil && mask.keyValid == nil
        Parallel.forEach(units: shape.batch * shape.heads) { unit, _ in
            let (b, h) = (unit / shape.heads, unit % shape.heads)
            let g = h / group
            let kBase = k + (b * shape.keyCapacity * shape.kvHeads + g) * d
            let vBase = v + (b * shape.keyCapacity * shape.kvHeads + g) * d
            withUnsafeTemporaryAllocation(of: Float.self, capacity: queries * (padded + 1) + padded) { buffer in
                let scores = buffer.baseAddress!  // [queries, padded]
                let tops = scores + queries * padded
                let visible = UnsafeMutableRawPointer(tops + queries).assumingMemoryBound(to: Int32.self)
                for i in 0..<queries { tops[i] = -.infinity }
                // Scores, 64 keys at a time for every row.
                var m0 = 0
                while m0 < keys {
                    let m1 = min(keys, m0 + 64)
                    for i in 0..<queries {
                        let qRow = q + ((b * queries + i) * shape.heads + h) * d
                        let row = scores + i * padded
                        var top = tops[i]
                        if causalOnly {
                            let limit =
                                mask.causal
                                ? min(m1, max(m0, i + mask.queryOffset + Int(mask.batchQueryOffsets?[b] ?? 0) + 1)) : m1
                            var m = m0
                            while m + 4 <= limit {
                                let scores = rowDots4(qRow, kBase + m * kvStride, stride: kvStride, count: d)
                                for j in 0..<4 {
                                    let score = shape.scale * scores[j]
                                    row[m + j] = score
                                    top = max(top, score)
                                }
                                m += 4
                            }
                            while m < limit {
                                let score = shape.scale * rowDot(qRow, kBase + m * kvStride, count: d)
                                row[m] = score
                                top = max(top, score)
                                m += 1
                            }
                            for m in limit..<m1 { row[m] = -.infinity }
                        } else {
                            for m in m0..<m1 {
                                if mask.isVisible(batch: b, query: i, key: m) {
                                    let score = shape.scale * rowDot(qRow, kBase + m * kvStride, count: d)
                                    row[m] = score
                                    top = max(top, score)
                                } else {
                                    row[m] = -.infinity
                                }
                            }
                        }
                        tops[i] = top
                    }
                    m0 = m1
                }
                for i in 0..<queries {
                    let row = scores + i * padded
                    let target = out + ((b * queries + i) * shape.heads + h) * d
                    let lseIndex = (b * shape.heads + h) * queries + i
                    target.update(repeating: 0, count: d)
                    let top = tops[i]
                    if top == -.infinity {
                        lse[lseIndex] = -.infinity
                        continue
                    }
                    // Weights 16 at a time (masked keys and the padding give exactly 0).
                    for m in keys..<padded { row[m] = -.infinity }
                    var m = 0
                    while m < padded {
                        let weights = VectorMath.exp(
                            UnsafeRawPointer(row + m).loadUnaligned(as: V.self) - V(repeating: top))
                        UnsafeMutableRawPointer(row + m).storeBytes(of: weights, as: V.self)
                        m += 16
                    }
                    // The nonzero weights in key order, moved to the front of the row: their
                    // total in 16 lanes, and the weighted values, then depend only on the
                    // sequence of visible keys, not on where they sit in the cache (a tree
                    // verification's ancestors are not contiguous; the decode step's are).
                    var count = 0
                    for m in 0..<keys where row[m] != 0 {
                        row[count] = row[m]
                        visible[count] = Int32(m)
                        count += 1
                    }
                    weightedValues(
                        target, weights: row, keys: visible, count: count, values: vBase, stride: kvStride, dimension: d
                    )
                    for m in count..<((count + 15) & ~15) { row[m] = 0 }
                    var lanes = V()
                    m = 0
                    while m < count {
                        lanes += UnsafeRawPointer(row + m).loadUnaligned(as: V.self)
                        m += 16
                    }
                    let total = lanes.sum()
                    Elementwise.scale(target, by: 1 / total, target, count: d)
                    lse[lseIndex] = top + logf(total)
                }
            }
        }
    }

    /// `Σ q[i]·k[i]` over `count` (a multiple of 16) as the row-exact attention sums it: 16
    /// lanes (fused multiply-adds in index order), then halves added pairwise down to one.
    @inline(__always)
    static func rowDot(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, count: Int) -> Float {
        tree(lanes(q, k, count: count))
    }

    /// ``rowDot(_:_:count:)`` of `q` with four keys `stride` floats apart, as four independent
    /// chains (each key's sum is the one ``rowDot(_:_:count:)`` gives).
    @inline(__always)
    static func rowDots4(
        _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, stride: Int, count: Int
    ) -> SIMD4<Float> {
        var (s0, s1, s2, s3) = (V(), V(), V(), V())
        var index = 0
        while index < count {
            let x = UnsafeRawPointer(q + index).loadUnaligned(as: V.self)
            s0.addProduct(x, UnsafeRawPointer(k + index).loadUnaligned(as: V.self))
            s1.addProduct(x, UnsafeRawPointer(k + stride + index).loadUnaligned(as: V.self))
            s2.addProduct(x, UnsafeRawPointer(k + 2 * stride + index).loadUnaligned(as: V.self))
            s3.addProduct(x, UnsafeRawPointer(k + 3 * stride + index).loadUnaligned(as: V.self))
            index += 16
        }
        return SIMD4(tree(s0), tree(s1), tree(s2), tree(s3))
    }

    /// The lanes of `v` added as halves: 16 → 8 → 4 → 2 → 1.
    @inline(__always)
    static func tree(_ v: V) -> Float {
        let eight = v.lowHalf + v.highHalf
        let four = eight.lowHalf + eight.highHalf
        let two = four.lowHalf + four.highHalf
        return two[0] + two[1]
    }

    /// `out[0..<dimension] = Σ_j weights[j] · values[keys[j] · stride …]` over `count` weights, in
    /// order (fused multiply-adds from 0), the accumulators held in registers for head
    /// dimensions 64 and 128.
    @inline(__always)
    static func weightedValues(
        _ out: UnsafeMutablePointer<Float>, weights: UnsafePointer<Float>, keys: UnsafePointer<Int32>, count: Int,
        values: UnsafePointer<Float>, stride: Int, dimension d: Int
    ) {
        @inline(__always) func key(_ j: Int) -> UnsafePointer<Float> { values + Int(keys[j]) * stride }
        @inline(__always) func store(_ a: V, _ c: Int) {
            UnsafeMutableRawPointer(out + 16 * c).storeBytes(of: a, as: V.self)
        }
        @inline(__always) func load(_ p: UnsafePointer<Float>, _ c: Int) -> V {
            UnsafeRawPointer(p + 16 * c).loadUnaligned(as: V.self)
        }
        if d == 64 {
            var (a0, a1, a2, a3) = (V(), V(), V(), V())
            for j in 0..<count {
                let (w, x) = (V(repeating: weights[j]), key(j))
                a0.addProduct(w, load(x, 0)); a1.addProduct(w, load(x, 1))
                a2.addProduct(w, load(x, 2)); a3.addProduct(w, load(x, 3))
            }
            store(a0, 0); store(a1, 1); store(a2, 2); store(a3, 3)
        } else if d == 128 {
            var (a0, a1, a2, a3, a4, a5, a6, a7) = (V(), V(), V(), V(), V(), V(), V(), V())
            for j in 0..<count {
                let (w, x) = (V(repeating: weights[j]), key(j))
                a0.addProduct(w, load(x, 0)); a1.addProduct(w, load(x, 1))
                a2.addProduct(w, load(x, 2)); a3.addProduct(w, load(x, 3))
                a4.addProduct(w, load(x, 4)); a5.addProduct(w, load(x, 5))
                a6.addProduct(w, load(x, 6)); a7.addProduct(w, load(x, 7))
            }
            store(a0, 0); store(a1, 1); store(a2, 2); store(a3, 3)
            store(a4, 4); store(a5, 5); store(a6, 6); store(a7, 7)
        } else {
            out.update(repeating: 0, count: d)
            for j in 0..<count { addScaled(weights[j], key(j), out, count: d) }
        }
    }

    /// `Σ a[i]·b[i]` over `count` (a multiple of 16): 16 lanes, then the lanes summed.
    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        lanes(a, b, count: count).sum()
    }

    /// The 16 lanes of `Σ a[i]·b[i]` over `count` (a multiple of 16), fused multiply-adds in
    /// index order.
    @inlinable @inline(__always)
    public static func lanes(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> V {
        var sum = V()
        var index = 0
        while index < count {
            sum.addProduct(
                UnsafeRawPointer(a + index).loadUnaligned(as: V.self),
                UnsafeRawPointer(b + index).loadUnaligned(as: V.self))
            index += 16
        }
        return sum
    }

    /// `y += alpha · x` over `count` (a multiple of 16) floats.
    @inlinable @inline(__always)
    public static func addScaled(
        _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int
    ) {
        let a = V(repeating: alpha)
        var index = 0
        while index < count {
            var target = UnsafeRawPointer(y + index).loadUnaligned(as: V.self)
            target.addProduct(a, UnsafeRawPointer(x + index).loadUnaligned(as: V.self))
            UnsafeMutableRawPointer(y + index).storeBytes(of: target, as: V.self)
            index += 16
        }
    }
}
