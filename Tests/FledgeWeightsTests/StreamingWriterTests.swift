import Foundation
import Testing

@testable import FledgeWeights
import FledgeTensor

/// The safetensors writer encodes tensors in 8 MB pieces: tensors larger than a piece, of any
/// rank and float dtype, and row-filled items read back with the values they had.
@Suite struct StreamingWriterTests {
    @Test func tensorsLargerThanAPieceRoundTrip() throws {
        let count = 3_000_003  // 12 MB of Float32: two pieces and a remainder
        let flat = Tensor(zeros: [count])
        for i in 0..<count { flat[i] = Float(i % 9_973) * 0.25 - 1_000 }
        let matrix = Tensor(zeros: [1_500, 2_001])
        for i in 0..<matrix.count { matrix[i] = Float(i % 7_919) * -0.125 }
        let rows = 4_099, width = 1_030
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-stream-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafetensorsWriter().write(
            [
                .init(name: "flat", tensor: flat),
                .init(name: "flat16", tensor: flat, as: .bf16),
                .init(name: "matrix", tensor: matrix, as: .f16),
                .init(name: "filled", shape: [rows, width], rows: rows, width: width, as: .bf16) { row, out in
                    for c in 0..<width { out[c] = Float(row) + Float(c) / 1_024 }
                },
                .init(name: "ids", int64: [1, 2, 3]),
            ], to: url)
        let file = try SafetensorsFile(url: url)
        #expect(try file.tensor("flat").values == flat.values)
        let rounded16 = try file.tensor("flat16")
        for i in stride(from: 0, to: count, by: 997) {
            #expect(rounded16[i] == HalfPrecision.float(bf16: HalfPrecision.bf16Bits(flat[i])))
        }
        #expect(try file.tensor("matrix").shape.dims == [1_500, 2_001])
        #expect(try file.tensor("matrix")[matrix.count - 1] == matrix[matrix.count - 1])
        let filled = try file.tensor("filled")
        #expect(filled.shape.dims == [rows, width])
        #expect(
            filled[(rows - 1) * width + 3]
                == HalfPrecision.float(bf16: HalfPrecision.bf16Bits(Float(rows - 1) + 3 / 1_024)))
        #expect(try file.integers("ids") == [1, 2, 3])
    }
}
