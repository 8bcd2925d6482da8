import Foundation
import FledgeTensor

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
    /// The arithmetic of the target's forward that made the features (absent: fp32).
    public var precision: Precision?

    enum CodingKeys: String, CodingKey {
        case format, version, layers, shards, precision
        case modelFingerprint = "model_fingerprint", dataFingerprint = "data_fingerprint", hiddenSize = "hidden_size"
    }

    public init(modelFingerprint: String, dataFingerprint: String, layers: [Int], hiddenSize: Int) {
        self.modelFingerprint = modelFingerprint
        self.dataFingerprint = dataFingerprint
        self.layers = layers
        self.hiddenSize = hiddenSize
    }

    /// Samples in all shards.
    public var sampleCount: Int { shards.reduce(0) { $0 + $1.sampleIDs.count } }
    /// Bytes of all shard files.
    public var shardBytes: Int { shards.reduce(0) { $0 + $1.bytes } }

    /// Bytes of tensor data one token costs: I64 id, U8 mask, BF16 aux (3H) and last (H).
    public static func bytesPerToken(hiddenSize: Int) -> Int { 8 + 1 + 2 * 4 * hiddenSize }

    /// The exact size of a shard's tensor data (without the safetensors header).
    public static func payloadBytes(tokens: Int, samples: Int, hiddenSize: Int) -> Int {
        tokens * bytesPerToken(hiddenSize: hiddenSize) + 8 * (samples + 1)
    }
}
