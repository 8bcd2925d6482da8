import Foundation
import Testing
@testable import FledgeData
import FledgeLlama
import FledgeTemplate

/// `fledge cache verify` as library API: a cache recomputed with the target in the batches of
/// its build is bit-exact; a changed shard, missing data or an empty cache are reported.
@Suite struct FeatureCacheVerifierTests {
    func conversations() -> [Conversation] {
        (0..<6).map { i in
            let answer = "answer " + String(repeating: "x", count: i)
            return Conversation(
                id: "c\(i)",
                messages: [
                    ChatMessage(role: "user", content: "question \(i)?"),
                    ChatMessage(role: "assistant", content: answer),
                ])
        }
    }

    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A one-shard cache of `conversations()` built online with the tiny target in batches of
    /// at most 96 tokens.
    func build(_ target: TargetModel) throws -> (URL, ConversationTokenizer) {
        let tokenizer = ConversationTokenizer(format: target.format, maxLength: 64)
        let samples = TokenizedDataset.make(conversations(), tokenizer: tokenizer).samples
        #expect(samples.count == 6)
        let source = try OnlineFeatureSource(model: target.model, layers: [0, 1, 2])
        let directory = try temporary()
        let manifest = FeatureCacheManifest(
            modelFingerprint: "m", dataFingerprint: "d", layers: source.layers,
            hiddenSize: source.hiddenSize)
        let writer = try FeatureCacheWriter(directory: directory, manifest: manifest, shardTokens: 100_000)
        try FeatureCacheBuilder.build(samples: samples, source: source, writer: writer, batchTokens: 96)
        return (directory, tokenizer)
    }

    @Test func aCacheRecomputedInItsBuildBatchesIsBitExact() throws {
        let target = try TinyTarget.make()
        let (directory, tokenizer) = try build(target)
        let cache = try CachedFeatureSource(directory: directory)
        let samples = TokenizedDataset.make(conversations(), tokenizer: tokenizer).samples
        let batches = FeatureCacheBuilder.batches(samples, batchTokens: 96)
        #expect(batches.count >= 2)
        let result = try FeatureCacheVerifier.verify(
            cache: cache, conversations: conversations(), tokenizer: tokenizer,
            model: target.model, batches: 2, batchTokens: 96)
        let checked = batches.prefix(2).joined()
        #expect(result.samples == checked.count)
        #expect(result.comparedValues == checked.reduce(0) { $0 + $1.ids.count } * 4 * cache.hiddenSize)
        #expect(result.isExact && result.differentValues == 0)
    }

    @Test func aChangedShardIsReported() throws {
        let target = try TinyTarget.make()
        let (directory, tokenizer) = try build(target)
        // Flip one bf16 value near the end of the first shard (the final-norm hidden states).
        let file = try CachedFeatureSource(directory: directory).manifest.shards[0].file
        let shard = directory.appendingPathComponent(file)
        var bytes = try Data(contentsOf: shard)
        let offsets = 8 * (6 + 1)
        bytes[bytes.count - offsets - 2] ^= 0x40
        try bytes.write(to: shard)
        let result = try FeatureCacheVerifier.verify(
            cache: try CachedFeatureSource(directory: directory),
            conversations: conversations(), tokenizer: tokenizer,
            model: target.model, batches: 100, batchTokens: 96)
        #expect(result.samples == 6)
        #expect(!result.isExact && result.differentValues == 1)
    }

    @Test func missingDataAndEmptyCachesAreErrors() throws {
        let target = try TinyTarget.make()
        let (directory, tokenizer) = try build(target)
        let cache = try CachedFeatureSource(directory: directory)
        #expect {
            try FeatureCacheVerifier.verify(
                cache: cache, conversations: Array(conversations().dropFirst()),
                tokenizer: tokenizer, model: target.model, batches: 1, batchTokens: 96)
        } throws: { "\($0)".contains("sample c0 of the cache is not in the data") }
        let empty = try temporary()
        let manifest = FeatureCacheManifest(
            modelFingerprint: "m", dataFingerprint: "d", layers: [0, 1, 2],
            hiddenSize: cache.hiddenSize)
        try JSONEncoder().encode(manifest).write(to: empty.appendingPathComponent("manifest.json"))
        #expect {
            try FeatureCacheVerifier.verify(
                cache: try CachedFeatureSource(directory: empty),
                conversations: conversations(), tokenizer: tokenizer, model: target.model,
                batches: 1, batchTokens: 96)
        } throws: { "\($0)".contains("the cache has no shards") }
    }
}
