import CFledgeKernels
import FledgeTensor

/// `out (= or +=) inp · Wᵀ` for a ``QuantizedMatrix`` with integer arithmetic, as llama.cpp
/// does it: every activation row is rounded to 8-bit blocks of 32 (d = max|x|/127, ggml's
/// Q8_0/Q8_1), and each weight block's product with it is an exact integer sum (AVX-512 VNNI,
/// AVX2 or portable C, chosen by cpuid; every variant gives the same bits). A row's result
/// depends only on that row, so M rows at once equal M one-row calls bit for bit.
///
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

    /// The instruction set of the integer products ("avx512vnni", "avx512bw", "avx2", "portable").
    public static var isa: String { String(cString: fledge_quant_isa()) }

    /// With `activations` nil the rounded rows live in temporary memory for the call.
    public static func forward(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, matrix w: QuantizedMatrix, rows n: Int,
        accumulate: Bool, activations a: Activations? = nil
    ) {
        if n == 0 || w.rows == 0 { return }
        let product = Product(out: out, matrix: w, accumulate: accumulate)
        guard let a else { return forward(inp, rows: n, product) }
        a.quantize(inp, rows: n, columns: w.columns)
        withUnsafePointer(to: fledge_qactivations(quants: a.quants, scales: a.scales, sums: a.sums)) {
            run($0, rows: n, product, nil, nil)
        }
    }

    /// One product of a fused call: `out[n, matrix.rows] (= or +=) inp · matrixᵀ`.
    public struct Product {
        public var out: UnsafeMutablePointer<Float>
        public var matrix: QuantizedMatrix
        public var accumulate: Bool

        public init(out: UnsafeMutablePointer<Float>, matrix: QuantizedMatrix, accumulate: Bool = false) {
            (self.out, self.matrix, self.accumulate) = (out, matrix, accumulate)
        }
    }

    /// Up to three products of the same input rows (q/k/v, gate/up): the rows are rounded once
    /// and all outputs are computed in one parallel region. The matrices read the same width.
    public static func forward(
        _ inp: UnsafePointer<Float>, rows n: Int, _ first: Product, _ second: Product? = nil,
        _ third: Product? = nil
    ) {
        let i = first.matrix.columns
        precondition(
            second.map { $0.matrix.columns == i } ?? true && third.map { $0.matrix.columns == i } ?? true,
            "fused integer products read different widths")
        if n == 0 { return }
        let blocks = n * (i / QuantizedMatrix.blockSize)
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: blocks * 32) { quants in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * blocks) { floats in
                let (q, d) = (quants.baseAddress!, floats.baseAddress!)
                fledge_quantize_q8(inp, blocks, q, d, d + blocks)
                withUnsafePointer(to: fledge_qactivations(quants: q, scales: d, sums: d + blocks)) {
                    run($0, rows: n, first, second, third)
                }
            }
        }
    }

    /// The products' outputs, split over the workers as one range of concatenated output columns.
    private static func run(
        _ activations: UnsafePointer<fledge_qactivations>, rows n: Int, _ first: Product, _ second: Product?,
        _ third: Product?
    ) {
        withUnsafeTemporaryAllocation(of: fledge_qmatrix.self, capacity: 3) { views in
            let v = views.baseAddress!
            let count = third != nil ? 3 : second != nil ? 2 : 1
            func product(_ j: Int) -> Product { j == 0 ? first : j == 1 ? second! : third! }
            var total = 0
            for j in 0..<count {
                (v + j).initialize(to: product(j).matrix.kernelView)
                total += product(j).matrix.rows
            }
            let i = first.matrix.columns
            // Even chunks where possible: the AVX-512 kernels take weight rows in pairs.
            let grain = max(2, (32_768 / max(i * n, 1)) & ~1)
            Parallel.forChunks(count: total, grain: grain) { range in
                var offset = 0
                for j in 0..<count {
                    let p = product(j)
                    let rows = p.matrix.rows
                    let lower = max(range.lowerBound, offset), upper = min(range.upperBound, offset + rows)
                    if lower < upper {
                        fledge_qmatmul(
                            v + j, lower - offset, upper - offset, activations, n, p.out, rows, p.accumulate ? 1 : 0)
                    }
                    offset += rows
                }
            }
        }
    }
}

extension QuantizedMatrix {
    /// The matrix as the C kernels read it.
    var kernelView: fledge_qmatrix {
        fledge_qmatrix(
            format: Int32(format == .q4_1 ? FLEDGE_Q4_1 : format == .q8_0 ? FLEDGE_Q8_0 : FLEDGE_Q8_16),
            blocks: blocksPerRow,
            quants: UnsafeRawPointer(quants), scales: scales, minimums: minimums)
    }
}
