import Foundation
import FledgeNN
import FledgeTensor

/// The TTT attention of step k, in two parts (docs/design.md §2.5): the causal part over the
/// step-0 keys (``Attention``, flash tiles) and the diagonal part, the keys of the same
/// position in steps 1…k (k keys per query, computed directly), merged through their
/// log-sum-exps. A tiled kernel would spend a whole [64, 128] tile of scores on each diagonal
/// (64 useful of 8,192), which at T = 512 cost more than the causal part itself.
extension Eagle3Trainer {
    /// Folds the diagonal keys of steps 1…k into the causal part's `out` and `lse` (in place):
    /// with the diagonal scores s_j, lse' = log(e^lse + Σ e^s_j) and
    /// out' = e^(lse − lse')·out + Σ e^(s_j − lse')·v_j. Padding positions have no diagonal keys.
    func mergeDiagonal(
        _ batch: Eagle3Batch, k: Int, q: UnsafePointer<Float>, keys: UnsafePointer<Float>,
        values: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    ) {
        guard k >= 1 else { return }
        let (b, t) = (batch.batch, batch.length)
        let (heads, d) = (c.headCount, c.headDimension)
        let group = heads / c.kvHeadCount
        let scale = 1 / Float(d).squareRoot()
        let capacity = steps * maxLength
        let lengths = batch.lengths
        Parallel.forChunks(count: b * t, grain: 16) { rows in
            for r in rows {
                let (row, i) = (r / t, r % t)
                guard i < lengths[row] else { continue }
                withUnsafeTemporaryAllocation(of: Float.self, capacity: k) { s in
                    for h in 0..<heads {
                        let g = h / group
                        let qRow = q + (r * heads + h) * d
                        var top = -Float.infinity
                        for j in 1...k {
                            let key = keys + ((row * capacity + j * t + i) * c.kvHeadCount + g) * d
                            s[j - 1] = scale * Attention.dot(qRow, key, count: d)
                            top = max(top, s[j - 1])
                        }
                        let lseIndex = (row * heads + h) * t + i
                        let causal = lse[lseIndex]
                        let m = max(top, causal)
                        var total = causal == -.infinity ? 0 : VectorMath.exp(causal - m)
                        for j in 0..<k { total += VectorMath.exp(s[j] - m) }
                        let merged = m + logf(total)
                        let outRow = out + (r * heads + h) * d
                        let keep = causal == -.infinity ? 0 : VectorMath.exp(causal - merged)
                        Elementwise.scale(outRow, by: keep, outRow, count: d)
                        for j in 1...k {
                            let value = values + ((row * capacity + j * t + i) * c.kvHeadCount + g) * d
                            Attention.addScaled(VectorMath.exp(s[j - 1] - merged), value, outRow, count: d)
                        }
                        lse[lseIndex] = merged
                    }
                }
            }
        }
    }

    /// The diagonal part's gradients, given the merged `out` and `lse` (as the causal part's
    /// backward uses them): p_j = e^(s_j − lse), ds_j = p_j·(dout·v_j − dout·out);
    /// dq += scale·Σ ds_j·k_j, dk_j += scale·ds_j·q, dv_j += p_j·dout (accumulates into the
    /// step-j blocks of `dkeys`/`dvalues`).
    func diagonalBackward(
        _ batch: Eagle3Batch, k: Int, q: UnsafePointer<Float>, keys: UnsafePointer<Float>,
        values: UnsafePointer<Float>, dkeys: UnsafeMutablePointer<Float>, dvalues: UnsafeMutablePointer<Float>,
        out: UnsafePointer<Float>, lse: UnsafePointer<Float>, dout: UnsafePointer<Float>,
        dq: UnsafeMutablePointer<Float>
    ) {
        guard k >= 1 else { return }
        let (b, t) = (batch.batch, batch.length)
        let (heads, d) = (c.headCount, c.headDimension)
        let group = heads / c.kvHeadCount
        let scale = 1 / Float(d).squareRoot()
        let capacity = steps * maxLength
        let lengths = batch.lengths
        // A unit owns whole positions (every head), so the dK/dV rows it writes are its own.
        Parallel.forChunks(count: b * t, grain: 16) { rows in
            for r in rows {
                let (row, i) = (r / t, r % t)
                guard i < lengths[row] else { continue }
                for h in 0..<heads {
                    let g = h / group
                    let qRow = q + (r * heads + h) * d
                    let doRow = dout + (r * heads + h) * d
                    let dqRow = dq + (r * heads + h) * d
                    let shift = lse[(row * heads + h) * t + i]
                    let delta = Attention.dot(doRow, out + (r * heads + h) * d, count: d)
                    for j in 1...k {
                        let offset = ((row * capacity + j * t + i) * c.kvHeadCount + g) * d
                        let p = VectorMath.exp(scale * Attention.dot(qRow, keys + offset, count: d) - shift)
                        let ds = p * (Attention.dot(doRow, values + offset, count: d) - delta)
                        Attention.addScaled(scale * ds, keys + offset, dqRow, count: d)
                        Attention.addScaled(scale * ds, qRow, dkeys + offset, count: d)
                        Attention.addScaled(p, doRow, dvalues + offset, count: d)
                    }
                }
            }
        }
    }
}
