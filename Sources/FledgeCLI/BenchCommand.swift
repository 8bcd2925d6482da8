import ArgumentParser
import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor

/// `fledge bench ...`: performance measurements (run them on a release build).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Fledge's performance (use a release build).",
        subcommands: [BenchKernels.self, BenchTarget.self]
    )
}

/// `fledge bench kernels`: GFLOP/s of the matmul and attention kernels at SmolLM2 shapes.
struct BenchKernels: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "GFLOP/s of sgemm and attention at the shapes of a 576-hidden model, next to the sgemm peak."
    )

    @Option(help: "Timed runs per kernel (the median is reported).")
    var runs = 5

    @Option(name: .customLong("seq-len"), help: "Sequence length T.")
    var sequenceLength = 2048

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard sequenceLength >= 1 else { throw ValidationError("--seq-len must be at least 1") }
    }

    func run() async throws {
        let rows = KernelBenchmark.run(runs: runs, sequenceLength: sequenceLength)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
            return
        }
        let peak = rows.first?.gflops ?? 1
        print("OpenBLAS core \(BLAS.coreName), \(Parallel.workerCount) threads, median of \(runs) runs")
        print(pad("kernel", 26) + pad("shape", 44) + pad("ms", 10) + pad("GFLOP/s", 10) + "of peak")
        for row in rows {
            print(pad(row.name, 26) + pad(row.shape, 44) + pad(String(format: "%.2f", row.seconds * 1000), 10)
                  + pad(String(format: "%.1f", row.gflops), 10) + String(format: "%.0f %%", 100 * row.gflops / peak))
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}

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

    func validate() throws {
        guard runs >= 1, decodeTokens >= 2, lengths.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--runs must be ≥ 1, --decode-tokens ≥ 2 and every length ≥ 1")
        }
    }

    func run() async throws {
        let url = try model.resolvedURL()
        let target = try LlamaModel.load(from: url)
        let rows = try TargetBenchmark.run(model: target, lengths: lengths, decodeTokens: decodeTokens, runs: runs)
        print("\(url.lastPathComponent): \(target.parameterCount / 1_000_000) M parameters, fp32, \(Parallel.workerCount) threads, median of \(runs) runs")
        print(pad("measurement", 22) + pad("tokens/s", 12) + "reference on this kind of machine (data.md)")
        for row in rows {
            let name = row.name == "prefill" ? "prefill T=\(row.tokens)" : "decode (batch 1)"
            let reference = row.name == "prefill"
                ? (row.tokens == 512 ? "PyTorch 460–570, llama.cpp Q4_1 433" : "PyTorch 451 (T=2048, SpecForge table)")
                : "PyTorch 24, llama.cpp Q4_1 156"
            print(pad(name, 22) + pad(String(format: "%.1f", row.tokensPerSecond), 12) + reference)
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
