import CFledgeKernels
import FledgeTensor

/// `out (= or +=) inp · Wᵀ` for a ``QuantizedMatrix`` with integer arithmetic, as llama.cpp
/// does it: every activation row is rounded to 8-bit blocks of 32 (d = max|x|/127, ggml's
/// Q8_0/Q8_1), and each weight block's product with it is an exact integer sum (AVX-512 VNNI,
/// AVX2 or portable C, chosen by cpuid; every variant gives the same bits). A row's result
/// depends only on that row, so M rows at once equal M one-row calls bit for bit.
///
/// The first step of integer decoding: not yet wired into the model's forward.
public enum IntegerMatmul {
    /// Activation rows rounded to 8-bit blocks; grows to the largest call and is reused.
    public final class Activations: @unchecked Sendable {
        private(set) var capacity = 0
        private(set) var quants: UnsafeMutablePointer<Int8> = .allocate(capacity: 1)
        private(set) var scales: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
        private(set) var sums: UnsafeMutablePointer<Float> = .allocate(capacity: 1)

        public init() {}

        deinit {
            quants.deallocate()
            scales.deallocate()
            sums.deallocate()
        }

        /// Rounds `rows` rows of `columns` floats (a multiple of 32).
        func quantize(_ inp: UnsafePointer<Float>, rows: Int, columns: Int) {
            let blocks = rows * columns / 32
            if blocks > capacity {
                quants.deallocate()
                scales.deallocate()
                sums.deallocate()
                quants = .allocate(capacity: blocks * 32)
                scales = .allocate(capacity: blocks)
                sums = .allocate(capacity: blocks)
                capacity = blocks
            }
            fledge_quantize_q8(inp, blocks, quants, scales, sums)
        }
    }

    /// The instruction set of the integer dot products ("avx512vnni", "avx2", "portable").
    public static var isa: String { String(cString: fledge_quant_isa()) }

    /// With `activations` nil the rounded rows live on the stack for the call (at most
    /// `rows` × `columns` bytes: decoding and verification sizes).
    public static func forward(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, matrix w: QuantizedMatrix, rows n: Int,
        accumulate: Bool, activations a: Activations? = nil
    ) {
        if n == 0 || w.rows == 0 { return }
        let (i, blocks) = (w.columns, n * w.blocksPerRow)
        if let a {
            a.quantize(inp, rows: n, columns: i)
            multiply(out, w, rows: n, quants: a.quants, scales: a.scales, sums: a.sums, accumulate: accumulate)
            return
        }
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: blocks * 32) { quants in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * blocks) { floats in
                let (q, d) = (quants.baseAddress!, floats.baseAddress!)
                fledge_quantize_q8(inp, blocks, q, d, d + blocks)
                multiply(out, w, rows: n, quants: q, scales: d, sums: d + blocks, accumulate: accumulate)
            }
        }
    }

    private static func multiply(
        _ out: UnsafeMutablePointer<Float>, _ w: QuantizedMatrix, rows n: Int, quants aq: UnsafePointer<Int8>,
        scales ad: UnsafePointer<Float>, sums asum: UnsafePointer<Float>, accumulate: Bool
    ) {
        let (i, o, blocks) = (w.columns, w.rows, w.blocksPerRow)
        let quants = w.quants, scales = w.scales, minimums = w.minimums
        let q4 = w.format == .q4_1
        Parallel.forChunks(count: o, grain: max(1, 8_192 / max(i, 1))) { columns in
            for column in columns {
                let target = out + column
                if q4 {
                    fledge_dot_q4_1_rows(
                        (quants + column * blocks * 16).assumingMemoryBound(to: UInt8.self), scales + column * blocks,
                        minimums + column * blocks, aq, ad, asum, blocks, n, target, o, accumulate ? 1 : 0)
                } else {
                    fledge_dot_q8_0_rows(
                        (quants + column * blocks * 32).assumingMemoryBound(to: Int8.self), scales + column * blocks,
                        aq, ad, blocks, n, target, o, accumulate ? 1 : 0)
                }
            }
        }
    }
}
