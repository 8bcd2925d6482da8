import Foundation
import FledgeLlama

/// Builds a feature cache: runs the target over tokenised samples in token-budget batches
/// and writes shards (the offline half of ``FeatureSource``; online training calls the same
/// ``OnlineFeatureSource``).
public struct FeatureCacheBuilder {
    /// Progress after each batch: samples done (including resumed ones), total, tokens/s.
    public struct Progress: Sendable {
        public var samplesDone: Int
        public var samplesTotal: Int
        public var tokensDone: Int
        public var tokensTotal: Int
        public var tokensPerSecond: Double
    }

    /// The bytes a cache of `samples` will take: exact tensor data plus an upper bound for headers.
    public static func estimatedBytes(
        samples: [TokenizedSample], hiddenSize: Int, shardTokens: Int
    ) -> (payload: Int, total: Int) {
        let shards = plan(samples, shardTokens: shardTokens)
        var payload = 0
        for shard in shards {
            payload += FeatureCacheManifest.payloadBytes(
                tokens: shard.reduce(0) { $0 + $1.ids.count }, samples: shard.count, hiddenSize: hiddenSize)
        }
        return (payload, payload + shards.count * 1_024)
    }

    /// Samples grouped into shards of at least `shardTokens` tokens (the last may be smaller).
    static func plan(_ samples: [TokenizedSample], shardTokens: Int) -> [[TokenizedSample]] {
        var shards: [[TokenizedSample]] = []
        var current: [TokenizedSample] = []
        var tokens = 0
        for sample in samples {
            current.append(sample)
            tokens += sample.ids.count
            if tokens >= shardTokens {
                shards.append(current)
                current = []
                tokens = 0
            }
        }
        if !current.isEmpty { shards.append(current) }
        return shards
    }

    /// Writes the features of every sample not yet in `writer`'s cache. Shards are cut from
    /// the sample order greedily, so a resumed run cuts the remaining shards exactly as an
    /// uninterrupted one (and writes identical files). An error thrown by `progress` stops
    /// the build after the last complete shard.
    /// - Parameters:
    ///   - batchTokens: the most tokens (rows × longest row) in one target forward.
    ///   - checkDisk: refuse to start when the volume has less free space than the estimate.
    public static func build(
        samples: [TokenizedSample], source: any FeatureSource, writer: FeatureCacheWriter, batchTokens: Int = 4_096,
        checkDisk: Bool = true, progress: (Progress) throws -> Void = { _ in }
    ) throws {
        let done = writer.completedSampleIDs
        let remaining = samples.filter { !done.contains($0.id) }
        let estimate = estimatedBytes(
            samples: remaining, hiddenSize: source.hiddenSize, shardTokens: writer.shardTokens)
        if checkDisk,
            let free = try? FileManager.default.attributesOfFileSystem(forPath: writer.directory.path)[.systemFreeSize]
                as? Int,
            free < estimate.total
        {
            throw DataError(
                .invalidCache,
                "\(writer.directory.path): the cache needs about \(estimate.total / 1_000_000) MB, "
                    + "the disk has \(free / 1_000_000) MB free",
                hint: "free space, use another --output, or cache fewer samples")
        }
        let tokensTotal = samples.reduce(0) { $0 + $1.ids.count }
        var tokensDone = samples.filter { done.contains($0.id) }.reduce(0) { $0 + $1.ids.count }
        var samplesDone = samples.count - remaining.count
        let start = DispatchTime.now().uptimeNanoseconds
        var tokensThisRun = 0
        for shard in plan(remaining, shardTokens: writer.shardTokens) {
            var features: [TargetFeatures] = []
            var ordered: [TokenizedSample] = []
            for batch in batches(shard, batchTokens: batchTokens) {
                features.append(try source.features(for: batch))
                ordered += batch
                samplesDone += batch.count
                let tokens = batch.reduce(0) { $0 + $1.ids.count }
                tokensDone += tokens
                tokensThisRun += tokens
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                try progress(
                    Progress(
                        samplesDone: samplesDone, samplesTotal: samples.count, tokensDone: tokensDone,
                        tokensTotal: tokensTotal, tokensPerSecond: Double(tokensThisRun) / max(seconds, 1e-9)))
            }
            try writer.writeShard(samples: ordered, features: features)
        }
    }

    /// Consecutive samples grouped so that rows × longest row stays within `batchTokens`.
    public static func batches(_ samples: [TokenizedSample], batchTokens: Int) -> [[TokenizedSample]] {
        var result: [[TokenizedSample]] = []
        var current: [TokenizedSample] = []
        var longest = 0
        for sample in samples {
            let candidate = max(longest, sample.ids.count)
            if !current.isEmpty && candidate * (current.count + 1) > batchTokens {
                result.append(current)
                current = []
                longest = 0
            }
            current.append(sample)
            longest = max(longest, sample.ids.count)
        }
        if !current.isEmpty { result.append(current) }
        return result
    }
}
