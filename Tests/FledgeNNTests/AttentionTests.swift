import Testing
@testable import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// The tiled kernel against the naive oracle, and its determinism.
@Suite struct AttentionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var batch, queries, keys, heads, kvHeads, dim: Int
        var offset: Int
        var testDescription: String { "B\(batch) T\(queries) S\(keys) H\(heads)/\(kvHeads) D\(dim) offset \(offset)" }
    }

    static let cases: [Case] = [
        Case(batch: 1, queries: 1, keys: 1, heads: 1, kvHeads: 1, dim: 16, offset: 0),
        Case(batch: 1, queries: 64, keys: 64, heads: 3, kvHeads: 1, dim: 32, offset: 0),
        Case(batch: 2, queries: 129, keys: 129, heads: 4, kvHeads: 2, dim: 64, offset: 0),
        Case(batch: 1, queries: 1, keys: 300, heads: 9, kvHeads: 3, dim: 64, offset: 299),
        Case(batch: 3, queries: 7, keys: 263, heads: 2, kvHeads: 2, dim: 16, offset: 256),
    ]

    func run(
        _ c: Case, keyCapacity: Int? = nil, workers: Int = Parallel.workerCount
    ) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Attention.Shape, AttentionMask) {
        let capacity = keyCapacity ?? c.keys
        let shape = Attention.Shape(
            batch: c.batch, queries: c.queries, keys: c.keys, heads: c.heads, kvHeads: c.kvHeads,
            headDimension: c.dim, keyCapacity: capacity)
        let q = randomTensor([c.batch * c.queries * c.heads * c.dim], seed: 11)
        let k = randomTensor([c.batch * capacity * c.kvHeads * c.dim], seed: 12)
        let v = randomTensor([c.batch * capacity * c.kvHeads * c.dim], seed: 13)
        let out = Tensor(zeros: q.shape)
        let lse = Tensor(zeros: [c.batch * c.heads * c.queries])
        let mask = AttentionMask(causal: true, queryOffset: c.offset, queryCapacity: c.queries, keyCapacity: capacity)
        let workspace = AttentionWorkspace(
            batch: c.batch, queries: c.queries, keys: c.keys, heads: c.heads, headDimension: c.dim,
            groupedQuery: c.heads != c.kvHeads, workers: workers)
        let saved = Parallel.workerCount
        Parallel.workerCount = workers
        Attention.forward(
            out: out.pointer, lse: lse.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask,
            workspace: workspace)
        Parallel.workerCount = saved
        return (q, k, v, out, lse, shape, mask)
    }

    @Test(arguments: cases)
    func matchesNaiveOracle(_ c: Case) {
        let (q, k, v, out, _, shape, mask) = run(c)
        let expected = Tensor(zeros: out.shape)
        Attention.referenceForward(
            out: expected.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask)
        let result = compare("out", out, expected, atol: 2e-6, rtol: 1e-5)
        #expect(result.passed, "\(result)")
    }

    @Test func keyCapacityLargerThanKeysIgnoresUnusedRows() {
        let c = Case(batch: 2, queries: 3, keys: 40, heads: 2, kvHeads: 1, dim: 16, offset: 37)
        let (q, k, v, out, _, shape, mask) = run(c, keyCapacity: 64)
        let expected = Tensor(zeros: out.shape)
        Attention.referenceForward(
            out: expected.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask)
        #expect(compare("out", out, expected, atol: 2e-6, rtol: 1e-5).passed)
    }

    @Test func fullyMaskedRowsGiveZeroAndNoNaN() {
        let shape = Attention.Shape(batch: 1, queries: 4, keys: 4, heads: 1, kvHeads: 1, headDimension: 16)
        let mask = AttentionMask(causal: false, queryCapacity: 4, keyCapacity: 4, dense: true)
        for m in 0..<4 { mask.allowed![2 * 4 + m] = 0 }  // query 2 sees nothing
        mask.updateBlocks()
        let q = randomTensor([64], seed: 1), k = randomTensor([64], seed: 2), v = randomTensor([64], seed: 3),
            dout = randomTensor([64], seed: 4)
        let out = Tensor(zeros: [64]), lse = Tensor(zeros: [4])
        let workspace = AttentionWorkspace(
            batch: 1, queries: 4, keys: 4, heads: 1, headDimension: 16, groupedQuery: false)
        Attention.forward(
            out: out.pointer, lse: lse.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask,
            workspace: workspace)
        #expect((32..<48).allSatisfy { out[$0] == 0 })
        #expect(lse[2] == -.infinity)
        let dq = Tensor(zeros: [64]), dk = Tensor(zeros: [64]), dv = Tensor(zeros: [64])
        Attention.backward(
            dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer, out: out.pointer, lse: lse.pointer,
            q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask, workspace: workspace)
        #expect((0..<64).allSatisfy { dq[$0].isFinite && dk[$0].isFinite && dv[$0].isFinite })
        #expect((32..<48).allSatisfy { dq[$0] == 0 })
    }

    /// Same inputs and thread count ⇒ bit-identical forward and backward, run after run.
    @Test func bitIdenticalAcrossRuns() {
        let c = Case(batch: 2, queries: 200, keys: 200, heads: 4, kvHeads: 2, dim: 32, offset: 0)
        var outputs: [[Float]] = []
        for _ in 0..<3 {
            let (q, k, v, out, lse, shape, mask) = run(c)
            let dout = randomTensor(out.shape, seed: 99)
            let dq = Tensor(zeros: q.shape), dk = Tensor(zeros: k.shape), dv = Tensor(zeros: v.shape)
            let workspace = AttentionWorkspace(
                batch: 2, queries: 200, keys: 200, heads: 4, headDimension: 32, groupedQuery: true)
            Attention.backward(
                dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer, out: out.pointer, lse: lse.pointer,
                q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask, workspace: workspace)
            outputs.append(out.values + dq.values + dk.values + dv.values)
        }
        #expect(outputs[0].map(\.bitPattern) == outputs[1].map(\.bitPattern))
        #expect(outputs[0].map(\.bitPattern) == outputs[2].map(\.bitPattern))
    }

    /// The forward tiles own their rows, so even a different thread count gives the same bits.
    @Test func forwardIndependentOfThreadCount() {
        let c = Case(batch: 1, queries: 150, keys: 150, heads: 3, kvHeads: 3, dim: 16, offset: 0)
        let one = run(c, workers: 1).3.values
        let two = run(c, workers: 2).3.values
        #expect(one.map(\.bitPattern) == two.map(\.bitPattern))
    }
}

/// The row-exact attention of decode and verification steps: the oracle's values and lse, and
/// each row's bits independent of the other rows of the call.
@Suite struct RowExactAttentionTests {
    @Test(arguments: AttentionTests.cases)
    func matchesTheOracleAndTheTiledKernel(_ c: AttentionTests.Case) {
        let (q, k, v, tiled, tiledLSE, shape, mask) = AttentionTests().run(c)
        let out = Tensor(zeros: tiled.shape), lse = Tensor(zeros: tiledLSE.shape)
        Attention.forwardRowExact(
            out: out.pointer, lse: lse.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask)
        let expected = Tensor(zeros: out.shape)
        Attention.referenceForward(
            out: expected.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask)
        let result = compare("out", out, expected, atol: 2e-6, rtol: 1e-5)
        #expect(result.passed, "\(result)")
        #expect(compare("lse", lse, tiledLSE, atol: 1e-5, rtol: 1e-5).passed)
    }

    /// The last query of a 5-row call (causal, after 20 cached keys) alone: the same bits.
    @Test func aRowsBitsDoNotDependOnTheOtherRows() {
        let (heads, kvHeads, d, cached) = (6, 2, 32, 20)
        let keys = cached + 5
        let k = randomTensor([keys * kvHeads * d], seed: 2), v = randomTensor([keys * kvHeads * d], seed: 3)
        let q = randomTensor([5 * heads * d], seed: 1)
        func attend(rows: Int, first: Int) -> [UInt32] {
            let shape = Attention.Shape(
                batch: 1, queries: rows, keys: cached + first + rows, heads: heads, kvHeads: kvHeads, headDimension: d,
                keyCapacity: keys)
            let mask = AttentionMask(
                causal: true, queryOffset: cached + first, queryCapacity: rows, keyCapacity: keys)
            let out = Tensor(zeros: [rows * heads * d]), lse = Tensor(zeros: [heads * rows])
            Attention.forwardRowExact(
                out: out.pointer, lse: lse.pointer, q: q.pointer + first * heads * d, k: k.pointer, v: v.pointer,
                shape: shape, mask: mask)
            return out.values.map(\.bitPattern)
        }
        let all = attend(rows: 5, first: 0)
        for row in 0..<5 {
            #expect(attend(rows: 1, first: row) == Array(all[(row * heads * d)..<((row + 1) * heads * d)]))
        }
    }

    /// A tree verification's row sees the cached prefix and its ancestors, which sit apart in
    /// the cache; the decode step of the same path sees them contiguous. Both give the same
    /// bits (the weights' total and the weighted values run over the visible keys in order).
    @Test func visibleKeysGiveTheSameBitsWhereverTheySit() {
        let (heads, kvHeads, d, cached) = (4, 2, 32, 37)
        let nodes = 9  // tree nodes after the prefix; the path is nodes 0, 3, 7 (and the query)
        let path = [0, 3, 7]
        let keys = cached + nodes
        let k = randomTensor([keys * kvHeads * d], seed: 12), v = randomTensor([keys * kvHeads * d], seed: 13)
        let q = randomTensor([heads * d], seed: 11)
        // Tree: one query row (node 8, whose ancestors are the path) with a dense mask.
        let shape = Attention.Shape(
            batch: 1, queries: 1, keys: keys, heads: heads, kvHeads: kvHeads, headDimension: d, keyCapacity: keys)
        let mask = AttentionMask(causal: false, queryCapacity: 1, keyCapacity: keys, dense: true)
        for m in 0..<keys { mask.allowed![m] = m < cached || path.contains(m - cached) || m == keys - 1 ? 1 : 0 }
        mask.updateBlocks()
        let tree = Tensor(zeros: [heads * d]), treeLSE = Tensor(zeros: [heads])
        Attention.forwardRowExact(
            out: tree.pointer, lse: treeLSE.pointer, q: q.pointer, k: k.pointer, v: v.pointer, shape: shape, mask: mask)
        // Decode: the same keys moved together (prefix, path, the node itself), causal.
        let width = kvHeads * d
        let visible = Array(0..<cached) + path.map { cached + $0 } + [keys - 1]
        let kc = Tensor(zeros: [visible.count * width]), vc = Tensor(zeros: [visible.count * width])
        for (i, m) in visible.enumerated() {
            (kc.pointer + i * width).update(from: k.pointer + m * width, count: width)
            (vc.pointer + i * width).update(from: v.pointer + m * width, count: width)
        }
        let chainShape = Attention.Shape(
            batch: 1, queries: 1, keys: visible.count, heads: heads, kvHeads: kvHeads, headDimension: d,
            keyCapacity: visible.count)
        let causal = AttentionMask(
            causal: true, queryOffset: visible.count - 1, queryCapacity: 1, keyCapacity: visible.count)
        let chain = Tensor(zeros: [heads * d]), chainLSE = Tensor(zeros: [heads])
        Attention.forwardRowExact(
            out: chain.pointer, lse: chainLSE.pointer, q: q.pointer, k: kc.pointer, v: vc.pointer, shape: chainShape,
            mask: causal)
        #expect(tree.values.map(\.bitPattern) == chain.values.map(\.bitPattern))
        #expect(treeLSE.values.map(\.bitPattern) == chainLSE.values.map(\.bitPattern))
    }
}
