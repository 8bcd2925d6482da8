import ArgumentParser
import Foundation
import FledgeBench
import FledgeDistributed
import FledgeDraft
import FledgeLlama
import FledgeTensor

/// `fledge bench train`: one EAGLE-3 training step (features given) at the target's configuration.
struct BenchTrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract:
            "Tokens/s and GFLOP/s of an EAGLE-3 training step (fwd + bwd + AdamW, batch 1) "
            + "at the target's configuration, next to the sgemm peak."
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .customLong("seq-len"), parsing: .upToNextOption, help: "Sequence lengths T.")
    var lengths: [Int] = [2048]

    @Option(name: .customLong("ttt-steps"), parsing: .upToNextOption, help: "TTT steps K.")
    var steps: [Int] = [7]

    @Option(name: .customLong("draft-vocab-size"), help: "Draft vocabulary size.")
    var draftVocabSize = 32_000

    @Option(help: "Timed steps (the median is reported).")
    var runs = 3

    @Option(
        name: [.customLong("precision"), .customLong("dtype"), .customLong("mixed-precision")],
        parsing: .upToNextOption,
        help: "Precisions to time, one row each: fp32, bf16 (default: both where this CPU runs bf16).")
    var precisions: [String] = []

    @Flag(help: "Also time the online step: the target's forward with the three feature taps on the same tokens.")
    var online = false

    @OptionGroup var weightsOption: TargetWeightsOption

    @Option(
        name: .customLong("ranks"), parsing: .upToNextOption,
        help: "Data-parallel scaling: run the step under `mpirun -np N` for each N (--ranks 1 2 or --ranks 1,2).")
    var rankList: [String] = []

    /// `--ranks 1 2` and `--ranks 1,2` alike.
    var ranks: [Int] {
        rankList.flatMap { $0.split(separator: ",") }.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    @Option(
        name: .customLong("global-batch"), help: "With --ranks: rows per step over all ranks (default: the largest N).")
    var globalBatch: Int?

    @Flag(name: .customLong("rank-worker"), help: .hidden)
    var rankWorker = false

    /// The precisions of the rows.
    func resolvedPrecisions() throws -> [Precision] {
        if precisions.isEmpty { return BFloat16.support.available ? [.fp32, .bf16] : [.fp32] }
        return try precisions.map { spelling in
            guard let precision = Precision(spelling: spelling) else {
                throw ValidationError("--precision \(spelling): expected fp32 or bf16")
            }
            if precision == .bf16 && !BFloat16.support.available {
                throw ValidationError("--precision bf16: \(BFloat16.support.reason)")
            }
            return precision
        }
    }

    func validate() throws {
        _ = try resolvedPrecisions()
        guard ranks.count == rankList.flatMap({ $0.split(separator: ",") }).count, ranks.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--ranks takes positive integers: --ranks 1 2 or --ranks 1,2")
        }
        let batch = globalBatch ?? ranks.max() ?? 1
        guard ranks.allSatisfy({ batch % $0 == 0 }) else {
            throw ValidationError("--global-batch \(batch) must be a multiple of every --ranks value")
        }
    }

    func run() async throws {
        if rankWorker { return try runRank() }
        if !ranks.isEmpty { return try runScaling() }
        let url = try model.resolvedURL()
        let file = try LlamaConfiguration.load(from: url)
        // The online column's target as a run of that precision loads it (bf16: bf16 matrices).
        var targets: [Precision: LlamaModel] = [:]
        if online {
            var loaded: [LlamaModel.WeightStorage: LlamaModel] = [:]
            for precision in try resolvedPrecisions() {
                let storage = try weightsOption.resolved(model: url, precision: precision)
                let start = Date()
                if loaded[storage] == nil {
                    loaded[storage] = try LlamaModel.load(from: url, storage: storage)
                    print(
                        String(
                            format: "target %@: %@ weights, %@ held, loaded in %.0f s", url.lastPathComponent,
                            storage.spelling, MachineMemory.describe(loaded[storage]!.weightBytes),
                            Date().timeIntervalSince(start)))
                }
                targets[precision] = loaded[storage]
            }
        }
        let configuration = Eagle3Configuration(target: file, draftVocabularySize: draftVocabSize)
        if precisions.isEmpty && !BFloat16.support.available {
            printError("fledge: bf16 is not available here (\(BFloat16.support.reason)); fp32 rows only")
        }
        var peaks: [Precision: Double] = [:]
        for precision in try resolvedPrecisions() { peaks[precision] = KernelBenchmark.peak(precision) }
        let peakText = [(Precision.fp32, "sgemm"), (.bf16, "bf16")].compactMap { precision, name in
            peaks[precision].map { String(format: "%@ %.1f GFLOP/s", name, $0) }
        }.joined(separator: ", ")
        print(
            String(
                format: "2048³ peak: %@; draft of %@ (H %d, Vd %d), batch 1, median of %d steps", peakText,
                url.lastPathComponent, configuration.hiddenSize, draftVocabSize, runs))
        print(
            "T      K   prec  s/step    tokens/s   GFLOP/step  GFLOP/s  of peak   "
                + (online ? "online s/step (tokens/s)  " : "") + "SpecForge (README: Performance)")
        for length in lengths {
            for k in steps {
                for precision in try resolvedPrecisions() {
                    let result = TrainBenchmark.run(
                        configuration: configuration, length: length, steps: k, runs: runs, precision: precision,
                        target: targets[precision])
                    var onlineColumn = ""
                    if let target = targets[precision] {
                        let seconds =
                            try TrainBenchmark.targetForwardSeconds(
                                model: target, length: length, runs: runs, precision: precision)
                            + result.seconds
                        let text = String(format: "%.2f (%.1f)", seconds, Double(length) / seconds)
                        onlineColumn = text + String(repeating: " ", count: max(1, 26 - text.count))
                    }
                    print(
                        String(
                            format: "%-6d %-3d %@ %-9.2f %-10.1f %-11.0f %-8.1f %-9@ %@%@", length, k,
                            precision.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0), result.seconds,
                            result.tokensPerSecond, result.gflop, result.gflops,
                            String(format: "%.0f%%", 100 * result.gflops / peaks[precision]!), onlineColumn,
                            TrainBenchmark.specForgeReference(
                                length: length, steps: k, precision: precision, model: url.lastPathComponent) ?? "–"))
                }
            }
        }
        if let peak = MachineMemory.peakResident {
            print("peak RSS \(MachineMemory.describe(peak)) of \(MachineMemory.describe(MachineMemory.total))")
        }
    }
}

extension BenchTrain {
    /// One rank of a scaling run (under mpirun): rank 0 prints the result as a JSON line.
    func runRank() throws {
        let configuration = Eagle3Configuration(
            target: try LlamaConfiguration.load(from: try model.resolvedURL()),
            draftVocabularySize: draftVocabSize)
        try TrainScalingBenchmark.runRank(
            configuration: configuration, length: lengths[0], steps: steps[0], runs: runs,
            globalBatch: globalBatch
        ) { result in
            print(try TrainScalingBenchmark.line(result))
        }
    }

    /// `--ranks 1 2`: the same global batch on 1, 2, … ranks of this machine, each run under
    /// mpirun, with the time of a step, of its gradient sum, and the speedup over the first.
    func runScaling() throws {
        _ = try MPILauncher.mpirun()
        let batch = globalBatch ?? ranks.max() ?? 1
        let url = try model.resolvedURL()
        print(
            String(
                format: "EAGLE-3 training step of %@ (Vd %d), global batch %d × T tokens, median of %d steps; "
                    + "each row one `mpirun -np N` run", url.lastPathComponent, draftVocabSize, batch, runs))
        print(
            "T      K   ranks  threads/rank  rows/rank  s/step   gradient sum  (sum alone)  tokens/s  speedup  "
                + "gradient")
        for length in lengths {
            for k in steps {
                var first: Double?
                for n in ranks {
                    let result = try TrainScalingBenchmark.launch(
                        ranks: n,
                        arguments: [
                            "bench", "train", "--rank-worker", "--model", url.path, "--seq-len", "\(length)",
                            "--ttt-steps", "\(k)", "--runs", "\(runs)", "--global-batch", "\(batch)",
                            "--draft-vocab-size", "\(draftVocabSize)",
                        ])
                    let seconds = result.seconds
                    first = first ?? seconds
                    let sum = String(format: "%.1f ms", result.reduce * 1000)
                    let alone = String(format: "%.1f ms", result.transfer * 1000)
                    print(
                        String(
                            format: "%-6d %-3d %-6d %-13d %-10d %-8.2f ", length, k, n, result.threads, result.rows,
                            seconds)
                            + sum + String(repeating: " ", count: max(1, 14 - sum.count))
                            + alone + String(repeating: " ", count: max(1, 13 - alone.count))
                            + String(format: "%-9.1f %.2f×", Double(batch * length) / seconds, first! / seconds)
                            + String(format: "    %.1f MB", Double(result.gradientCount) * 4 / 1e6))
                }
            }
        }
    }
}
