import Foundation
import FledgeTensor
import FledgeWeights

/// The manifest of a feature cache folder (`manifest.json`, format `fledge-feature-cache` v1).
public struct FeatureCacheManifest: Codable, Equatable, Sendable {
    public struct Shard: Codable, Equatable, Sendable {
        public var file: String
        public var sampleIDs: [String]
        public var tokens: Int
        public var bytes: Int
        enum CodingKeys: String, CodingKey { case file, sampleIDs = "sample_ids", tokens, bytes }
    }

    public var format = "fledge-feature-cache"
    public var version = 1
    public var modelFingerprint: String
    public var dataFingerprint: String
    /// Target layers whose outputs form `aux_hidden_states` (low | mid | high).
    public var layers: [Int]
    public var hiddenSize: Int
    public var shards: [Shard] = []

    enum CodingKeys: String, CodingKey {
        case format, version, layers, shards
        case modelFingerprint = "model_fingerprint", dataFingerprint = "data_fingerprint", hiddenSize = "hidden_size"
    }

    public init(modelFingerprint: String, dataFingerprint: String, layers: [Int], hiddenSize: Int) {
        self.modelFingerprint = modelFingerprint
        self.dataFingerprint = dataFingerprint
        self.layers = layers
        self.hiddenSize = hiddenSize
    }

    /// Bytes of tensor data one token costs: I64 id, U8 mask, BF16 aux (3H) and last (H).
    public static func bytesPerToken(hiddenSize: Int) -> Int { 8 + 1 + 2 * 4 * hiddenSize }

    /// The exact size of a shard's tensor data (without the safetensors header).
    public static func payloadBytes(tokens: Int, samples: Int, hiddenSize: Int) -> Int {
        tokens * bytesPerToken(hiddenSize: hiddenSize) + 8 * (samples + 1)
    }
}

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
            guard let existing = try? JSONDecoder().decode(FeatureCacheManifest.self, from: data), existing.format == fresh.format else {
                throw DataError(.invalidCache, "\(url.path): not a Fledge feature cache manifest")
            }
            guard existing.version == fresh.version else {
                throw DataError(.invalidCache, "\(url.path): cache format version \(existing.version), this Fledge writes \(fresh.version)",
                                     hint: "remove the folder to rebuild it")
            }
            guard existing.modelFingerprint == fresh.modelFingerprint, existing.dataFingerprint == fresh.dataFingerprint,
                  existing.layers == fresh.layers, existing.hiddenSize == fresh.hiddenSize else {
                throw DataError(.invalidCache, "\(url.path): the cache was built from another model, data or layer set",
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
                    HalfPrecision.toBF16(feature.auxiliary.pointer + start * 3 * h,
                                         raw.baseAddress!.assumingMemoryBound(to: UInt16.self) + cursor * 3 * h, count: rows * 3 * h)
                }
                last.withUnsafeMutableBytes { raw in
                    HalfPrecision.toBF16(feature.lastHidden.pointer + start * h,
                                         raw.baseAddress!.assumingMemoryBound(to: UInt16.self) + cursor * h, count: rows * h)
                }
                cursor += rows
                offsets.append(Int64(cursor))
            }
        }
        precondition(sampleIndex == samples.count, "\(samples.count) samples but features for \(sampleIndex)")
        let name = String(format: "shard-%05d.safetensors", manifest.shards.count)
        let url = directory.appendingPathComponent(name)
        try SafetensorsWriter().write([
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

/// Reads a feature cache: the offline ``FeatureSource``.
public final class CachedFeatureSource: FeatureSource {
    public let directory: URL
    public let manifest: FeatureCacheManifest
    public var layers: [Int] { manifest.layers }
    private var files: [String: SafetensorsFile] = [:]
    private var offsets: [String: [Int64]] = [:]
    private let location: [String: (shard: String, index: Int)]

    /// Opens the cache in `directory`; with fingerprints given, a cache of another model or
    /// data is refused.
    public init(directory: URL, modelFingerprint: String? = nil, dataFingerprint: String? = nil) throws {
        self.directory = directory
        let url = directory.appendingPathComponent("manifest.json")
        guard let data = try? Data(contentsOf: url), let manifest = try? JSONDecoder().decode(FeatureCacheManifest.self, from: data),
              manifest.format == "fledge-feature-cache" else {
            throw DataError(.invalidCache, "\(url.path): no Fledge feature cache here", hint: "build one with fledge cache build")
        }
        guard manifest.version == 1 else { throw DataError(.invalidCache, "\(url.path): unsupported cache version \(manifest.version)") }
        if let modelFingerprint, modelFingerprint != manifest.modelFingerprint {
            throw DataError(.invalidCache, "\(url.path): the cache was built with another target model", hint: "rebuild it with fledge cache build")
        }
        if let dataFingerprint, dataFingerprint != manifest.dataFingerprint {
            throw DataError(.invalidCache, "\(url.path): the cache was built from other data", hint: "rebuild it with fledge cache build")
        }
        self.manifest = manifest
        var location: [String: (String, Int)] = [:]
        for shard in manifest.shards {
            for (index, id) in shard.sampleIDs.enumerated() { location[id] = (shard.file, index) }
        }
        self.location = location
    }

    public var hiddenSize: Int { manifest.hiddenSize }

    /// Every sample id in the cache.
    public var sampleIDs: [String] { manifest.shards.flatMap(\.sampleIDs) }

    public func features(for samples: [TokenizedSample]) throws -> TargetFeatures {
        let h = hiddenSize
        let length = samples.map(\.ids.count).max() ?? 0
        let rows = samples.count * length
        var ids = [Int32](repeating: 0, count: rows), mask = [UInt8](repeating: 0, count: rows)
        let auxiliary = Tensor(zeros: [rows, 3 * h]), last = Tensor(zeros: [rows, h])
        for (b, sample) in samples.enumerated() {
            guard let (shard, index) = location[sample.id] else {
                throw DataError(.invalidCache, "\(directory.path): sample \(sample.id) is not in the cache", hint: "rebuild the cache for this data")
            }
            let file = try shardFile(shard)
            let bounds = try shardOffsets(shard, file)
            let start = Int(bounds[index]), end = Int(bounds[index + 1])
            guard end - start == sample.ids.count else {
                throw DataError(.invalidCache, "\(shard): sample \(sample.id) has \(end - start) cached tokens, the data has \(sample.ids.count)")
            }
            let row = b * length
            try file.withRawBytes("input_ids") { raw in
                for i in 0..<(end - start) { ids[row + i] = Int32(raw.loadUnaligned(fromByteOffset: 8 * (start + i), as: Int64.self)) }
            }
            try file.withRawBytes("loss_mask") { raw in for i in 0..<(end - start) { mask[row + i] = raw[start + i] } }
            try file.withRawBytes("aux_hidden_states") { raw in
                HalfPrecision.fromBF16(raw.baseAddress!.assumingMemoryBound(to: UInt16.self) + start * 3 * h,
                                       auxiliary.pointer + row * 3 * h, count: (end - start) * 3 * h)
            }
            try file.withRawBytes("hidden_states") { raw in
                HalfPrecision.fromBF16(raw.baseAddress!.assumingMemoryBound(to: UInt16.self) + start * h,
                                       last.pointer + row * h, count: (end - start) * h)
            }
        }
        return TargetFeatures(batch: samples.count, length: length, lengths: samples.map(\.ids.count), ids: ids,
                              lossMask: mask, auxiliary: auxiliary, lastHidden: last)
    }

    private func shardFile(_ name: String) throws -> SafetensorsFile {
        if let file = files[name] { return file }
        let file = try SafetensorsFile(url: directory.appendingPathComponent(name))
        files[name] = file
        return file
    }

    private func shardOffsets(_ name: String, _ file: SafetensorsFile) throws -> [Int64] {
        if let cached = offsets[name] { return cached }
        let values = try file.integers("offsets")
        offsets[name] = values
        return values
    }
}
