import ArgumentParser
import Foundation
import FledgeDistributed
import FledgeDraft
import FledgeTraining
import FledgeLlama
import FledgeNN
import FledgeTensor
import FledgeWeights

/// `fledge bench ...`: performance measurements (run them on a release build).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Fledge's performance (use a release build).",
        subcommands: [BenchKernels.self, BenchTarget.self, BenchTrain.self]
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

    @Option(name: .customLong("verify-tokens"), parsing: .upToNextOption,
            help: "Verification passes to time: M new tokens (all logits) after a 512-token context.")
    var verifyTokens: [Int] = [1, 4, 8, 16, 32, 48]

    @Option(name: .customLong("weights"), help: "Decoder-layer weight storage: float32 or bfloat16.")
    var weights: LlamaModel.WeightStorage = .float32

    enum Reference: String, ExpressibleByArgument, CaseIterable {
        /// Decoding steps through Float32 FewRowsMatmul instead of the GGUF's quantised blocks.
        case float32
        /// Every product through OpenBLAS, few rows too.
        case openblas
    }

    @Option(help: "Also run every measurement with a reference path and print the ratio: float32 (decoding steps on the Float32 weights instead of the GGUF's Q4_1/Q8_0 blocks) or openblas (OpenBLAS for few rows too).")
    var compare: Reference?

    func validate() throws {
        guard runs >= 1, decodeTokens >= 2, lengths.allSatisfy({ $0 >= 1 }), verifyTokens.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--runs must be ≥ 1, --decode-tokens ≥ 2 and every length ≥ 1")
        }
    }

    func run() async throws {
        let url = try model.resolvedURL()
        let target = try LlamaModel.load(from: url, storage: weights)
        let rows = try TargetBenchmark.run(model: target, lengths: lengths, decodeTokens: decodeTokens, verifyTokens: verifyTokens, runs: runs)
        var reference: [TargetBenchmark.Row] = []
        if let compare {
            reference = try TargetBenchmark.run(model: target, lengths: lengths, decodeTokens: decodeTokens, verifyTokens: verifyTokens, runs: runs,
                                                kernels: compare == .openblas ? .openBLAS : .float32)
        }
        let quantized = target.quantizedBytes > 0 ? String(format: ", decoding steps on %.0f MB of quantised blocks", Double(target.quantizedBytes) / 1e6) : ""
        print("\(url.lastPathComponent): \(target.parameterCount / 1_000_000) M parameters, \(weights.rawValue) layer weights\(quantized), \(Parallel.workerCount) threads, median of \(runs) runs")
        let referenceName = compare == .openblas ? "OpenBLAS only" : "Float32"
        print(pad("measurement", 22) + pad("tokens/s", 12) + (compare != nil ? pad(referenceName, 15) + pad("ratio", 8) : "") + "notes")
        let decodeSeconds = rows.first(where: { $0.name == "decode" })?.seconds ?? 0
        for (index, row) in rows.enumerated() {
            let name: String, note: String
            switch row.name {
            case "prefill":
                name = "prefill T=\(row.tokens)"
                note = row.tokens == 512 ? "PyTorch 460–570, llama.cpp Q4_1 433 (README: Performance)" : "PyTorch 451 (README: Performance)"
            case "decode":
                name = "decode (batch 1)"
                note = "PyTorch 24, llama.cpp Q4_1 156 (README: Performance)"
            default:
                name = "verify M=\(row.tokens)"
                note = String(format: "%.1f ms per pass = %.2f decode steps", row.seconds * 1000, decodeSeconds > 0 ? row.seconds / decodeSeconds : 0)
            }
            var line = pad(name, 22) + pad(String(format: "%.1f", row.tokensPerSecond), 12)
            if compare != nil {
                let other = reference[index]
                line += pad(String(format: "%.1f", other.tokensPerSecond), 15) + pad(String(format: "%.2f×", other.seconds / row.seconds), 8)
            }
            print(line + note)
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}

/// `fledge bench train`: one EAGLE-3 training step (features given) at the target's configuration.
struct BenchTrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Tokens/s and GFLOP/s of an EAGLE-3 training step (fwd + bwd + AdamW, batch 1) at the target's configuration, next to the sgemm peak."
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

    @Flag(help: "Also time the online step: the target's forward with the three feature taps on the same tokens.")
    var online = false

    @Option(name: .customLong("ranks"), parsing: .upToNextOption,
            help: "Data-parallel scaling: run the step under `mpirun -np N` for each N (--ranks 1 2 or --ranks 1,2).")
    var rankList: [String] = []

    /// `--ranks 1 2` and `--ranks 1,2` alike.
    var ranks: [Int] { rankList.flatMap { $0.split(separator: ",") }.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    @Option(name: .customLong("global-batch"), help: "With --ranks: rows per step over all ranks (default: the largest N).")
    var globalBatch: Int?

    @Flag(name: .customLong("rank-worker"), help: .hidden)
    var rankWorker = false

    func validate() throws {
        guard ranks.count == rankList.flatMap({ $0.split(separator: ",") }).count, ranks.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--ranks takes positive integers: --ranks 1 2 or --ranks 1,2")
        }
        let batch = globalBatch ?? ranks.max() ?? 1
        guard ranks.allSatisfy({ batch % $0 == 0 }) else { throw ValidationError("--global-batch \(batch) must be a multiple of every --ranks value") }
    }

    func run() async throws {
        if rankWorker { return try runRank() }
        if !ranks.isEmpty { return try runScaling() }
        let url = try model.resolvedURL()
        let file = try GGUFOrFolderConfiguration.load(url)
        let target = online ? try LlamaModel.load(from: url) : nil
        let configuration = Eagle3Configuration(target: file, draftVocabularySize: draftVocabSize)
        let peak = KernelBenchmark.run(runs: 3, sequenceLength: 2048).first!.gflops
        print(String(format: "sgemm peak %.1f GFLOP/s; draft of %@ (H %d, Vd %d), batch 1, median of %d steps",
                     peak, url.lastPathComponent, configuration.hiddenSize, draftVocabSize, runs))
        print("T      K   s/step    tokens/s   GFLOP/step  GFLOP/s  of peak   " + (online ? "online s/step (tokens/s)  " : "") + "SpecForge (README: Performance)")
        let reference: [String: String] = ["512/7": "3.97 s, 129 tok/s", "1024/7": "9.21 s, 111 tok/s", "2048/7": "22.9 s, 89 tok/s", "2048/3": "10.4 s, 197 tok/s"]
        for length in lengths {
            for k in steps {
                let result = TrainBenchmark.run(configuration: configuration, length: length, steps: k, runs: runs)
                var onlineColumn = ""
                if let target {
                    let seconds = try TrainBenchmark.targetForwardSeconds(model: target, length: length, runs: runs) + result.seconds
                    let text = String(format: "%.2f (%.1f)", seconds, Double(length) / seconds)
                    onlineColumn = text + String(repeating: " ", count: max(1, 26 - text.count))
                }
                print(String(format: "%-6d %-3d %-9.2f %-10.1f %-11.0f %-8.1f %-9@ %@%@", length, k, result.seconds, result.tokensPerSecond,
                             result.gflop, result.gflops, String(format: "%.0f%%", 100 * result.gflops / peak), onlineColumn, reference["\(length)/\(k)"] ?? "–"))
            }
        }
    }
}

extension BenchTrain {
    /// One rank of a scaling run (under mpirun): its share of the global batch, the gradient
    /// summed over the ranks every step; rank 0 prints the result as JSON.
    func runRank() throws {
        let communicator = try Distributed.communicator(timeout: 300)
        let threads = communicator.threadsPerRank
        Parallel.workerCount = threads
        BLAS.threadCount = threads
        let configuration = Eagle3Configuration(target: try GGUFOrFolderConfiguration.load(try model.resolvedURL()), draftVocabularySize: draftVocabSize)
        let rows = (globalBatch ?? communicator.size) / communicator.size
        let result = try TrainBenchmark.run(configuration: configuration, length: lengths[0], steps: steps[0], runs: runs, rows: rows) { pointer, count in
            if communicator.isDistributed { try communicator.allreduceSum(pointer, count: count, what: "gradient sum") }
        }
        if communicator.isRoot {
            let line = try JSONSerialization.data(withJSONObject: ["seconds": result.seconds, "reduce": result.reduceSeconds, "rows": rows,
                                                                   "ranks": communicator.size, "threads": threads])
            print(String(decoding: line, as: UTF8.self))
        }
        communicator.finalize()
    }

    /// `--ranks 1 2`: the same global batch on 1, 2, … ranks of this machine, each run under
    /// mpirun, with the time of a step, of its gradient sum, and the speedup over the first.
    func runScaling() throws {
        guard let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CLIError("mpirun not found", hint: "apt-get install openmpi-bin libopenmpi-dev (make mpi)")
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let batch = globalBatch ?? ranks.max() ?? 1
        let url = try model.resolvedURL()
        print(String(format: "EAGLE-3 training step of %@ (Vd %d), global batch %d × T tokens, median of %d steps; each row one `mpirun -np N` run",
                     url.lastPathComponent, draftVocabSize, batch, runs))
        print("T      K   ranks  threads/rank  rows/rank  s/step   gradient sum  tokens/s  speedup")
        for length in lengths {
            for k in steps {
                var first: Double?
                for n in ranks {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: mpirun)
                    process.arguments = ["-np", "\(n)", "--bind-to", "none", executable, "bench", "train", "--rank-worker", "--model", url.path, "--seq-len", "\(length)",
                                         "--ttt-steps", "\(k)", "--runs", "\(runs)", "--global-batch", "\(batch)", "--draft-vocab-size", "\(draftVocabSize)"]
                    var environment = ProcessInfo.processInfo.environment
                    if getuid() == 0 {
                        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
                        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
                    }
                    process.environment = environment
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    try process.run()
                    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                    process.waitUntilExit()
                    guard process.terminationStatus == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                          let result = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                          let seconds = result["seconds"] as? Double, let reduce = result["reduce"] as? Double else {
                        throw CLIError("mpirun -np \(n) failed (status \(process.terminationStatus)): \(output)")
                    }
                    first = first ?? seconds
                    let sum = String(format: "%.1f ms", reduce * 1000)
                    print(String(format: "%-6d %-3d %-6d %-13d %-10d %-8.2f ", length, k, n, result["threads"] as? Int ?? 0, result["rows"] as? Int ?? 0, seconds)
                          + sum + String(repeating: " ", count: max(1, 14 - sum.count))
                          + String(format: "%-9.1f %.2f×", Double(batch * length) / seconds, first! / seconds))
                }
            }
        }
    }
}

/// The target configuration of a GGUF file or a Hugging Face folder, without loading weights.
enum GGUFOrFolderConfiguration {
    static func load(_ url: URL) throws -> LlamaConfiguration {
        var isDirectory: ObjCBool = false
        FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        if isDirectory.boolValue { return try LlamaConfiguration.load(modelDirectory: url) }
        return try LlamaConfiguration(gguf: try GGUFFile(url: url))
    }
}
