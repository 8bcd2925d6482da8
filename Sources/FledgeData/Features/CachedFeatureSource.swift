import Foundation
import FledgeTensor
import FledgeWeights

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
        guard let data = try? Data(contentsOf: url),
            let manifest = try? JSONDecoder().decode(FeatureCacheManifest.self, from: data),
            manifest.format == "fledge-feature-cache"
        else {
            throw DataError(
                .invalidCache, "\(url.path): no Fledge feature cache here", hint: "build one with fledge cache build")
        }
        guard manifest.version == 1 else {
            throw DataError(.invalidCache, "\(url.path): unsupported cache version \(manifest.version)")
        }
        if let modelFingerprint, modelFingerprint != manifest.modelFingerprint {
            throw DataError(
                .invalidCache, "\(url.path): the cache was built with another target model",
                hint: "rebuild it with fledge cache build")
        }
        if let dataFingerprint, dataFingerprint != manifest.dataFingerprint {
            throw DataError(
                .invalidCache, "\(url.path): the cache was built from other data",
                hint: "rebuild it with fledge cache build")
        }
        self.manifest = manifest
        var location: [String: (String, Int)] = [:]
        for shard in manifest.shards {
            for (index, id) in shard.sampleIDs.enumerated() { location[id] = (shard.file, index) }
        }
        self.location = location
    }

    public var hiddenSize: Int { manifest.hiddenSize }

    public func features(for samples: [TokenizedSample]) throws -> TargetFeatures {
        let h = hiddenSize
        let length = samples.map(\.ids.count).max() ?? 0
        let rows = samples.count * length
        var ids = [Int32](repeating: 0, count: rows), mask = [UInt8](repeating: 0, count: rows)
        let auxiliary = Tensor(zeros: [rows, 3 * h]), last = Tensor(zeros: [rows, h])
        for (b, sample) in samples.enumerated() {
            guard let (shard, index) = location[sample.id] else {
                throw DataError(
                    .invalidCache, "\(directory.path): sample \(sample.id) is not in the cache",
                    hint: "rebuild the cache for this data")
            }
            let file = try shardFile(shard)
            let bounds = try shardOffsets(shard, file)
            let start = Int(bounds[index]), end = Int(bounds[index + 1])
            guard end - start == sample.ids.count else {
                throw DataError(
                    .invalidCache,
                    "\(shard): sample \(sample.id) has \(end - start) cached tokens, the data has \(sample.ids.count)")
            }
            let row = b * length
            try file.withRawBytes("input_ids") { raw in
                for i in 0..<(end - start) {
                    ids[row + i] = Int32(raw.loadUnaligned(fromByteOffset: 8 * (start + i), as: Int64.self))
                }
            }
            try file.withRawBytes("loss_mask") { raw in for i in 0..<(end - start) { mask[row + i] = raw[start + i] } }
            try file.withRawBytes("aux_hidden_states") { raw in
                HalfPrecision.fromBF16(
                    raw.baseAddress!.assumingMemoryBound(to: UInt16.self) + start * 3 * h,
                    auxiliary.pointer + row * 3 * h, count: (end - start) * 3 * h)
            }
            try file.withRawBytes("hidden_states") { raw in
                HalfPrecision.fromBF16(
                    raw.baseAddress!.assumingMemoryBound(to: UInt16.self) + start * h,
                    last.pointer + row * h, count: (end - start) * h)
            }
        }
        return TargetFeatures(
            batch: samples.count, length: length, lengths: samples.map(\.ids.count), ids: ids,
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
