import ArgumentParser
import Foundation
import FledgeBench
import FledgeTensor

/// `fledge bench kernels`: GFLOP/s of the matmul and attention kernels at SmolLM2 shapes.
struct BenchKernels: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract:
            "GFLOP/s of sgemm and attention at the shapes of a 576-hidden model, next to the sgemm peak; "
            + "bf16 products next to the bf16 peak."
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
        let bf16Peak = rows.first { $0.name == "bf16 gemm peak" }?.gflops ?? 1
        print(
            "OpenBLAS core \(BLAS.coreName), \(Parallel.workerCount) threads, median of \(runs) runs; bf16: "
                + (BFloat16.support.available
                    ? "\(BFloat16.support.reason) (\(BFloat16.lastImplementation)), rounding on "
                        + BFloat16.conversionISA
                    : "unavailable (\(BFloat16.support.reason))"))
        print(padded("kernel", 28) + padded("shape", 44) + padded("ms", 10) + padded("GFLOP/s", 10) + "of peak")
        for row in rows {
            print(
                padded(row.name, 28) + padded(row.shape, 44) + padded(String(format: "%.2f", row.seconds * 1000), 10)
                    + padded(String(format: "%.1f", row.gflops), 10)
                    + String(format: "%.0f %%", 100 * row.gflops / (row.name.hasPrefix("bf16") ? bf16Peak : peak)))
        }
    }
}
