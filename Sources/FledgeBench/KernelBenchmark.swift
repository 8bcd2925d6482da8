import CFledgeKernels
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

    /// Median GFLOP/s of the 2048³ product in `precision` (sgemm, or bf16 through oneDNN).
    public static func peak(_ precision: Precision, runs: Int = 3) -> Double {
        let n = 2048
        var generator = SeededGenerator(seed: 1)
        let source = Tensor(zeros: [n * n]), c = Tensor(zeros: [n * n])
        generator.fillUniform(source, low: -1, high: 1)
        let half = BFloat16Buffer(capacity: n * n)
        if precision == .bf16 { BFloat16.round(source.pointer, into: half.pointer, count: n * n) }
        let seconds = Timing.median(runs: runs) {
            if precision == .bf16 {
                BFloat16.gemm(
                    .none, .none, m: n, n: n, k: n, a: half.pointer, lda: n, b: half.pointer, ldb: n, c: c.pointer,
                    ldc: n)
            } else {
                BLAS.gemm(
                    .none, .none, m: n, n: n, k: n, a: source.pointer, lda: n, b: source.pointer, ldb: n, c: c.pointer,
                    ldc: n)
            }
        }
        return 2 * Double(n * n * n) / seconds / 1e9
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
            rows.append(product(name, ta, tb, m: m, n: n, k: k, seconds: seconds))
        }
        gemmRow("sgemm peak", .none, .none, m: 2048, n: 2048, k: 2048)
        gemmRow("linear fwd 576→1536", .none, .transposed, m: t, n: 1536, k: 576)
        gemmRow("linear bwd dx 1536→576", .none, .none, m: t, n: 576, k: 1536)
        gemmRow("linear bwd dW 1536×576", .transposed, .none, m: 1536, n: 576, k: t)
        gemmRow("head fwd 576→32000", .none, .transposed, m: t, n: 32_000, k: 576)
        rows.append(contentsOf: attentionRows(runs: runs, t: t, generator: &generator))
        rows.append(contentsOf: quantizedRows(runs: runs, generator: &generator))
        if BFloat16.support.available {
            // The same products with bf16 operands (rounded once, as a training step keeps its
            // weights' bf16 copy) and fp32 accumulation, through oneDNN.
            func bf16Row(_ name: String, _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int) {
                let a = BFloat16Buffer(capacity: m * k), b = BFloat16Buffer(capacity: k * n)
                let source = Tensor(zeros: [max(m * k, k * n)])
                generator.fillUniform(source, low: -1, high: 1)
                BFloat16.round(source.pointer, into: a.pointer, count: m * k)
                BFloat16.round(source.pointer, into: b.pointer, count: k * n)
                let c = Tensor(zeros: [m * n])
                let seconds = Timing.median(runs: runs) {
                    BFloat16.gemm(
                        ta, tb, m: m, n: n, k: k, a: a.pointer, lda: ta == .none ? k : m, b: b.pointer,
                        ldb: tb == .none ? n : k, c: c.pointer, ldc: n)
                }
                rows.append(product(name, ta, tb, m: m, n: n, k: k, seconds: seconds))
            }
            bf16Row("bf16 gemm peak", .none, .none, m: 2048, n: 2048, k: 2048)
            bf16Row("bf16 linear fwd 576→1536", .none, .transposed, m: t, n: 1536, k: 576)
            bf16Row("bf16 head fwd 576→32000", .none, .transposed, m: t, n: 32_000, k: 576)
            bf16Row("bf16 head bwd dx 32000→576", .none, .none, m: t, n: 576, k: 32_000)
            bf16Row("bf16 head bwd dW 32000×576", .transposed, .none, m: 32_000, n: 576, k: t)
        }
        return rows
    }

    /// Decoding-sized products on a random Q4_1 matrix [1536, 576] (an MLP's gate): the
    /// dequantising kernel (``QuantizedMatmul``) against integer products (``IntegerMatmul``), 1 and 8 rows.
    private static func quantizedRows(runs: Int, generator: inout SeededGenerator) -> [Row] {
        let (outputs, columns) = (1536, 576)
        var bytes = [UInt8](repeating: 0, count: outputs * columns / 32 * 20)
        for block in 0..<(outputs * columns / 32) {
            let base = block * 20
            let d = HalfPrecision.f16Bits(0.01), m = HalfPrecision.f16Bits(-0.08)
            (bytes[base], bytes[base + 1], bytes[base + 2], bytes[base + 3]) =
                (UInt8(d & 0xFF), UInt8(d >> 8), UInt8(m & 0xFF), UInt8(m >> 8))
            for j in 4..<20 { bytes[base + j] = UInt8(truncatingIfNeeded: generator.next()) }
        }
        let matrix = bytes.withUnsafeBytes {
            QuantizedMatrix(format: .q4_1, blocks: $0.baseAddress!, rows: outputs, columns: columns)
        }
        let activations = IntegerMatmul.Activations()
        var result: [Row] = []
        let best = Int(fledge_quant_force(-1))
        defer { _ = fledge_quant_force(-1) }
        for n in [1, 8, 16] {
            let x = Tensor(zeros: [n * columns]), out = Tensor(zeros: [n * outputs])
            generator.fillNormal(x)
            let repeats = 50
            let gflop = 2 * Double(n * outputs * columns) / 1e9
            let shape = "\(n)×576·(1536×576 Q4_1)ᵀ"
            let dequantising = Timing.median(runs: runs) {
                for _ in 0..<repeats {
                    QuantizedMatmul.forward(out.pointer, x.pointer, matrix: matrix, rows: n, accumulate: false)
                }
            }
            result.append(
                Row(
                    name: "Q4_1 dequantising, \(n) row", shape: shape, gflop: gflop,
                    seconds: dequantising / Double(repeats)))
            // The best integer variant, and AVX2 for comparison on AVX-512 machines.
            for variant in Set([best, min(best, 1)]).sorted(by: >) {
                _ = fledge_quant_force(Int32(variant))
                let integer = Timing.median(runs: runs) {
                    for _ in 0..<repeats {
                        IntegerMatmul.forward(
                            out.pointer, x.pointer, matrix: matrix, rows: n, accumulate: false,
                            activations: activations)
                    }
                }
                result.append(
                    Row(
                        name: "Q4_1 integer (\(IntegerMatmul.isa)), \(n) row", shape: shape, gflop: gflop,
                        seconds: integer / Double(repeats)))
            }
        }
        return result
    }

    /// The row of an [m, k]·[k, n] product timed at `seconds`.
    private static func product(
        _ name: String, _ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, seconds: Double
    ) -> Row {
        let label = "\(m)×\(k)·\(ta == .none ? "" : "ᵀ")\(k)×\(n)\(tb == .none ? "" : " (Bᵀ)")"
        return Row(name: name, shape: label, gflop: 2 * Double(m) * Double(n) * Double(k) / 1e9, seconds: seconds)
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
