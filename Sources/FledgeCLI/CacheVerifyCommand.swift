import ArgumentParser
import Foundation
import FledgeTensor
import FledgeData
import FledgeLlama

/// `fledge cache verify`: re-runs the target on cached samples, in the batches the cache was
/// built with, and compares the features with the shards bit for bit.
struct CacheVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Recompute the first batches of a cache with the target (same batches as the build) "
            + "and compare them with the shards, bit for bit."
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
        let cache = try CachedFeatureSource(
            directory: URL(fileURLWithPath: output), modelFingerprint: try Fingerprint.of(url),
            dataFingerprint: try data.fingerprint())
        // A bf16 cache is recomputed as it was made: bf16 weights, bf16 products.
        let precision = cache.manifest.precision ?? .fp32
        if precision == .bf16 && !BFloat16.support.available {
            throw ValidationError(
                "the cache was built in bf16, which this machine cannot run (\(BFloat16.support.reason))")
        }
        let target = try TargetModel.load(from: url, storage: precision == .bf16 ? .bfloat16 : .float32)
        let result = try FeatureCacheVerifier.verify(
            cache: cache, conversations: try data.conversations(),
            tokenizer: data.tokenizer(target.format), model: target.model,
            batches: batches, batchTokens: batchTokens)
        print(
            "\(result.samples) samples, \(result.comparedValues) feature values recomputed: "
                + (result.isExact ? "all equal the cache (bit-exact)" : "\(result.differentValues) differ"))
        if !result.isExact { throw ExitCode(1) }
    }
}
