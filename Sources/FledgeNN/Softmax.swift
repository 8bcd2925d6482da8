import Foundation
import FledgeTensor

/// Row-wise softmax and log-softmax over the last axis.
///
/// softmax forward:     out[N,V] = exp(x − max) / Σ exp(x − max)
/// softmax backward:    dinp[N,V] += y ⊙ (dy − Σ dy⊙y)
/// logSoftmax forward:  out[N,V] = x − max − log Σ exp(x − max)
/// logSoftmax backward: dinp[N,V] += dy − softmax(x)·Σ dy   (uses the saved output: softmax = exp(out))
/// Rows are independent and split across threads; every row is reduced in a fixed order.
public enum Softmax {
    public typealias V = SIMD16<Float>

    /// The maximum of a row of `count` floats (NaN-free input).
    ///
    /// Swift's `max` and `pointwiseMax` on floats honour NaN rules that keep LLVM from
    /// vectorising them, so the row is compared as order-preserving integer keys (the sign
    /// bit flips the other bits), a reduction LLVM turns into `vpmaxsd`.
    @inline(__always)
    public static func rowMax(_ x: UnsafePointer<Float>, count: Int) -> Float {
        let bits = UnsafeRawPointer(x).assumingMemoryBound(to: Int32.self)
        var best = Int32.min
        for i in 0..<count {
            let b = bits[i]
            best = Swift.max(best, b ^ ((b &>> 31) & 0x7FFF_FFFF))
        }
        return Float(bitPattern: UInt32(bitPattern: best ^ ((best &>> 31) & 0x7FFF_FFFF)))
    }

    /// Σ exp(x − shift) over a row, optionally storing each exp into `out`.
    @inline(__always)
    public static func sumExp(
        _ x: UnsafePointer<Float>, shift: Float, count: Int, storeInto out: UnsafeMutablePointer<Float>?
    ) -> Float {
        var acc = V()
        var i = 0
        while i + 16 <= count {
            let e = VectorMath.exp(UnsafeRawPointer(x + i).loadUnaligned(as: V.self) - shift)
            if let out { UnsafeMutableRawPointer(out + i).storeBytes(of: e, as: V.self) }
            acc += e
            i += 16
        }
        var total = acc.sum()
        while i < count {
            let e = VectorMath.exp(x[i] - shift)
            out?[i] = e
            total += e
            i += 1
        }
        return total
    }

    public static func forward(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, rows n: Int, columns v: Int
    ) {
        Parallel.forChunks(count: n, grain: max(1, 16_384 / max(v, 1))) { rows in
            for row in rows {
                let x = inp + row * v
                let y = out + row * v
                let m = rowMax(x, count: v)
                let total = sumExp(x, shift: m, count: v, storeInto: y)
                Elementwise.scale(y, by: 1 / total, y, count: v)
            }
        }
    }

    public static func backward(
        _ dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>, rows n: Int,
        columns v: Int
    ) {
        Parallel.forChunks(count: n, grain: max(1, 16_384 / max(v, 1))) { rows in
            for row in rows {
                let y = out + row * v
                let dy = dout + row * v
                let dx = dinp + row * v
                let inner = Elementwise.dot(dy, y, count: v)
                for i in 0..<v { dx[i] += y[i] * (dy[i] - inner) }
            }
        }
    }

    public static func logForward(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, rows n: Int, columns v: Int
    ) {
        Parallel.forChunks(count: n, grain: max(1, 16_384 / max(v, 1))) { rows in
            for row in rows {
                let x = inp + row * v
                let y = out + row * v
                let m = rowMax(x, count: v)
                let logTotal = m + logf(sumExp(x, shift: m, count: v, storeInto: nil))
                for i in 0..<v { y[i] = x[i] - logTotal }
            }
        }
    }

    public static func logBackward(
        _ dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, out: UnsafePointer<Float>, rows n: Int,
        columns v: Int
    ) {
        Parallel.forChunks(count: n, grain: max(1, 16_384 / max(v, 1))) { rows in
            for row in rows {
                let y = out + row * v
                let dy = dout + row * v
                let dx = dinp + row * v
                var total: Float = 0
                for i in 0..<v { total += dy[i] }
                for i in 0..<v { dx[i] += dy[i] - VectorMath.exp(y[i]) * total }
            }
        }
    }
}
