import Testing
@testable import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// Quantised matrices (ggml Q4_1 / Q8_0 blocks) and their few-rows kernel: the values are the
/// ggml formulas, and the products equal `FewRowsMatmul` on the dequantised matrix bit for bit.
@Suite struct QuantizedMatmulTests {
    /// Random ggml blocks: f16 scales, random nibbles or int8 values.
    static func blocks(_ format: QuantizedMatrix.Format, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        var bytes: [UInt8] = []
        for _ in 0..<(rows * columns / 32) {
            let d = HalfPrecision.f16Bits(Float(generator.next() % 1000) / 1000 * 0.02 + 0.001)
            bytes += [UInt8(d & 0xFF), UInt8(d >> 8)]
            if format == .q4_1 {
                let m = HalfPrecision.f16Bits(-Float(generator.next() % 1000) / 1000 * 0.1)
                bytes += [UInt8(m & 0xFF), UInt8(m >> 8)]
            }
            for _ in 0..<(format == .q4_1 ? 16 : 32) { bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
        }
        return bytes
    }

    /// The ggml formulas, written out in scalar code (ggml-quants.c `dequantize_row_*`).
    static func reference(_ format: QuantizedMatrix.Format, _ bytes: [UInt8], row: Int, columns: Int) -> [Float] {
        var values: [Float] = []
        for block in 0..<(columns / 32) {
            let base = (row * columns / 32 + block) * format.blockBytes
            let d = HalfPrecision.float(f16: UInt16(bytes[base]) | UInt16(bytes[base + 1]) << 8)
            if format == .q4_1 {
                let m = HalfPrecision.float(f16: UInt16(bytes[base + 2]) | UInt16(bytes[base + 3]) << 8)
                let q = bytes[(base + 4)..<(base + 20)]
                values += q.map { Float($0 & 0x0F) * d + m } + q.map { Float($0 >> 4) * d + m }
            } else {
                values += bytes[(base + 2)..<(base + 34)].map { d * Float(Int8(bitPattern: $0)) }
            }
        }
        return values
    }

    @Test(arguments: [QuantizedMatrix.Format.q4_1, .q8_0])
    func valuesAreTheGGMLFormulasInTheGivenRowOrder(_ format: QuantizedMatrix.Format) {
        let (rows, columns) = (6, 96)
        let bytes = Self.blocks(format, rows: rows, columns: columns, seed: 5)
        let order = [3, 0, 5, 1, 4, 2]
        let matrix = bytes.withUnsafeBytes {
            QuantizedMatrix(format: format, blocks: $0.baseAddress!, rows: rows, columns: columns, sourceRows: order)
        }
        let values = matrix.dequantized()
        for row in 0..<rows {
            let expected = Self.reference(format, bytes, row: order[row], columns: columns)
            let got = Array(UnsafeBufferPointer(start: values.pointer + row * columns, count: columns))
            #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "row \(row)")
        }
        #expect(matrix.byteCount == rows * columns / 32 * (format == .q4_1 ? 24 : 36))
    }

    /// Every row count from 1 to 9 (full and partial 4-row blocks), an odd number of output
    /// rows (the single-row tail), both formats, with and without accumulation.
    @Test(arguments: [QuantizedMatrix.Format.q4_1, .q8_0])
    func productsEqualFewRowsMatmulOnTheDequantisedMatrixBitForBit(_ format: QuantizedMatrix.Format) {
        let (outputs, columns) = (37, 160)
        let bytes = Self.blocks(format, rows: outputs, columns: columns, seed: 9)
        let matrix = bytes.withUnsafeBytes {
            QuantizedMatrix(format: format, blocks: $0.baseAddress!, rows: outputs, columns: columns)
        }
        let dense = matrix.dequantized()
        for n in 1...9 {
            let x = randomTensor([n * columns], seed: UInt64(20 + n)), start = randomTensor([n * outputs], seed: 40)
            for accumulate in [false, true] {
                let expected = Tensor(zeros: [n * outputs]), got = Tensor(zeros: [n * outputs])
                expected.pointer.update(from: start.pointer, count: n * outputs)
                got.pointer.update(from: start.pointer, count: n * outputs)
                FewRowsMatmul.forward(
                    expected.pointer, x.pointer, weight: dense.pointer, rows: n, inFeatures: columns,
                    outFeatures: outputs, accumulate: accumulate)
                QuantizedMatmul.forward(got.pointer, x.pointer, matrix: matrix, rows: n, accumulate: accumulate)
                #expect(
                    got.values.map(\.bitPattern) == expected.values.map(\.bitPattern),
                    "\(format) N \(n) accumulate \(accumulate)")
            }
        }
    }
}
