import CFledgeKernels
import Testing
@testable import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// Integer products (8-bit activation blocks × Q4_1 / Q8_0 / Q8_16 weight blocks): the same bits in
/// every instruction-set variant and for any number of rows, and the float product within the
/// error of 8-bit activations.
@Suite(.serialized) struct IntegerMatmulTests {
    static func matrix(_ format: QuantizedMatrix.Format, outputs: Int, columns: Int) -> QuantizedMatrix {
        if format == .q8_16 {
            // Random Q6_K super-blocks (d, a half, in the last two bytes).
            var generator = SeededGenerator(seed: 31)
            var bytes = (0..<(outputs * columns / 256 * 210)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            for block in 0..<(outputs * columns / 256) {
                let d = HalfPrecision.f16Bits(Float(generator.next() % 1000) / 1000 * 0.002 + 0.0001)
                (bytes[block * 210 + 208], bytes[block * 210 + 209]) = (UInt8(d & 0xFF), UInt8(d >> 8))
            }
            return bytes.withUnsafeBytes {
                QuantizedMatrix(source: .q6_K, blocks: $0.baseAddress!, rows: outputs, columns: columns)
            }
        }
        let bytes = QuantizedMatmulTests.blocks(format, rows: outputs, columns: columns, seed: 31)
        return bytes.withUnsafeBytes {
            QuantizedMatrix(format: format, blocks: $0.baseAddress!, rows: outputs, columns: columns)
        }
    }

    func product(_ w: QuantizedMatrix, _ x: Tensor, rows: Int) -> [Float] {
        let out = Tensor(zeros: [rows * w.rows])
        IntegerMatmul.forward(
            out.pointer, x.pointer, matrix: w, rows: rows, accumulate: false, activations: .init())
        return out.values
    }

    /// Shapes with an odd number of weight rows (a single row after the pairs), odd block counts
    /// (one block after the pairs), more than 16 blocks (the scale groups), 1–16 activation rows.
    static let shapes: [(outputs: Int, columns: Int, rows: Int)] = [
        (37, 256, 5), (6, 32, 1), (37, 608, 9), (64, 1536, 16), (3, 544, 2),
    ]

    @Test(arguments: [QuantizedMatrix.Format.q4_1, .q8_0, .q8_16], 0..<5)
    func everyVariantAndEveryRowCountGivesTheSameBits(_ format: QuantizedMatrix.Format, shape: Int) {
        var (outputs, columns, rows) = Self.shapes[shape]
        if format == .q8_16 { columns = (columns + 255) / 256 * 256 }  // whole Q6_K super-blocks
        let w = Self.matrix(format, outputs: outputs, columns: columns)
        let x = randomTensor([rows * columns], seed: 3)
        let best = fledge_quant_force(-1)
        defer { _ = fledge_quant_force(-1) }
        var results: [[UInt32]] = []
        for variant in 0...best {
            _ = fledge_quant_force(Int32(variant))
            results.append(product(w, x, rows: rows).map(\.bitPattern))
        }
        #expect(results.allSatisfy { $0 == results[0] }, "variants 0…\(best) differ")
        // Each row alone gives its bits within the 5-row call.
        for row in 0..<rows {
            let single = Tensor(Array(x.values[(row * columns)..<((row + 1) * columns)]), shape: [columns])
            #expect(
                product(w, single, rows: 1).map(\.bitPattern)
                    == Array(results[0][(row * outputs)..<((row + 1) * outputs)]))
        }
    }

    /// Against the Float32 product of the dequantised matrix: within 1 % of each output row's
    /// largest magnitude (8-bit activations: half a step of max|x|/127 per value).
    @Test(arguments: [QuantizedMatrix.Format.q4_1, .q8_0, .q8_16])
    func closeToTheFloatProduct(_ format: QuantizedMatrix.Format) {
        let (outputs, columns, rows) = (64, 512, 3)
        let w = Self.matrix(format, outputs: outputs, columns: columns)
        let x = randomTensor([rows * columns], seed: 8)
        let integer = product(w, x, rows: rows)
        let dense = w.dequantized()
        let expected = Tensor(zeros: [rows * outputs])
        BLAS.gemm(
            .none, .transposed, m: rows, n: outputs, k: columns, a: x.pointer, lda: columns, b: dense.pointer,
            ldb: columns, c: expected.pointer, ldc: outputs)
        for row in 0..<rows {
            let line = Array(expected.values[(row * outputs)..<((row + 1) * outputs)])
            let scale = line.map { abs($0) }.max() ?? 1
            for column in 0..<outputs {
                #expect(abs(integer[row * outputs + column] - line[column]) <= 0.01 * scale)
            }
        }
        #expect(["avx512vnni", "avx512bw", "avx2", "portable"].contains(IntegerMatmul.isa))
        // accumulate adds to what is there.
        let sum = Tensor(Array(repeating: 1, count: rows * outputs), shape: [rows * outputs])
        IntegerMatmul.forward(sum.pointer, x.pointer, matrix: w, rows: rows, accumulate: true, activations: .init())
        #expect(sum.values == integer.map { 1 + $0 })
    }
}
