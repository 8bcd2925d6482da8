import Foundation
import FledgeTensor

extension Attention {
    /// The same attention as ``forward(out:lse:q:k:v:shape:mask:workspace:)`` for a few query
    /// rows, with every (row, head) computed on its own in a fixed order: the scores as dot
    /// products over the head dimension (16 lanes, then the lanes summed), the softmax and the
    /// weighted sum of values in key order. A row's output therefore does not depend on how many
    /// other rows the call has, so a verification of M tokens gives each row the bits of a
    /// one-token decode step (the tiled kernel's products round differently for different M).
    public static func forwardRowExact(
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        shape: Shape, mask: AttentionMask
    ) {
        let d = shape.headDimension
        let group = shape.heads / shape.kvHeads
        let kvStride = shape.kvHeads * d
        Parallel.forEach(units: shape.batch * shape.heads) { unit, _ in
            let (b, h) = (unit / shape.heads, unit % shape.heads)
            let g = h / group
            let kBase = k + (b * shape.keyCapacity * shape.kvHeads + g) * d
            let vBase = v + (b * shape.keyCapacity * shape.kvHeads + g) * d
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(shape.keys, 1)) { buffer in
                let scores = buffer.baseAddress!
                for i in 0..<shape.queries {
                    let qRow = q + ((b * shape.queries + i) * shape.heads + h) * d
                    let target = out + ((b * shape.queries + i) * shape.heads + h) * d
                    let lseIndex = (b * shape.heads + h) * shape.queries + i
                    var top = -Float.infinity
                    for m in 0..<shape.keys {
                        if mask.isVisible(batch: b, query: i, key: m) {
                            scores[m] = shape.scale * dot(qRow, kBase + m * kvStride, count: d)
                            top = max(top, scores[m])
                        } else {
                            scores[m] = -.infinity
                        }
                    }
                    target.update(repeating: 0, count: d)
                    if top == -.infinity {
                        lse[lseIndex] = -.infinity
                        continue
                    }
                    var total: Float = 0
                    for m in 0..<shape.keys where scores[m] != -.infinity {
                        let weight = VectorMath.exp(scores[m] - top)
                        total += weight
                        addScaled(weight, vBase + m * kvStride, target, count: d)
                    }
                    Elementwise.scale(target, by: 1 / total, target, count: d)
                    lse[lseIndex] = top + logf(total)
                }
            }
        }
    }

    /// `Σ a[i]·b[i]` over `count` (a multiple of 16): 16 lanes, then the lanes summed.
    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var sum = V()
        var index = 0
        while index < count {
            sum.addProduct(
                UnsafeRawPointer(a + index).loadUnaligned(as: V.self),
                UnsafeRawPointer(b + index).loadUnaligned(as: V.self))
            index += 16
        }
        return sum.sum()
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
