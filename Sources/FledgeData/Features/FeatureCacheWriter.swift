import Foundation
import FledgeTensor
import FledgeWeights

/// Writes target features of tokenised samples into sharded safetensors files, resumably.
///
/// Each shard holds, for its samples concatenated along tokens: `input_ids` [N] I64,
/// `loss_mask` [N] U8, `aux_hidden_states` [N, 3H] BF16, `hidden_states` [N, H] BF16
/// (final-norm) and `offsets` [samples + 1] I64. Shards are written to a temporary name and
/// renamed, then the manifest is rewritten (also atomically), so a killed run resumes after
/// its last complete shard.
public final class FeatureCacheWriter {
    public let directory: URL
    public private(set) var manifest: FeatureCacheManifest
    /// Tokens per shard (a shard closes once it holds at least this many).
    public let shardTokens: Int

    /// Opens `directory`; an existing cache of the same model, data and layers is resumed,
    /// a different one is refused.
    public init(directory: URL, manifest fresh: FeatureCacheManifest, shardTokens: Int = 32_768) throws {
        self.directory = directory
        self.shardTokens = shardTokens
        let url = directory.appendingPathComponent("manifest.json")
        if let data = try? Data(contentsOf: url) {
            guard let existing = try? JSONDecoder().decode(FeatureCacheManifest.self, from: data),
                existing.format == fresh.format
            else {
                throw DataError(.invalidCache, "\(url.path): not a Fledge feature cache manifest")
            }
            guard existing.version == fresh.version else {
                throw DataError(
                    .invalidCache,
                    "\(url.path): cache format version \(existing.version), this Fledge writes \(fresh.version)",
                    hint: "remove the folder to rebuild it")
            }
            guard existing.modelFingerprint == fresh.modelFingerprint,
                existing.dataFingerprint == fresh.dataFingerprint,
                existing.layers == fresh.layers, existing.hiddenSize == fresh.hiddenSize
            else {
                throw DataError(
                    .invalidCache, "\(url.path): the cache was built from another model, data or layer set",
                    hint: "use another --output folder, or remove this one to rebuild")
            }
            manifest = existing
        } else {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            manifest = fresh
        }
    }

    /// Ids of samples already in complete shards.
    public var completedSampleIDs: Set<String> { Set(manifest.shards.flatMap(\.sampleIDs)) }

    /// Writes one shard with `samples` and their `features` (rows in the same order).
    public func writeShard(samples: [TokenizedSample], features: [TargetFeatures]) throws {
        let h = manifest.hiddenSize
        let tokens = samples.reduce(0) { $0 + $1.ids.count }
        var ids = [Int64](), mask = [UInt8](), offsets: [Int64] = [0]
        ids.reserveCapacity(tokens)
        mask.reserveCapacity(tokens)
        var auxiliary = Data(count: tokens * 3 * h * 2)
        var last = Data(count: tokens * h * 2)
        var cursor = 0
        var sampleIndex = 0
        for feature in features {
            for b in 0..<feature.batch {
                let sample = samples[sampleIndex]
                sampleIndex += 1
                precondition(feature.lengths[b] == sample.ids.count, "features do not match sample \(sample.id)")
                ids += sample.ids.map(Int64.init)
                mask += sample.lossMask
                let rows = sample.ids.count
                let start = b * feature.length
                auxiliary.withUnsafeMutableBytes { raw in
                    HalfPrecision.toBF16(
                        feature.auxiliary.pointer + start * 3 * h,
                        raw.baseAddress!.assumingMemoryBound(to: UInt16.self) + cursor * 3 * h, count: rows * 3 * h)
                }
                last.withUnsafeMutableBytes { raw in
                    HalfPrecision.toBF16(
                        feature.lastHidden.pointer + start * h,
                        raw.baseAddress!.assumingMemoryBound(to: UInt16.self) + cursor * h, count: rows * h)
                }
                cursor += rows
                offsets.append(Int64(cursor))
            }
        }
        precondition(sampleIndex == samples.count, "\(samples.count) samples but features for \(sampleIndex)")
        let name = String(format: "shard-%05d.safetensors", manifest.shards.count)
        let url = directory.appendingPathComponent(name)
        try SafetensorsWriter().write(
            [
                .init(name: "input_ids", int64: ids),
                .init(name: "loss_mask", dtype: .u8, shape: [tokens], bytes: Data(mask)),
                .init(name: "aux_hidden_states", dtype: .bf16, shape: [tokens, 3 * h], bytes: auxiliary),
                .init(name: "hidden_states", dtype: .bf16, shape: [tokens, h], bytes: last),
                .init(name: "offsets", int64: offsets),
            ], metadata: ["format": "fledge-feature-cache-shard", "version": "1"], to: url)
        let bytes = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        manifest.shards.append(.init(file: name, sampleIDs: samples.map(\.id), tokens: tokens, bytes: bytes))
        try saveManifest()
    }

    private func saveManifest() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(manifest), to: directory.appendingPathComponent("manifest.json"))
    }
}
