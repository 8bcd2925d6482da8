import Testing
@testable import FledgeNN
import FledgeTensor
import FledgeTestSupport

/// The few-rows kernel against a Double oracle, and the property speculative decoding needs:
/// a row's outputs do not depend on the other rows of the call or on the thread count.
@Suite struct FewRowsMatmulTests {
    static let shapes: [(rows: Int, inFeatures: Int, outFeatures: Int)] = [
        (1, 576, 1536), (3, 37, 5), (4, 64, 64), (7, 1536, 577), (48, 40, 33),
    ]

    @Test(arguments: 0..<5)
    func matchesTheOracleWithAndWithoutAccumulation(_ index: Int) {
        let (n, i, o) = Self.shapes[index]
        let stride = i + 3  // weight rows further apart than the input width
        let x = randomTensor([n * i], seed: 1), w = randomTensor([o * stride], seed: 2),
            start = randomTensor([n * o], seed: 3)
        for accumulate in [false, true] {
            let out = Tensor(zeros: [n * o])
            out.pointer.update(from: start.pointer, count: n * o)
            FewRowsMatmul.forward(
                out.pointer, x.pointer, weight: w.pointer, rows: n, inFeatures: i, outFeatures: o, weightStride: stride,
                accumulate: accumulate)
            var worst = 0.0
            for r in 0..<n {
                for c in 0..<o {
                    var sum = accumulate ? Double(start[r * o + c]) : 0
                    var magnitude = abs(sum)
                    for p in 0..<i {
                        sum += Double(x[r * i + p]) * Double(w[c * stride + p])
                        magnitude += abs(Double(x[r * i + p]) * Double(w[c * stride + p]))
                    }
                    // Error relative to Σ|terms| (the scale of float32 summation error).
                    worst = max(worst, abs(sum - Double(out[r * o + c])) / max(magnitude, 1e-30))
                }
            }
            #expect(worst < 1e-6, "N \(n) I \(i) O \(o) accumulate \(accumulate): relative error \(worst)")
        }
    }

    /// (Each output is computed whole by one thread with the same instructions, so the thread
    /// count cannot change it either; `Parallel.workerCount` is global and tests run
    /// concurrently, so this test does not change it.)
    @Test func aRowsResultDoesNotDependOnItsCompany() {
        let (i, o) = (200, 101)
        let x = randomTensor([13 * i], seed: 4), w = randomTensor([o * i], seed: 5)
        let alone = Tensor(zeros: [o])
        do {
            for n in [1, 2, 5, 13] {
                let out = Tensor(zeros: [n * o])
                FewRowsMatmul.forward(
                    out.pointer, x.pointer, weight: w.pointer, rows: n, inFeatures: i, outFeatures: o, accumulate: false
                )
                for r in 0..<n {
                    FewRowsMatmul.forward(
                        alone.pointer, x.pointer + r * i, weight: w.pointer, rows: 1, inFeatures: i, outFeatures: o,
                        accumulate: false)
                    let same = (0..<o).allSatisfy { out[r * o + $0].bitPattern == alone[$0].bitPattern }
                    #expect(same, "row \(r) of \(n)")
                }
            }
        }
    }
}
