import Foundation
import FledgeNN
import FledgeTensor

/// Measures the kernels at the shapes of a 576-hidden model (SmolLM2-135M), for `fledge bench kernels`.
public enum KernelBenchmark {
    /// One measured kernel.
    public struct Row: Sendable, Codable {
        public var name: String
        public var shape: String
        public var gflop: Double
        public var seconds: Double
        public var gflops: Double { gflop / seconds }
    }

    /// Runs every benchmark `runs` times after one warm-up and reports the median time.
    public static func run(runs: Int, sequenceLength t: Int = 2048) -> [Row] {
        var rows: [Row] = []
        var generator = SeededGenerator(seed: 1)
        func gemmRow(_ name: String, _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int) {
            let a = Tensor(zeros: [m * k])
            let b = Tensor(zeros: [k * n])
            let c = Tensor(zeros: [m * n])
            generator.fillUniform(a, low: -1, high: 1)
            generator.fillUniform(b, low: -1, high: 1)
            let seconds = Timing.median(runs: runs) {
                Matmul.forward(c.pointer, a.pointer, b.pointer, m: m, n: n, k: k, transA: ta, transB: tb)
            }
            let label = "\(m)×\(k)·\(ta == .none ? "" : "ᵀ")\(k)×\(n)\(tb == .none ? "" : " (Bᵀ)")"
            rows.append(
                Row(name: name, shape: label, gflop: 2 * Double(m) * Double(n) * Double(k) / 1e9, seconds: seconds))
        }
        gemmRow("sgemm peak", .none, .none, m: 2048, n: 2048, k: 2048)
        gemmRow("linear fwd 576→1536", .none, .transposed, m: t, n: 1536, k: 576)
        gemmRow("linear bwd dx 1536→576", .none, .none, m: t, n: 576, k: 1536)
        gemmRow("linear bwd dW 1536×576", .transposed, .none, m: 1536, n: 576, k: t)
        gemmRow("head fwd 576→32000", .none, .transposed, m: t, n: 32_000, k: 576)
        rows.append(contentsOf: attentionRows(runs: runs, t: t, generator: &generator))
        return rows
    }

    private static func attentionRows(runs: Int, t: Int, generator: inout SeededGenerator) -> [Row] {
        let shape = Attention.Shape(batch: 1, queries: t, keys: t, heads: 9, kvHeads: 3, headDimension: 64)
        let q = Tensor(zeros: [t * 9 * 64])
        let k = Tensor(zeros: [t * 3 * 64])
        let v = Tensor(zeros: [t * 3 * 64])
        let out = Tensor(zeros: [t * 9 * 64])
        let dout = Tensor(zeros: [t * 9 * 64])
        let lse = Tensor(zeros: [9 * t])
        let dq = Tensor(zeros: [t * 9 * 64])
        let dk = Tensor(zeros: [t * 3 * 64])
        let dv = Tensor(zeros: [t * 3 * 64])
        for tensor in [q, k, v, dout] { generator.fillNormal(tensor) }
        let mask = AttentionMask(causal: true, queryCapacity: t, keyCapacity: t)
        let workspace = AttentionWorkspace(
            batch: 1, queries: t, keys: t, heads: 9, headDimension: 64, groupedQuery: true)
        // Useful FLOPs over the causal half: QKᵀ and PV in the forward (2 products), and
        // QKᵀ, dV, dP, dQ, dK in the backward (5 products).
        let product = 2 * Double(9 * 64) * Double(t) * Double(t + 1) / 2 / 1e9
        let forwardSeconds = Timing.median(runs: runs) {
            Attention.forward(
                out: out.pointer, lse: lse.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                shape: shape, mask: mask, workspace: workspace)
        }
        let bothSeconds = Timing.median(runs: runs) {
            Attention.forward(
                out: out.pointer, lse: lse.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                shape: shape, mask: mask, workspace: workspace)
            Attention.backward(
                dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer, out: out.pointer,
                lse: lse.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                shape: shape, mask: mask, workspace: workspace)
        }
        let label = "B 1, T \(t), 9 heads, 3 kv, D 64, causal"
        return [
            Row(name: "attention fwd", shape: label, gflop: 2 * product, seconds: forwardSeconds),
            Row(name: "attention fwd+bwd", shape: label, gflop: 7 * product, seconds: bothSeconds),
        ]
    }
}
