import ArgumentParser
import Foundation
import FledgeTensor
import FledgeData
import FledgeLlama

/// `fledge cache build`: runs the target over prepared data and writes feature shards.
struct CacheBuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract:
            "Write input ids, loss masks, the three EAGLE-3 feature layers and the final-norm hidden state (bf16) "
            + "as safetensors shards; resumable."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var data: DataOptions

    @Option(help: "The cache folder.")
    var output: String

    @Option(name: .customLong("shard-tokens"), help: "Tokens per shard.")
    var shardTokens = 32_768

    @Option(name: .customLong("batch-tokens"), help: "Most tokens (rows × longest row) per target forward.")
    var batchTokens = 4_096

    @Option(name: .customLong("max-samples"), help: "Cache only the first N samples.")
    var maxSamples: Int?

    @Option(
        name: .customLong("aux-hidden-state-layers"), parsing: .upToNextOption,
        help: "The three target layers whose outputs are captured (default: 1, N/2-1, N-4).")
    var layers: [Int] = []

    func validate() throws {
        guard shardTokens >= 1, batchTokens >= 1 else {
            throw ValidationError("--shard-tokens and --batch-tokens must be positive")
        }
        guard layers.isEmpty || layers.count == 3 else {
            throw ValidationError("--aux-hidden-state-layers takes three layer ids")
        }
    }

    @OptionGroup var precisionOption: PrecisionOption
    @OptionGroup var weightsOption: TargetWeightsOption

    func run() async throws {
        let url = try model.resolvedURL()
        let precision = try precisionOption.resolved()
        let storage = try weightsOption.resolved(model: url, precision: precision)
        let start = Date()
        let target = try TargetModel.load(from: url, storage: storage)
        printError(
            String(
                format: "target %@: %@ weights, %@ held, loaded in %.0f s", url.lastPathComponent, storage.spelling,
                MachineMemory.describe(target.model.weightBytes), Date().timeIntervalSince(start)))
        let dataset = TokenizedDataset.make(
            try data.conversations(), tokenizer: data.tokenizer(target.format), maxSamples: maxSamples)
        let source = try OnlineFeatureSource(
            model: target.model, layers: layers.isEmpty ? nil : layers, precision: precision)
        var manifest = FeatureCacheManifest(
            modelFingerprint: try Fingerprint.of(url), dataFingerprint: try data.fingerprint(),
            layers: source.layers, hiddenSize: source.hiddenSize)
        manifest.precision = precision == .bf16 ? .bf16 : nil
        let writer = try FeatureCacheWriter(
            directory: URL(fileURLWithPath: output), manifest: manifest, shardTokens: shardTokens)
        let estimate = FeatureCacheBuilder.estimatedBytes(
            samples: dataset.samples, hiddenSize: source.hiddenSize, shardTokens: shardTokens)
        printError(
            String(
                format:
                    "%d samples, %d tokens, layers %@: the cache will take %.1f MB "
                    + "(%d resumed samples already written)",
                dataset.samples.count, dataset.tokenCount, "\(source.layers)", Double(estimate.total) / 1e6,
                writer.completedSampleIDs.count))
        var line = ProgressLine(label: "cache")
        try FeatureCacheBuilder.build(
            samples: dataset.samples, source: source, writer: writer, batchTokens: batchTokens
        ) { progress in
            let remaining = Double(progress.tokensTotal - progress.tokensDone) / max(progress.tokensPerSecond, 1e-9)
            line.update(
                done: progress.samplesDone, total: progress.samplesTotal, rate: progress.tokensPerSecond,
                unit: "tokens", eta: remaining)
        }
        line.finish()
        print(
            String(
                format: "%@: %d shards, %d samples, %.1f MB", output, writer.manifest.shards.count,
                writer.manifest.sampleCount, Double(writer.manifest.shardBytes) / 1e6))
        if let peak = MachineMemory.peakResident { printError("peak RSS \(MachineMemory.describe(peak))") }
    }
}
