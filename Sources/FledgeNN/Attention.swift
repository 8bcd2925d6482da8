import Foundation
import FledgeTensor

/// Scratch memory for ``Attention``, sized once for the largest call of a run.
public final class AttentionWorkspace: @unchecked Sendable {
    let workers: Int
    // Per worker. Forward: S [G·Bq, Bk], O accumulator [G·Bq, D], max and sum [G·Bq], the
    // query tile [G·Bq, D] (G = query heads per kv head, at most `heads`).
    // Backward: P [Bq, Bk], dP [Bq, Bk], delta [maxQueries].
    let tile: Tensor
    let perWorker: Int
    let maxGroup: Int
    let maxQueries: Int
    let headDimension: Int
    let headGradients: Tensor  // [B, NH, S, D] × 2 (dK, dV per query head), only for grouped-query attention
    let headGradientCapacity: Int

    /// - Parameters: the largest batch, query and key lengths, the query head count and head
    ///   dimension the workspace must serve; `groupedQuery` reserves per-head dK/dV scratch.
    public init(
        batch: Int, queries: Int, keys: Int, heads: Int, headDimension: Int, groupedQuery: Bool,
        workers: Int = Parallel.workerCount
    ) {
        self.workers = max(1, workers)
        self.maxQueries = queries
        self.headDimension = headDimension
        let bq = Attention.queryBlock
        let bk = Attention.keyBlock
        maxGroup = heads
        let forwardNeed = heads * bq * (bk + 2 * headDimension + 2)
        let backwardNeed = 2 * bq * bk + queries
        perWorker = (max(forwardNeed, backwardNeed) + 15) / 16 * 16
        tile = Tensor(zeros: [self.workers * perWorker])
        headGradientCapacity = groupedQuery ? batch * heads * keys * headDimension : 0
        headGradients = Tensor(zeros: [max(1, 2 * headGradientCapacity)])
    }

    /// The bytes the workspace holds.
    public var byteCount: Int { (tile.count + headGradients.count) * 4 }
}

/// Scaled dot-product attention with grouped-query heads, flash-style: scores exist one
/// tile [Bq, Bk] at a time, the softmax is computed online, and the backward recomputes the
/// scores from the saved log-sum-exp instead of storing them.
///
/// q, out, dq:     [B, T, NH, D]   (rows of a linear layer's output; row stride NH·D)
/// k, v, dk, dv:   [B, Sc, NKV, D] with Sc = `keyCapacity` ≥ S rows per batch entry (a cache
///                 may hold more rows than are used)
/// lse:            [B, NH, T]      log Σ exp(scores) per query, saved by the forward
/// forward:  out = softmax(q·kᵀ·scale + mask)·v per head; query head h reads kv head h/(NH/NKV)
/// backward: dq, dk, dv += gradients (accumulates); rows with no visible key give 0.
public enum Attention {
    /// Query rows per tile.
    public static let queryBlock = 64
    /// Key rows per tile.
    public static let keyBlock = 128

    public typealias V = SIMD16<Float>

    /// The shapes of one attention call.
    public struct Shape: Sendable {
        public var batch: Int
        public var queries: Int
        public var keys: Int
        public var heads: Int
        public var kvHeads: Int
        public var headDimension: Int
        public var keyCapacity: Int
        public var scale: Float

        public init(
            batch: Int, queries: Int, keys: Int, heads: Int, kvHeads: Int, headDimension: Int, keyCapacity: Int? = nil,
            scale: Float? = nil
        ) {
            precondition(heads % kvHeads == 0, "\(heads) query heads are not a multiple of \(kvHeads) kv heads")
            precondition(headDimension % 16 == 0, "head dimension must be a multiple of 16")
            self.batch = batch
            self.queries = queries
            self.keys = keys
            self.heads = heads
            self.kvHeads = kvHeads
            self.headDimension = headDimension
            self.keyCapacity = keyCapacity ?? keys
            self.scale = scale ?? 1 / Float(headDimension).squareRoot()
        }
    }

    // MARK: forward

    public static func forward(
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        shape: Shape, mask: AttentionMask, workspace: AttentionWorkspace
    ) {
        precondition(shape.heads / shape.kvHeads <= workspace.maxGroup, "attention workspace sized for fewer heads")
        let qBlocks = (shape.queries + queryBlock - 1) / queryBlock
        let units = shape.batch * shape.kvHeads * qBlocks
        Parallel.forEach(units: units) { unit, worker in
            let qb = unit % qBlocks
            let g = (unit / qBlocks) % shape.kvHeads
            let b = unit / (qBlocks * shape.kvHeads)
            forwardTile(
                out: out, lse: lse, q: q, k: k, v: v, shape: shape, mask: mask,
                b: b, g: g, qb: qb, scratch: workspace.tile.pointer + worker * workspace.perWorker)
        }
    }

    /// One query block of every query head of kv group `g`: the group's query rows are
    /// stacked ([G·Bq, D], row j·Bq + i = head j, token i) so each K/V tile serves them in one
    /// product.
    private static func forwardTile(
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        shape: Shape, mask: AttentionMask, b: Int, g: Int, qb: Int, scratch: UnsafeMutablePointer<Float>
    ) {
        let d = shape.headDimension
        let group = shape.heads / shape.kvHeads
        let kvStride = shape.kvHeads * d
        let q0 = qb * queryBlock
        let q1 = min(shape.queries, q0 + queryBlock)
        let bq = q1 - q0
        let rows = group * bq
        let s = scratch
        let acc = s + rows * keyBlock
        let rowMax = acc + rows * d
        let rowSum = rowMax + rows
        let qTile = rowSum + rows
        acc.update(repeating: 0, count: rows * d)
        rowMax.update(repeating: -.infinity, count: rows)
        rowSum.update(repeating: 0, count: rows)
        for j in 0..<group {
            for i in 0..<bq {
                let source = q + ((b * shape.queries + q0 + i) * shape.heads + g * group + j) * d
                (qTile + (j * bq + i) * d).update(from: source, count: d)
            }
        }
        let kBase = k + (b * shape.keyCapacity * shape.kvHeads + g) * d
        let vBase = v + (b * shape.keyCapacity * shape.kvHeads + g) * d
        var k0 = 0
        while k0 < shape.keys {
            let k1 = min(shape.keys, k0 + keyBlock)
            let bk = k1 - k0
            let state = mask.classify(batch: b, q0: q0, q1: q1, k0: k0, k1: k1)
            if state == 0 {
                k0 = k1
                continue
            }
            BLAS.gemm(
                .none, .transposed, m: rows, n: bk, k: d, alpha: shape.scale, a: qTile, lda: d,
                b: kBase + k0 * kvStride, ldb: kvStride, beta: 0, c: s, ldc: bk)
            if state == 2 {
                for j in 0..<group { applyMask(s + j * bq * bk, mask: mask, b: b, q0: q0, q1: q1, k0: k0, k1: k1) }
            }
            for r in 0..<rows {
                let row = s + r * bk
                let newMax = max(rowMax[r], Softmax.rowMax(row, count: bk))
                if newMax == -.infinity {
                    row.update(repeating: 0, count: bk)
                    continue
                }
                let correction = VectorMath.exp(rowMax[r] - newMax)
                let total = Softmax.sumExp(row, shift: newMax, count: bk, storeInto: row)
                rowSum[r] = rowSum[r] * correction + total
                rowMax[r] = newMax
                if correction != 1 { Elementwise.scale(acc + r * d, by: correction, acc + r * d, count: d) }
            }
            BLAS.gemm(
                .none, .none, m: rows, n: d, k: bk, a: s, lda: bk, b: vBase + k0 * kvStride, ldb: kvStride,
                beta: 1, c: acc, ldc: d)
            k0 = k1
        }
        for j in 0..<group {
            let h = g * group + j
            for i in 0..<bq {
                let r = j * bq + i
                let target = out + ((b * shape.queries + q0 + i) * shape.heads + h) * d
                let lseIndex = (b * shape.heads + h) * shape.queries + q0 + i
                if rowSum[r] == 0 {
                    target.update(repeating: 0, count: d)
                    lse[lseIndex] = -.infinity
                } else {
                    Elementwise.scale(acc + r * d, by: 1 / rowSum[r], target, count: d)
                    lse[lseIndex] = rowMax[r] + logf(rowSum[r])
                }
            }
        }
    }

    @inline(__always)
    private static func applyMask(
        _ s: UnsafeMutablePointer<Float>, mask: AttentionMask, b: Int, q0: Int, q1: Int, k0: Int, k1: Int
    ) {
        let bk = k1 - k0
        for i in q0..<q1 {
            let row = s + (i - q0) * bk
            for m in k0..<k1 where !mask.isVisible(batch: b, query: i, key: m) {
                row[m - k0] = -.infinity
            }
        }
    }

    // MARK: backward

    public static func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, out: UnsafePointer<Float>, lse: UnsafePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        shape: Shape, mask: AttentionMask, workspace: AttentionWorkspace
    ) {
        let grouped = shape.heads != shape.kvHeads
        if grouped {
            precondition(
                workspace.headGradientCapacity >= shape.batch * shape.heads * shape.keys * shape.headDimension,
                "attention workspace too small for grouped-query backward")
        }
        precondition(workspace.maxQueries >= shape.queries, "attention workspace sized for fewer queries")
        let units = shape.batch * shape.heads
        Parallel.forEach(units: units) { unit, worker in
            backwardHead(
                dq: dq, dk: dk, dv: dv, dout: dout, out: out, lse: lse, q: q, k: k, v: v,
                shape: shape, mask: mask, b: unit / shape.heads, h: unit % shape.heads,
                scratch: workspace.tile.pointer + worker * workspace.perWorker, workspace: workspace)
        }
        if grouped { reduceGroups(dk: dk, dv: dv, shape: shape, workspace: workspace) }
    }

    private static func backwardHead(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, out: UnsafePointer<Float>, lse: UnsafePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        shape: Shape, mask: AttentionMask, b: Int, h: Int, scratch: UnsafeMutablePointer<Float>,
        workspace: AttentionWorkspace
    ) {
        let d = shape.headDimension
        let qStride = shape.heads * d
        let kvStride = shape.kvHeads * d
        let g = h / (shape.heads / shape.kvHeads)
        let p = scratch
        let dp = scratch + queryBlock * keyBlock
        let delta = scratch + 2 * queryBlock * keyBlock
        let qHead = q + (b * shape.queries * shape.heads + h) * d
        let oHead = out + (b * shape.queries * shape.heads + h) * d
        let doHead = dout + (b * shape.queries * shape.heads + h) * d
        let dqHead = dq + (b * shape.queries * shape.heads + h) * d
        let lseHead = lse + (b * shape.heads + h) * shape.queries
        let kHead = k + (b * shape.keyCapacity * shape.kvHeads + g) * d
        let vHead = v + (b * shape.keyCapacity * shape.kvHeads + g) * d
        // Where this head's dK/dV go: straight into dk/dv, or into per-head scratch for GQA.
        let dkHead: UnsafeMutablePointer<Float>
        let dvHead: UnsafeMutablePointer<Float>
        let dkvStride: Int
        if shape.heads == shape.kvHeads {
            dkHead = dk + (b * shape.keyCapacity * shape.kvHeads + g) * d
            dvHead = dv + (b * shape.keyCapacity * shape.kvHeads + g) * d
            dkvStride = kvStride
        } else {
            let offset = (b * shape.heads + h) * shape.keys * d
            dkHead = workspace.headGradients.pointer + offset
            dvHead = workspace.headGradients.pointer + workspace.headGradientCapacity + offset
            dkHead.update(repeating: 0, count: shape.keys * d)
            dvHead.update(repeating: 0, count: shape.keys * d)
            dkvStride = d
        }
        for i in 0..<shape.queries {
            delta[i] = Elementwise.dot(doHead + i * qStride, oHead + i * qStride, count: d)
        }
        var k0 = 0
        while k0 < shape.keys {
            let k1 = min(shape.keys, k0 + keyBlock)
            let bk = k1 - k0
            var q0 = 0
            while q0 < shape.queries {
                let q1 = min(shape.queries, q0 + queryBlock)
                let bq = q1 - q0
                let state = mask.classify(batch: b, q0: q0, q1: q1, k0: k0, k1: k1)
                if state == 0 {
                    q0 = q1
                    continue
                }
                BLAS.gemm(
                    .none, .transposed, m: bq, n: bk, k: d, alpha: shape.scale, a: qHead + q0 * qStride, lda: qStride,
                    b: kHead + k0 * kvStride, ldb: kvStride, beta: 0, c: p, ldc: bk)
                if state == 2 { applyMask(p, mask: mask, b: b, q0: q0, q1: q1, k0: k0, k1: k1) }
                for r in 0..<bq {
                    let shift = lseHead[q0 + r]
                    let row = p + r * bk
                    if shift == -.infinity {
                        row.update(repeating: 0, count: bk)
                    } else {
                        _ = Softmax.sumExp(row, shift: shift, count: bk, storeInto: row)
                    }
                }
                // dV += Pᵀ·dO
                BLAS.gemm(
                    .transposed, .none, m: bk, n: d, k: bq, a: p, lda: bk, b: doHead + q0 * qStride, ldb: qStride,
                    beta: 1, c: dvHead + k0 * dkvStride, ldc: dkvStride)
                // dP = dO·Vᵀ, then dS = P ⊙ (dP − delta)
                BLAS.gemm(
                    .none, .transposed, m: bq, n: bk, k: d, a: doHead + q0 * qStride, lda: qStride,
                    b: vHead + k0 * kvStride, ldb: kvStride, beta: 0, c: dp, ldc: bk)
                for r in 0..<bq {
                    let rowP = p + r * bk
                    let rowD = dp + r * bk
                    let shift = delta[q0 + r]
                    var c = 0
                    while c + 16 <= bk {
                        let vp = UnsafeRawPointer(rowP + c).loadUnaligned(as: V.self)
                        let vd = UnsafeRawPointer(rowD + c).loadUnaligned(as: V.self)
                        UnsafeMutableRawPointer(rowD + c).storeBytes(of: vp * (vd - shift), as: V.self)
                        c += 16
                    }
                    while c < bk { rowD[c] = rowP[c] * (rowD[c] - shift); c += 1 }
                }
                // dQ += scale·dS·K ;  dK += scale·dSᵀ·Q
                BLAS.gemm(
                    .none, .none, m: bq, n: d, k: bk, alpha: shape.scale, a: dp, lda: bk, b: kHead + k0 * kvStride,
                    ldb: kvStride, beta: 1, c: dqHead + q0 * qStride, ldc: qStride)
                BLAS.gemm(
                    .transposed, .none, m: bk, n: d, k: bq, alpha: shape.scale, a: dp, lda: bk, b: qHead + q0 * qStride,
                    ldb: qStride, beta: 1, c: dkHead + k0 * dkvStride, ldc: dkvStride)
                q0 = q1
            }
            k0 = k1
        }
    }

    /// Adds the per-query-head dK/dV scratch into dk/dv, heads of a group in ascending order.
    private static func reduceGroups(
        dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>, shape: Shape, workspace: AttentionWorkspace
    ) {
        let d = shape.headDimension
        let groupSize = shape.heads / shape.kvHeads
        let units = shape.batch * shape.kvHeads
        Parallel.forEach(units: units) { unit, _ in
            let b = unit / shape.kvHeads
            let g = unit % shape.kvHeads
            for m in 0..<shape.keys {
                let dkRow = dk + ((b * shape.keyCapacity + m) * shape.kvHeads + g) * d
                let dvRow = dv + ((b * shape.keyCapacity + m) * shape.kvHeads + g) * d
                for member in 0..<groupSize {
                    let h = g * groupSize + member
                    let offset = ((b * shape.heads + h) * shape.keys + m) * d
                    Elementwise.axpy(1, workspace.headGradients.pointer + offset, dkRow, count: d)
                    Elementwise.axpy(
                        1, workspace.headGradients.pointer + workspace.headGradientCapacity + offset, dvRow, count: d)
                }
            }
        }
    }

    /// Plain attention that materialises all scores (the oracle for tests; O(T·S) memory).
    public static func referenceForward(
        out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        shape: Shape, mask: AttentionMask
    ) {
        let d = shape.headDimension
        let group = shape.heads / shape.kvHeads
        var scores = [Double](repeating: 0, count: shape.keys)
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let g = h / group
                for i in 0..<shape.queries {
                    let qRow = q + ((b * shape.queries + i) * shape.heads + h) * d
                    var best = -Double.infinity
                    for m in 0..<shape.keys {
                        guard mask.isVisible(batch: b, query: i, key: m) else { scores[m] = -.infinity; continue }
                        let kRow = k + ((b * shape.keyCapacity + m) * shape.kvHeads + g) * d
                        var dot = 0.0
                        for c in 0..<d { dot += Double(qRow[c]) * Double(kRow[c]) }
                        scores[m] = dot * Double(shape.scale)
                        best = max(best, scores[m])
                    }
                    let target = out + ((b * shape.queries + i) * shape.heads + h) * d
                    var result = [Double](repeating: 0, count: d)
                    var total = 0.0
                    if best > -.infinity {
                        for m in 0..<shape.keys where scores[m] > -.infinity {
                            let weight = Foundation.exp(scores[m] - best)
                            total += weight
                            let vRow = v + ((b * shape.keyCapacity + m) * shape.kvHeads + g) * d
                            for c in 0..<d { result[c] += weight * Double(vRow[c]) }
                        }
                    }
                    for c in 0..<d { target[c] = total > 0 ? Float(result[c] / total) : 0 }
                }
            }
        }
    }
}
