import Foundation
import FledgeTensor

/// Cross-entropy fused with log-softmax, for soft labels (a target distribution per row) and
/// hard labels (one class per row), with a weight per row (0 masks a row) and a global scale
/// (e.g. 1/(B·T) for a mean over all positions).
///
/// soft forward:  loss = scale · Σₙ wₙ · (−Σᵥ pₙᵥ · log_softmax(zₙ)ᵥ)
/// soft backward: dlogits[N,V] += scale · wₙ · (softmax(zₙ)·Σᵥpₙᵥ − pₙ)
/// hard forward:  loss = scale · Σₙ wₙ · (−log_softmax(zₙ)[yₙ]); a label < 0 is ignored
/// hard backward: dlogits[N,V] += scale · wₙ · (softmax(zₙ) − onehot(yₙ))
/// The forward saves lse[N] = log Σ exp(zₙ) for the backward; rows are summed in order (Double).
public enum CrossEntropy {
    /// Soft-label forward; returns the loss and writes `lse[N]` and the weighted, unscaled
    /// loss of each row into `rowLosses[N]`. `weights` nil means all 1.
    public static func softForward(
        lse: UnsafeMutablePointer<Float>, rowLosses: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
        targets: UnsafePointer<Float>, weights: UnsafePointer<Float>?, rows n: Int, columns v: Int, scale: Float
    ) -> Float {
        Parallel.forChunks(count: n, grain: max(1, 8_192 / max(v, 1))) { rows in
            for row in rows {
                let z = logits + row * v
                let p = targets + row * v
                let m = Softmax.rowMax(z, count: v)
                let logTotal = m + logf(Softmax.sumExp(z, shift: m, count: v, storeInto: nil))
                lse[row] = logTotal
                let w = weights?[row] ?? 1
                rowLosses[row] = 0
                if w == 0 { continue }
                // −Σ p (z − lse) = lse·Σp − Σ p·z
                var mass: Float = 0
                for i in 0..<v { mass += p[i] }
                let pz = Elementwise.dot(p, z, count: v)
                rowLosses[row] = w * (logTotal * mass - pz)
            }
        }
        var total = 0.0
        for row in 0..<n { total += Double(rowLosses[row]) }
        return Float(total) * scale
    }

    /// Soft-label backward; accumulates into `dlogits`.
    public static func softBackward(
        dlogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: UnsafePointer<Float>,
        lse: UnsafePointer<Float>, weights: UnsafePointer<Float>?, rows n: Int, columns v: Int, scale: Float
    ) {
        typealias V = SIMD16<Float>
        Parallel.forChunks(count: n, grain: max(1, 8_192 / max(v, 1))) { rows in
            for row in rows {
                let w = (weights?[row] ?? 1) * scale
                if w == 0 { continue }
                let z = logits + row * v
                let p = targets + row * v
                let dz = dlogits + row * v
                var mass: Float = 0
                for i in 0..<v { mass += p[i] }
                let shift = lse[row]
                var i = 0
                while i + 16 <= v {
                    let q = VectorMath.exp(UnsafeRawPointer(z + i).loadUnaligned(as: V.self) - shift)
                    let vp = UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
                    let old = UnsafeRawPointer(dz + i).loadUnaligned(as: V.self)
                    UnsafeMutableRawPointer(dz + i).storeBytes(of: old + (q * mass - vp) * w, as: V.self)
                    i += 16
                }
                while i < v {
                    dz[i] += (VectorMath.exp(z[i] - shift) * mass - p[i]) * w
                    i += 1
                }
            }
        }
    }

    /// Hard-label forward; returns the loss and writes `lse[N]`.
    public static func hardForward(
        lse: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
        weights: UnsafePointer<Float>?, rows n: Int, columns v: Int, scale: Float
    ) -> Float {
        var total = 0.0
        for row in 0..<n {
            let z = logits + row * v
            let m = Softmax.rowMax(z, count: v)
            let logTotal = m + logf(Softmax.sumExp(z, shift: m, count: v, storeInto: nil))
            lse[row] = logTotal
            let label = Int(labels[row])
            if label < 0 { continue }
            precondition(label < v, "label \(label) outside \(v) classes")
            total += Double(weights?[row] ?? 1) * Double(logTotal - z[label])
        }
        return Float(total) * scale
    }

    /// Hard-label backward; accumulates into `dlogits`.
    public static func hardBackward(
        dlogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
        lse: UnsafePointer<Float>, weights: UnsafePointer<Float>?, rows n: Int, columns v: Int, scale: Float
    ) {
        Parallel.forChunks(count: n, grain: max(1, 8_192 / max(v, 1))) { rows in
            for row in rows {
                let label = Int(labels[row])
                let w = (weights?[row] ?? 1) * scale
                if label < 0 || w == 0 { continue }
                let z = logits + row * v
                let dz = dlogits + row * v
                let shift = lse[row]
                for i in 0..<v { dz[i] += VectorMath.exp(z[i] - shift) * w }
                dz[label] -= w
            }
        }
    }
}
