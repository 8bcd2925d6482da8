import FledgeNN
import FledgeTensor
import FledgeTestSupport
import FledgeWeights
import Testing

/// Q4_0 and Q4_K blocks rewritten as Q4_1 blocks, Q6_K as Q8_16, keep every value (the GGUF
/// loader's dequantisation is the reference), and the integer products read them.
struct QuantizedSourcesTests {
    /// Random blocks of `type` with sane half-precision scales (the rest random bytes).
    static func blocks(_ type: GGMLType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        let (values, bytes) = type.block
        var data = [UInt8](repeating: 0, count: rows * columns / values * bytes)
        for i in data.indices { data[i] = UInt8(truncatingIfNeeded: generator.next()) }
        for block in 0..<(rows * columns / values) {
            let base = block * bytes
            func half(_ value: Float, at offset: Int) {
                let bits = HalfPrecision.f16Bits(value)
                (data[base + offset], data[base + offset + 1]) = (UInt8(bits & 0xFF), UInt8(bits >> 8))
            }
            // Q6_K keeps its d at the end of the block.
            half(Float(generator.next() % 1000) / 1000 * 0.02 + 0.001, at: type == .q6_K ? 208 : 0)
            if type == .q4_K { half(Float(generator.next() % 1000) / 1000 * 0.01, at: 2) }
        }
        return data
    }

    @Test(arguments: [(GGMLType.q4_0, QuantizedMatrix.Source.q4_0), (.q4_K, .q4_K), (.q6_K, .q6_K)])
    func conversionKeepsEveryValue(_ type: GGMLType, _ source: QuantizedMatrix.Source) {
        let (rows, columns) = (6, 512)
        let data = Self.blocks(type, rows: rows, columns: columns, seed: 5)
        let expected = Tensor(zeros: [rows * columns])
        data.withUnsafeBytes {
            GGMLQuantization.dequantize($0.baseAddress!, type: type, count: rows * columns, into: expected.pointer)
        }
        let matrix = data.withUnsafeBytes {
            QuantizedMatrix(source: source, blocks: $0.baseAddress!, rows: rows, columns: columns)
        }
        #expect(matrix.format == (type == .q6_K ? .q8_16 : .q4_1))
        #expect(matrix.dequantized().values.map(\.bitPattern) == expected.values.map(\.bitPattern))
        // A reordered copy takes the rows in the order given.
        let order = [5, 0, 3, 1, 4, 2]
        let reordered = data.withUnsafeBytes {
            QuantizedMatrix(source: source, blocks: $0.baseAddress!, rows: rows, columns: columns, sourceRows: order)
        }
        let values = reordered.dequantized().values
        for (row, from) in order.enumerated() {
            #expect(
                values[(row * columns)..<((row + 1) * columns)]
                    == expected.values[(from * columns)..<((from + 1) * columns)])
        }
        // Integer products on the converted blocks: within 1 % of the Float32 product.
        let x = randomTensor([columns], seed: 2)
        let out = Tensor(zeros: [rows])
        IntegerMatmul.forward(out.pointer, x.pointer, matrix: matrix, rows: 1, accumulate: false)
        for row in 0..<rows {
            var exact: Float = 0
            for j in 0..<columns { exact += x.values[j] * expected.values[row * columns + j] }
            let scale = (0..<columns).map { abs(x.values[$0] * expected.values[row * columns + $0]) }.reduce(0, +)
            #expect(abs(out.values[row] - exact) <= 0.01 * scale)
        }
    }
}
