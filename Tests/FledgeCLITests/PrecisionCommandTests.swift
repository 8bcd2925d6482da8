import Foundation
import Testing
import FledgeTensor
import FledgeTestSupport

/// How a run chooses its precision, and the fp32 fallback of a machine without bf16.
@Suite struct PrecisionCommandTests {
    static let tiny = TestAssets.packageRoot.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama")

    @Test func resolutionFallsBackWithANotice() {
        let missing = BFloat16.Support(available: false, reason: "this CPU lacks AVX-512 BF16")
        let present = BFloat16.Support(available: true, reason: "oneDNN 2.6.3, avx512_core_bf16")
        #expect(Precision.resolve(nil, support: present) == (.bf16, nil))
        #expect(Precision.resolve(.fp32, support: present) == (.fp32, nil))
        #expect(Precision.resolve(.fp32, support: missing) == (.fp32, nil))
        for requested in [Precision.bf16, nil] {
            let (precision, notice) = Precision.resolve(requested, support: missing)
            #expect(precision == .fp32)
            #expect(notice?.contains("lacks AVX-512 BF16") == true && notice?.contains("fp32") == true)
        }
        #expect(Precision(spelling: "BFloat16") == .bf16 && Precision(spelling: "no") == .fp32)
        #expect(Precision(spelling: "fp16") == nil)
    }

    /// The real executable with bf16 turned off: fp32 rows only, a one-line notice; asking for
    /// bf16 explicitly is an error that says why.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: DistributedTrainingTests.binary.path)))
    func withoutBF16TheBenchmarkRunsFloat32() throws {
        let arguments = [
            "bench", "train", "--model", Self.tiny.path, "--seq-len", "16", "--ttt-steps", "2", "--runs", "1",
            "--draft-vocab-size", "32",
        ]
        let off = ["FLEDGE_BF16": "off"]
        let fallback = try DistributedTrainingTests.run(
            DistributedTrainingTests.binary.path, arguments, deadline: 120, environment: off)
        #expect(fallback.status == 0, "\(fallback.output)")
        #expect(fallback.output.contains("bf16 is not available here (turned off by FLEDGE_BF16=off)"))
        let rows = fallback.output.split(separator: "\n").filter { $0.hasPrefix("16 ") }
        #expect(rows.count == 1 && rows[0].contains("fp32"), "\(fallback.output)")
        let refused = try DistributedTrainingTests.run(
            DistributedTrainingTests.binary.path, arguments + ["--precision", "bf16"], deadline: 120,
            environment: off)
        #expect(refused.status != 0)
        #expect(refused.output.contains("--precision bf16: turned off by FLEDGE_BF16=off"), "\(refused.output)")
    }
}
