import Foundation
import Testing
@testable import FledgeTensor

/// The bf16 conversions (C kernels chosen by cpuid) and oneDNN's bf16 products.
@Suite struct BFloat16Tests {
    /// Random normals over many magnitudes, ties, infinities, NaN and signed zeros.
    func samples() -> [Float] {
        var generator = SeededGenerator(seed: 3)
        var values: [Float] = [0, -0, .infinity, -.infinity, 1, -1, .greatestFiniteMagnitude, .leastNormalMagnitude]
        // Exact ties between two bf16 values (round to even both ways) and just off them.
        for bits: UInt32 in [0x3F80_8000, 0x3F81_8000, 0xBF80_8000, 0x3F80_8001, 0x3F80_7FFF] {
            values.append(Float(bitPattern: bits))
        }
        for _ in 0..<10_000 {
            let exponent = Float(Int(generator.next() % 60) - 30)
            let mantissa = Float(generator.next() % 1_000_000) / 1_000_000 + 0.5
            values.append((generator.next() % 2 == 0 ? 1 : -1) * mantissa * Float(pow(2, Double(exponent))))
        }
        return values
    }

    /// The cpuid-chosen kernel rounds exactly as the scalar definition (nearest even) on every
    /// normal value, infinities and zeros; NaN stays NaN.
    @Test func roundingMatchesTheScalarDefinition() {
        var values = samples()
        values.append(.nan)
        var kernel = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in
            kernel.withUnsafeMutableBufferPointer {
                BFloat16.round(source.baseAddress!, into: $0.baseAddress!, count: values.count)
            }
        }
        for (index, value) in values.enumerated() {
            if value.isNaN {
                #expect(HalfPrecision.float(bf16: kernel[index]).isNaN)
            } else {
                #expect(kernel[index] == HalfPrecision.bf16Bits(value), "\(value) on \(BFloat16.conversionISA)")
            }
        }
    }

    /// Widening is exact: bf16 → fp32 → bf16 gives the same bits.
    @Test func wideningIsExact() {
        let bits = (0..<UInt16.max).filter { ($0 & 0x7F80) != 0x7F80 }  // every finite bf16
        var floats = [Float](repeating: 0, count: bits.count)
        bits.withUnsafeBufferPointer { source in
            floats.withUnsafeMutableBufferPointer {
                BFloat16.widen(source.baseAddress!, into: $0.baseAddress!, count: bits.count)
            }
        }
        for (index, value) in floats.enumerated() {
            #expect(value == HalfPrecision.float(bf16: bits[index]))
        }
    }

    /// oneDNN's product of bf16 operands equals sgemm on the same (rounded) operands up to the
    /// order of fp32 accumulation, for every transpose, strided operands and beta 0 and 1.
    @Test(.enabled(if: BFloat16.support.available, "bf16 products unavailable"))
    func productsEqualSgemmOnRoundedOperands() {
        var generator = SeededGenerator(seed: 11)
        let (m, n, k) = (37, 50, 70)
        let pad = 3
        for transA in [Transpose.none, .transposed] {
            for transB in [Transpose.none, .transposed] {
                for beta: Float in [0, 1] {
                    let lda = (transA == .none ? k : m) + pad, ldb = (transB == .none ? n : k) + pad, ldc = n + pad
                    let aRows = transA == .none ? m : k, bRows = transB == .none ? k : n
                    let a = Tensor(zeros: [aRows * lda]), b = Tensor(zeros: [bRows * ldb])
                    generator.fillNormal(a)
                    generator.fillNormal(b)
                    let aHalf = BFloat16Buffer(capacity: a.count), bHalf = BFloat16Buffer(capacity: b.count)
                    BFloat16.round(a.pointer, into: aHalf.pointer, count: a.count)
                    BFloat16.round(b.pointer, into: bHalf.pointer, count: b.count)
                    BFloat16.widen(aHalf.pointer, into: a.pointer, count: a.count)
                    BFloat16.widen(bHalf.pointer, into: b.pointer, count: b.count)
                    let expected = Tensor(zeros: [m * ldc]), actual = Tensor(zeros: [m * ldc])
                    generator.fillNormal(expected)
                    actual.copy(from: expected)
                    BLAS.gemm(
                        transA, transB, m: m, n: n, k: k, a: a.pointer, lda: lda, b: b.pointer, ldb: ldb, beta: beta,
                        c: expected.pointer, ldc: ldc)
                    BFloat16.gemm(
                        transA, transB, m: m, n: n, k: k, a: aHalf.pointer, lda: lda, b: bHalf.pointer, ldb: ldb,
                        beta: beta, c: actual.pointer, ldc: ldc)
                    var worst: Float = 0
                    for row in 0..<m {
                        for column in 0..<n {
                            let (x, y) = (actual.pointer[row * ldc + column], expected.pointer[row * ldc + column])
                            worst = max(worst, abs(x - y) / max(1, abs(y)))
                        }
                        // The padding columns of C are not touched.
                        for column in n..<ldc {
                            #expect(actual.pointer[row * ldc + column] == expected.pointer[row * ldc + column])
                        }
                    }
                    #expect(worst < 1e-5, "\(transA) \(transB) beta \(beta): \(worst)")
                }
            }
        }
    }
}
