import Foundation
import Testing
@testable import FledgeTensor

@Suite struct TensorCoreTests {
    @Test func shapeCountsAndStrides() {
        let shape: Shape = [2, 3, 4]
        #expect(shape.count == 24)
        #expect(shape.strides == [12, 4, 1])
        #expect(shape[-1] == 4)
        #expect(Shape([]).count == 1)
        #expect(shape.description == "[2, 3, 4]")
    }

    @Test func viewsShareStorage() {
        let tensor = Tensor((0..<12).map(Float.init), shape: [3, 4])
        let rows = tensor.rows(1, 2)
        #expect(rows.shape == [2, 4])
        #expect(rows[0] == 4)
        rows[0] = -1
        #expect(tensor[4] == -1)
        let flat = tensor.reshaped([12])
        #expect(flat[11] == 11)
    }

    @Test func arenaViewsAreDisjointAlignedAndNamed() {
        var plan = ArenaPlan()
        plan.add("a", [3, 5])
        plan.add("b", [7])
        plan.add("c", [1])
        let arena = Arena(plan)
        #expect(arena["a"].shape == [3, 5])
        let addresses = ["a", "b", "c"].map { Int(bitPattern: arena[$0].pointer) }
        #expect(addresses.allSatisfy { $0 % Memory.alignment == 0 })
        #expect(addresses[1] - addresses[0] >= 15 * 4)
        #expect(addresses[2] - addresses[1] >= 7 * 4)
        arena["b"].buffer.update(repeating: 2)
        #expect(arena["a"].values.allSatisfy { $0 == 0 })
        #expect(arena["c"][0] == 0)
        #expect(arena.byteCount == plan.floatCount * 4)
    }

    @Test func seededGeneratorIsReproducibleAndResumable() {
        var a = SeededGenerator(seed: 42)
        var b = SeededGenerator(seed: 42)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        let saved = a
        let next = a.nextUniform()
        var restored = saved
        #expect(restored.nextUniform() == next)
        var c = SeededGenerator(seed: 43)
        #expect(c.next() != first[0])
        // Normal samples have roughly unit variance.
        var d = SeededGenerator(seed: 1)
        let samples = (0..<20_000).map { _ in Double(d.nextNormal()) }
        let mean = samples.reduce(0, +) / Double(samples.count)
        let variance = samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(samples.count)
        #expect(abs(mean) < 0.03)
        #expect(abs(variance - 1) < 0.05)
    }

    @Test func everyHalfPrecisionValueRoundTrips() {
        for bits in 0...UInt16.max {
            let fromBF16 = HalfPrecision.float(bf16: bits)
            if fromBF16.isNaN {
                #expect(HalfPrecision.float(bf16: HalfPrecision.bf16Bits(fromBF16)).isNaN)
            } else {
                #expect(HalfPrecision.bf16Bits(fromBF16) == bits)
            }
            let fromF16 = HalfPrecision.float(f16: bits)
            if !fromF16.isNaN { #expect(HalfPrecision.f16Bits(fromF16) == bits) }
        }
    }

    @Test func bf16RoundsToNearestEven() {
        // 1 + 2^-8 is halfway between bf16 1.0 and 1 + 2^-7: ties go to the even mantissa (1.0).
        #expect(HalfPrecision.bf16Bits(1 + 0x1p-8) == HalfPrecision.bf16Bits(1))
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
        #expect(HalfPrecision.float(bf16: HalfPrecision.bf16Bits(1 + 3 * 0x1p-8)) == 1 + 0x1p-6)
        #expect(HalfPrecision.float(bf16: HalfPrecision.bf16Bits(1 + 0x1p-8 + 0x1p-20)) == 1 + 0x1p-7)
        #expect(HalfPrecision.float(bf16: HalfPrecision.bf16Bits(.greatestFiniteMagnitude)) == .infinity)
        #expect(HalfPrecision.float(f16: HalfPrecision.f16Bits(70_000)) == .infinity)
    }

    @Test func bufferConversions() {
        let values: [Float] = [0.1, -2.5, 1e-3, 300]
        var bits = [UInt16](repeating: 0, count: 4)
        var back = [Float](repeating: 0, count: 4)
        HalfPrecision.toBF16(values, &bits, count: 4)
        HalfPrecision.fromBF16(bits, &back, count: 4)
        for (a, b) in zip(values, back) { #expect(abs(a - b) <= abs(a) * 0x1p-8) }
        HalfPrecision.toF16(values, &bits, count: 4)
        HalfPrecision.fromF16(bits, &back, count: 4)
        for (a, b) in zip(values, back) { #expect(abs(a - b) <= abs(a) * 0x1p-11) }
    }

    @Test func vectorExpMatchesLibm() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let lanes = VectorMath.exp(VectorMath.V((0..<16).map { x + Float($0) * 0.0037 }))
            for lane in 0..<16 {
                let input = x + Float(lane) * 0.0037
                let expected = Foundation.exp(Double(input))
                worst = max(worst, Float(abs(Double(lanes[lane]) - expected) / expected))
            }
            x += 0.731
        }
        #expect(worst < 3e-7, "relative error \(worst)")
        let edge = VectorMath.exp(VectorMath.V(repeating: -.infinity))
        #expect(edge == VectorMath.V(repeating: 0))
        #expect(VectorMath.exp(0) == 1)
    }

    @Test func elementwiseKernelsHandleTails() {
        let n = 37
        let a = (0..<n).map { Float($0) }
        let b = (0..<n).map { Float(2 * $0 + 1) }
        var out = [Float](repeating: 0, count: n)
        Elementwise.add(a, b, &out, count: n)
        #expect(out == zip(a, b).map(+))
        Elementwise.mul(a, b, &out, count: n)
        #expect(out == zip(a, b).map(*))
        Elementwise.scale(a, by: 3, &out, count: n)
        #expect(out == a.map { $0 * 3 })
        #expect(Elementwise.dot(a, b, count: n) == zip(a, b).map(*).reduce(0, +))
    }

    @Test func parallelCoversEveryUnitOnce() {
        var hits = [Int](repeating: 0, count: 1000)
        hits.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forEach(units: 1000) { unit, worker in
                precondition(worker < Parallel.workerCount)
                base[unit] += 1
            }
        }
        #expect(hits.allSatisfy { $0 == 1 })
        var chunks = [Int](repeating: 0, count: 5000)
        chunks.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forChunks(count: 5000, grain: 100) { range in
                for i in range { base[i] += 1 }
            }
        }
        #expect(chunks.allSatisfy { $0 == 1 })
    }

    @Test func gemmHandlesEmptyInnerDimension() {
        var c: [Float] = [1, 2, 3, 4]
        let a: [Float] = [0]
        BLAS.gemm(.none, .none, m: 2, n: 2, k: 0, a: a, lda: 1, b: a, ldb: 2, beta: 0, c: &c, ldc: 2)
        #expect(c == [0, 0, 0, 0])
    }
}
