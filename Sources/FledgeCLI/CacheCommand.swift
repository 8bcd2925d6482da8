import ArgumentParser
import Foundation
import FledgeData
import FledgeLlama
import FledgeTensor

/// `fledge cache ...`: the offline target-feature cache.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Build the offline cache of target features.",
        subcommands: [CacheBuildCommand.self, CacheVerifyCommand.self]
    )
}

/// `fledge cache build`: runs the target over prepared data and writes feature shards.
struct CacheBuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Write input ids, loss masks, the three EAGLE-3 feature layers and the final-norm hidden state (bf16) as safetensors shards; resumable."
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

    @Option(name: .customLong("aux-hidden-state-layers"), parsing: .upToNextOption,
            help: "The three target layers whose outputs are captured (default: 1, N/2-1, N-4).")
    var layers: [Int] = []

    func validate() throws {
        guard shardTokens >= 1, batchTokens >= 1 else { throw ValidationError("--shard-tokens and --batch-tokens must be positive") }
        guard layers.isEmpty || layers.count == 3 else { throw ValidationError("--aux-hidden-state-layers takes three layer ids") }
    }

    func run() async throws {
        let url = try model.resolvedURL()
        let target = try TargetModel.load(from: url)
        var dataset = TokenizedDataset.make(try data.conversations(), tokenizer: data.tokenizer(target.format))
        if let maxSamples { dataset.samples = Array(dataset.samples.prefix(maxSamples)) }
        let source = try OnlineFeatureSource(model: target.model, layers: layers.isEmpty ? nil : layers)
        let manifest = FeatureCacheManifest(modelFingerprint: try Fingerprint.of(url), dataFingerprint: try data.fingerprint(),
                                            layers: source.layers, hiddenSize: source.hiddenSize)
        let writer = try FeatureCacheWriter(directory: URL(fileURLWithPath: output), manifest: manifest, shardTokens: shardTokens)
        let estimate = FeatureCacheBuilder.estimatedBytes(samples: dataset.samples, hiddenSize: source.hiddenSize, shardTokens: shardTokens)
        printError(String(format: "%d samples, %d tokens, layers %@: the cache will take %.1f MB (%d resumed samples already written)",
                          dataset.samples.count, dataset.tokenCount, "\(source.layers)", Double(estimate.total) / 1e6, writer.completedSampleIDs.count))
        var line = ProgressLine(label: "cache")
        try FeatureCacheBuilder.build(samples: dataset.samples, source: source, writer: writer, batchTokens: batchTokens) { progress in
            let remaining = Double(progress.tokensTotal - progress.tokensDone) / max(progress.tokensPerSecond, 1e-9)
            line.update(done: progress.samplesDone, total: progress.samplesTotal, rate: progress.tokensPerSecond, unit: "tokens", eta: remaining)
        }
        line.finish()
        let bytes = writer.manifest.shards.reduce(0) { $0 + $1.bytes }
        print(String(format: "%@: %d shards, %d samples, %.1f MB", output, writer.manifest.shards.count,
                     writer.manifest.shards.reduce(0) { $0 + $1.sampleIDs.count }, Double(bytes) / 1e6))
    }
}

/// `fledge cache verify`: re-runs the target on cached samples, in the batches the cache was
/// built with, and compares the features with the shards bit for bit.
struct CacheVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute the first batches of a cache with the target (same batches as the build) and compare them with the shards, bit for bit."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var data: DataOptions

    @Option(help: "The cache folder.")
    var output: String

    @Option(help: "How many batches of the first shard to recompute.")
    var batches = 2

    @Option(name: .customLong("batch-tokens"), help: "The --batch-tokens the cache was built with.")
    var batchTokens = 4_096

    func run() async throws {
        let url = try model.resolvedURL()
        let target = try TargetModel.load(from: url)
        let cache = try CachedFeatureSource(directory: URL(fileURLWithPath: output), modelFingerprint: try Fingerprint.of(url),
                                           dataFingerprint: try data.fingerprint())
        guard let shard = cache.manifest.shards.first else { throw CLIError("\(output): the cache has no shards") }
        let wanted = Set(shard.sampleIDs)
        let byID = Dictionary(uniqueKeysWithValues: TokenizedDataset.make(try data.conversations().filter { wanted.contains($0.id) },
                                                                          tokenizer: data.tokenizer(target.format)).samples.map { ($0.id, $0) })
        let ordered = try shard.sampleIDs.map { id -> TokenizedSample in
            guard let sample = byID[id] else { throw CLIError("sample \(id) of the cache is not in the data (or is skipped by its settings)") }
            return sample
        }
        let source = try OnlineFeatureSource(model: target.model, layers: cache.manifest.layers)
        var compared = 0, different = 0, samples = 0
        for batch in FeatureCacheBuilder.batches(ordered, batchTokens: batchTokens).prefix(batches) {
            let stored = try cache.features(for: batch), fresh = try source.features(for: batch)
            guard stored.ids == fresh.ids, stored.lossMask == fresh.lossMask else { throw CLIError("token ids or loss masks differ from the cache") }
            let h = cache.hiddenSize
            for (row, length) in fresh.lengths.enumerated() {
                samples += 1
                for (a, b, width) in [(stored.auxiliary, fresh.auxiliary, 3 * h), (stored.lastHidden, fresh.lastHidden, h)] {
                    for i in (row * fresh.length * width)..<((row * fresh.length + length) * width) {
                        compared += 1
                        if a[i].bitPattern != HalfPrecision.float(bf16: HalfPrecision.bf16Bits(b[i])).bitPattern { different += 1 }
                    }
                }
            }
        }
        print("\(samples) samples, \(compared) feature values recomputed: " + (different == 0 ? "all equal the cache (bit-exact)" : "\(different) differ"))
        if different > 0 { throw ExitCode(1) }
    }
}
