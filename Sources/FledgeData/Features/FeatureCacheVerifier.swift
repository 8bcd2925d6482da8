import Foundation
import FledgeLlama
import FledgeTensor

/// Checks a feature cache against the target (`fledge cache verify`): recomputes the first
/// batches of its first shard, cut as the build cut them, and compares the features with
/// the shards bit for bit (the recomputed ones rounded to bf16, as the shards store them).
public enum FeatureCacheVerifier {
    /// What a verification compared.
    public struct Result: Sendable, Equatable {
        public var samples: Int
        /// Feature values (auxiliary and final-norm hidden state, real tokens only) compared,
        /// and how many of them differ.
        public var comparedValues: Int
        public var differentValues: Int

        /// Every compared value equals the cache.
        public var isExact: Bool { differentValues == 0 }
    }

    /// Recomputes with `model`, capturing the layers the cache holds.
    /// - Parameters:
    ///   - conversations: the data the cache was built from; `tokenizer` has the build's settings.
    ///   - batches: how many batches of the first shard to recompute.
    ///   - batchTokens: the build's `batchTokens` (``FeatureCacheBuilder/batches(_:batchTokens:)``).
    public static func verify(
        cache: CachedFeatureSource, conversations: [Conversation],
        tokenizer: ConversationTokenizer, model: LlamaModel, batches: Int,
        batchTokens: Int
    ) throws -> Result {
        try verify(
            cache: cache, conversations: conversations, tokenizer: tokenizer,
            source: try OnlineFeatureSource(
                model: model, layers: cache.manifest.layers, precision: cache.manifest.precision ?? .fp32),
            batches: batches,
            batchTokens: batchTokens)
    }

    /// Recomputes with `source`.
    /// - Throws: ``DataError`` when the cache has no shards, a cached sample is not in the
    ///   data (or the tokenizer skips it), or token ids or loss masks differ.
    public static func verify(
        cache: CachedFeatureSource, conversations: [Conversation],
        tokenizer: ConversationTokenizer, source: FeatureSource, batches: Int,
        batchTokens: Int
    ) throws -> Result {
        guard let shard = cache.manifest.shards.first else {
            throw DataError(.invalidCache, "\(cache.directory.relativePath): the cache has no shards")
        }
        let wanted = Set(shard.sampleIDs)
        let tokenized = TokenizedDataset.make(
            conversations.filter { wanted.contains($0.id) },
            tokenizer: tokenizer
        ).samples
        let byID = Dictionary(uniqueKeysWithValues: tokenized.map { ($0.id, $0) })
        let ordered = try shard.sampleIDs.map { id -> TokenizedSample in
            guard let sample = byID[id] else {
                throw DataError(
                    .invalidCache,
                    "sample \(id) of the cache is not in the data (or is skipped by its settings)")
            }
            return sample
        }
        var result = Result(samples: 0, comparedValues: 0, differentValues: 0)
        let h = cache.hiddenSize
        for batch in FeatureCacheBuilder.batches(ordered, batchTokens: batchTokens).prefix(batches) {
            let stored = try cache.features(for: batch), fresh = try source.features(for: batch)
            guard stored.ids == fresh.ids, stored.lossMask == fresh.lossMask else {
                throw DataError(.invalidCache, "token ids or loss masks differ from the cache")
            }
            for (row, length) in fresh.lengths.enumerated() {
                result.samples += 1
                let pairs = [(stored.auxiliary, fresh.auxiliary, 3 * h), (stored.lastHidden, fresh.lastHidden, h)]
                for (cached, recomputed, width) in pairs {
                    let start = row * fresh.length * width, count = length * width
                    result.comparedValues += count
                    result.differentValues += differences(
                        cached.pointer + start, recomputed.pointer + start,
                        count: count)
                }
            }
        }
        return result
    }

    /// How many of `count` cached values differ from the recomputed ones rounded to bf16.
    static func differences(_ cached: UnsafePointer<Float>, _ recomputed: UnsafePointer<Float>, count: Int) -> Int {
        var different = 0
        for i in 0..<count {
            let rounded = HalfPrecision.float(bf16: HalfPrecision.bf16Bits(recomputed[i]))
            if cached[i].bitPattern != rounded.bitPattern { different += 1 }
        }
        return different
    }
}
