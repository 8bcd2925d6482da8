import ArgumentParser
import Foundation
import FledgeBench
import FledgeLlama
import FledgeTensor

/// `fledge bench target`: prefill and decode speed of the target model, next to reference figures.
struct BenchTarget: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "target",
        abstract: "Prefill tokens/s (T = 512, 2048) and batch-1 decode tokens/s of a target model."
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "Timed runs (the median is reported).")
    var runs = 3

    @Option(name: .customLong("lengths"), parsing: .upToNextOption, help: "Prefill lengths.")
    var lengths: [Int] = [512, 2048]

    @Option(name: .customLong("decode-tokens"), help: "Tokens generated in the decode measurement.")
    var decodeTokens = 64

    @Option(
        name: .customLong("verify-tokens"), parsing: .upToNextOption,
        help: "Verification passes to time: M new tokens (all logits) after a 512-token context.")
    var verifyTokens: [Int] = [1, 4, 8, 16, 32, 48]

    @Option(
        name: .customLong("weights"),
        help: "Weight storage: float32, bfloat16 or stored (a GGUF's quantised blocks only, integer products).")
    var weights: LlamaModel.WeightStorage = .float32

    enum Reference: String, ExpressibleByArgument, CaseIterable {
        /// Decoding steps through the dequantising kernel on the GGUF's blocks (≤ 8 rows) and
        /// Float32 FewRowsMatmul above: the Float32 path's bits.
        case dequantising
        /// Decoding steps through Float32 FewRowsMatmul instead of the GGUF's quantised blocks.
        case float32
        /// Every product through OpenBLAS, few rows too.
        case openblas
    }

    @Option(
        help: """
            Also run every measurement with a reference path and print the ratio: dequantising (the GGUF's \
            blocks converted to Float32 in registers instead of integer products), float32 (decoding steps on \
            the Float32 weights) or openblas (OpenBLAS for few rows too).
            """
    )
    var compare: Reference?

    @Option(
        name: [.customLong("precision"), .customLong("dtype"), .customLong("mixed-precision")],
        help: ArgumentHelp(
            "Prefill precision: fp32, or bf16 (bf16 layer matrices through oneDNN, as a bf16 training run's "
                + "target forward); decoding rows are unchanged. Default fp32."))
    var precision: String = "fp32"

    func validate() throws {
        guard let value = Precision(spelling: precision) else {
            throw ValidationError("--precision: unknown precision \"\(precision)\"; use bf16 or fp32")
        }
        if value == .bf16 && !BFloat16.support.available {
            throw ValidationError("--precision bf16: \(BFloat16.support.reason)")
        }
        guard runs >= 1, decodeTokens >= 2, lengths.allSatisfy({ $0 >= 1 }), verifyTokens.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--runs must be ≥ 1, --decode-tokens ≥ 2 and every length ≥ 1")
        }
    }

    func run() async throws {
        let url = try model.resolvedURL()
        let target = try LlamaModel.load(from: url, storage: weights)
        let bf16 = Precision(spelling: precision) == .bf16 ? try LlamaModel.load(from: url, storage: .bfloat16) : nil
        let rows = try TargetBenchmark.run(
            model: target, lengths: lengths, decodeTokens: decodeTokens, verifyTokens: verifyTokens, runs: runs,
            bf16Prefill: bf16)
        var reference: [TargetBenchmark.Row] = []
        if let compare {
            reference = try TargetBenchmark.run(
                model: target, lengths: lengths, decodeTokens: decodeTokens, verifyTokens: verifyTokens, runs: runs,
                kernels: compare == .openblas ? .openBLAS : compare == .dequantising ? .dequantising : .float32)
        }
        let quantized =
            target.quantizedBytes > 0
            ? String(format: ", decoding steps on %.0f MB of quantised blocks", Double(target.quantizedBytes) / 1e6)
            : ""
        print(
            "\(url.lastPathComponent): \(target.parameterCount / 1_000_000) M parameters, "
                + "\(weights.spelling) layer weights\(quantized)"
                + (bf16 != nil ? ", prefill in bf16 (bf16 layer matrices)" : "") + ", \(Parallel.workerCount) threads, "
                + "median of \(runs) runs"
        )
        let referenceName =
            compare == .openblas ? "OpenBLAS only" : compare == .dequantising ? "dequantising" : "Float32"
        print(
            padded("measurement", 22) + padded("tokens/s", 12)
                + (compare != nil ? padded(referenceName, 15) + padded("ratio", 8) : "") + "notes")
        let decodeSeconds = rows.first(where: { $0.name == "decode" })?.seconds ?? 0
        for (index, row) in rows.enumerated() {
            let name: String
            switch row.name {
            case "prefill": name = "prefill T=\(row.tokens)"
            case "decode": name = "decode (batch 1)"
            default: name = "verify M=\(row.tokens)"
            }
            let note =
                row.name == "verify"
                ? String(
                    format: "%.1f ms per pass = %.2f decode steps", row.seconds * 1000,
                    decodeSeconds > 0 ? row.seconds / decodeSeconds : 0)
                : TargetBenchmark.reference(for: row, model: url.lastPathComponent) ?? ""
            var line = padded(name, 22) + padded(String(format: "%.1f", row.tokensPerSecond), 12)
            if compare != nil {
                let other = reference[index]
                line +=
                    padded(String(format: "%.1f", other.tokensPerSecond), 15)
                    + padded(String(format: "%.2f×", other.seconds / row.seconds), 8)
            }
            print(line + note)
        }
        if let peak = MachineMemory.peakResident { print("peak RSS \(MachineMemory.describe(peak))") }
    }
}
