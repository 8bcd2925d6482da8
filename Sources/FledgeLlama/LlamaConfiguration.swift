import Foundation
import FledgeNN
import FledgeWeights

/// The configuration of a Llama-family model (`llama`, `mistral`, `qwen2`, `qwen3`, `minicpm`),
/// read from a Hugging Face `config.json` or from GGUF metadata. Unknown model types and unsupported
/// options throw; they never produce a silently different model.
public struct LlamaConfiguration: Codable, Sendable, Equatable {
    public var modelType: String
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDimension: Int
    public var vocabularySize: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var ropeScaling: RoPEScaling
    public var maxPositions: Int
    public var tieWordEmbeddings: Bool
    /// Q/K/V projections have biases (qwen2, or `attention_bias` in llama).
    public var attentionBias: Bool
    /// Per-head RMSNorm of queries and keys before RoPE (qwen3).
    public var queryKeyNorm: Bool
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]
    /// MiniCPM's scales (1 for every other model): the token embedding is multiplied by
    /// `embeddingMultiplier` (`scale_emb`), each sublayer's output by `residualMultiplier`
    /// (`scale_depth / √num_hidden_layers`) before it joins the residual stream, and the final
    /// norm's output by `logitMultiplier` (`dim_model_base / hidden_size`) before the head.
    public var embeddingMultiplier: Float = 1
    public var residualMultiplier: Float = 1
    public var logitMultiplier: Float = 1

    public static let supportedModelTypes = ["llama", "mistral", "qwen2", "qwen3", "minicpm"]

    /// The RoPE of a draft of this model: the model's, except LongRoPE, whose per-frequency
    /// factors stay with the target (the draft runs plain RoPE with the target's θ, a layout
    /// every server loads; its positions never approach the original context length).
    public var draftRoPEScaling: RoPEScaling {
        switch ropeScaling {
        case .longrope, .frequencyFactors: return .none
        default: return ropeScaling
        }
    }

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case layerCount = "num_hidden_layers"
        case headCount = "num_attention_heads"
        case kvHeadCount = "num_key_value_heads"
        case headDimension = "head_dim"
        case vocabularySize = "vocab_size"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters"
        case maxPositions = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias"
        case hiddenAct = "hidden_act"
        case bosTokenID = "bos_token_id"
        case eosTokenID = "eos_token_id"
        case useSlidingWindow = "use_sliding_window"
        case slidingWindow = "sliding_window"
        case mlpBias = "mlp_bias"
        case scaleEmbedding = "scale_emb"
        case scaleDepth = "scale_depth"
        case dimModelBase = "dim_model_base"
    }

    /// A configuration for tests and conversions.
    public init(
        modelType: String = "llama", hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int,
        kvHeadCount: Int, headDimension: Int? = nil, vocabularySize: Int, rmsNormEps: Float = 1e-5,
        ropeTheta: Float = 10_000, ropeScaling: RoPEScaling = .none, maxPositions: Int = 2048,
        tieWordEmbeddings: Bool = false, attentionBias: Bool = false, queryKeyNorm: Bool = false,
        bosTokenID: Int? = nil, eosTokenIDs: [Int] = [], embeddingMultiplier: Float = 1,
        residualMultiplier: Float = 1, logitMultiplier: Float = 1, fieldNames: [String: String] = [:]
    ) throws {
        self.modelType = modelType
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDimension = headDimension ?? (headCount > 0 ? hiddenSize / headCount : 0)
        self.vocabularySize = vocabularySize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.maxPositions = maxPositions
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.queryKeyNorm = queryKeyNorm
        self.bosTokenID = bosTokenID
        self.eosTokenIDs = eosTokenIDs
        self.embeddingMultiplier = embeddingMultiplier
        self.residualMultiplier = residualMultiplier
        self.logitMultiplier = logitMultiplier
        try validate { fieldNames[$0] ?? $0 }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decode(String.self, forKey: .modelType)
        guard Self.supportedModelTypes.contains(modelType) else {
            throw LlamaError(
                "config.json: model_type \"\(modelType)\" is not supported",
                hint: "supported: \(Self.supportedModelTypes.joined(separator: ", "))")
        }
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        layerCount = try c.decode(Int.self, forKey: .layerCount)
        headCount = try c.decode(Int.self, forKey: .headCount)
        kvHeadCount = try c.decodeIfPresent(Int.self, forKey: .kvHeadCount) ?? headCount
        if let given = try c.decodeIfPresent(Int.self, forKey: .headDimension) {
            headDimension = given
        } else {
            guard headCount > 0, hiddenSize % headCount == 0 else {
                throw LlamaError(
                    "config.json: num_attention_heads \(headCount) does not divide hidden_size \(hiddenSize)",
                    hint: "give head_dim when the heads are not hidden_size / num_attention_heads wide")
            }
            headDimension = hiddenSize / headCount
        }
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        maxPositions = try c.decodeIfPresent(Int.self, forKey: .maxPositions) ?? 2048
        // MiniCPM's modeling code ties the head to the embedding unless the config says otherwise.
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? (modelType == "minicpm")
        let activation = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        guard activation == "silu" else {
            throw LlamaError("config.json: hidden_act \"\(activation)\" is not supported (only silu)")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .mlpBias) == true {
            throw LlamaError("config.json: mlp_bias = true is not supported")
        }
        let declaredBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        attentionBias = modelType == "qwen2" || declaredBias
        queryKeyNorm = modelType == "qwen3"
        bosTokenID = try c.decodeIfPresent(Int.self, forKey: .bosTokenID)
        if let single = try? c.decodeIfPresent(Int.self, forKey: .eosTokenID) {
            eosTokenIDs = [single]
        } else {
            eosTokenIDs = (try? c.decodeIfPresent([Int].self, forKey: .eosTokenID)) ?? []
        }
        // RoPE: transformers 5 writes `rope_parameters`, older configs `rope_theta` + `rope_scaling`.
        let parameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        let legacy = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? parameters?.ropeTheta ?? 10_000
        ropeScaling = try (parameters ?? legacy)?.scaling(maxPositions: maxPositions) ?? .none
        if case .longrope = ropeScaling, modelType != "minicpm" {
            throw LlamaError(
                "config.json: rope_scaling longrope is supported for minicpm models only",
                hint: "other model types apply LongRoPE by rules Fledge does not implement")
        }
        if modelType == "minicpm" {
            // Defaults of MiniCPM's configuration class when a key is missing.
            let scaleEmbedding = try c.decodeIfPresent(Float.self, forKey: .scaleEmbedding) ?? 1
            let scaleDepth = try c.decodeIfPresent(Float.self, forKey: .scaleDepth) ?? 1
            let dimModelBase = try c.decodeIfPresent(Float.self, forKey: .dimModelBase) ?? 1
            for (key, value) in [
                ("scale_emb", scaleEmbedding), ("scale_depth", scaleDepth), ("dim_model_base", dimModelBase),
            ]
            where !(value.isFinite && value > 0) {
                throw LlamaError("config.json: \(key) is \(value); it must be positive and finite")
            }
            embeddingMultiplier = scaleEmbedding
            residualMultiplier = scaleDepth / Float(layerCount).squareRoot()
            logitMultiplier = dimModelBase / Float(hiddenSize)
        }
        if try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) == true,
            let window = try c.decodeIfPresent(Int.self, forKey: .slidingWindow), window < maxPositions
        {
            throw LlamaError(
                "config.json: sliding-window attention (window \(window)) is not supported",
                hint: "models that set use_sliding_window are not Llama-family full attention")
        }
        try validate()
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(layerCount, forKey: .layerCount)
        try c.encode(headCount, forKey: .headCount)
        try c.encode(kvHeadCount, forKey: .kvHeadCount)
        try c.encode(headDimension, forKey: .headDimension)
        try c.encode(vocabularySize, forKey: .vocabularySize)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(RopeParameters(ropeScaling), forKey: .ropeScaling)
        try c.encode(maxPositions, forKey: .maxPositions)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(attentionBias, forKey: .attentionBias)
        try c.encode("silu", forKey: .hiddenAct)
        try c.encodeIfPresent(bosTokenID, forKey: .bosTokenID)
        if !eosTokenIDs.isEmpty { try c.encode(eosTokenIDs, forKey: .eosTokenID) }
        if modelType == "minicpm" {
            try c.encode(embeddingMultiplier, forKey: .scaleEmbedding)
            try c.encode(residualMultiplier * Float(layerCount).squareRoot(), forKey: .scaleDepth)
            try c.encode(logitMultiplier * Float(hiddenSize), forKey: .dimModelBase)
        }
    }

    /// Limits that keep a hostile configuration from allocating without bound before its
    /// weights are compared with it (the RoPE tables hold `max_position_embeddings` rows).
    public static let maxDimension = 1 << 24
    public static let maxLayers = 4096
    public static let maxPositionsLimit = 1 << 20

    /// Range checks of every dimension; `field` names a `config.json` key as the source spells it.
    func validate(_ field: (String) -> String = { $0 }) throws {
        func check(_ key: String, _ value: Int, _ limit: Int) throws {
            guard value > 0 else { throw LlamaError("configuration: \(field(key)) is \(value); it must be positive") }
            guard value <= limit else {
                throw LlamaError("configuration: \(field(key)) is \(value), more than Fledge's limit of \(limit)")
            }
        }
        try check("hidden_size", hiddenSize, Self.maxDimension)
        try check("intermediate_size", intermediateSize, Self.maxDimension)
        try check("num_hidden_layers", layerCount, Self.maxLayers)
        try check("num_attention_heads", headCount, Self.maxDimension)
        try check("num_key_value_heads", kvHeadCount, Self.maxDimension)
        try check("head_dim", headDimension, Self.maxDimension)
        try check("vocab_size", vocabularySize, Self.maxDimension)
        try check("max_position_embeddings", maxPositions, Self.maxPositionsLimit)
        guard headCount % kvHeadCount == 0 else {
            throw LlamaError(
                "configuration: \(field("num_attention_heads")) \(headCount) is not a multiple of "
                    + "\(field("num_key_value_heads")) \(kvHeadCount)")
        }
        guard headDimension % 16 == 0 else {
            throw LlamaError(
                "configuration: head dimension \(headDimension) is not a multiple of 16, which Fledge's attention needs"
            )
        }
        guard rmsNormEps.isFinite, rmsNormEps > 0 else {
            throw LlamaError("configuration: \(field("rms_norm_eps")) is \(rmsNormEps); it must be positive and finite")
        }
        guard ropeTheta.isFinite, ropeTheta > 0 else {
            throw LlamaError("configuration: \(field("rope_theta")) is \(ropeTheta); it must be positive and finite")
        }
        for (key, value) in [
            ("scale_emb", embeddingMultiplier), ("scale_depth", residualMultiplier),
            ("dim_model_base", logitMultiplier),
        ] where !(value.isFinite && value > 0) {
            throw LlamaError(
                "configuration: the multiplier of \(field(key)) is \(value); it must be positive and finite")
        }
        switch ropeScaling {
        case .none: break
        case .linear(let factor):
            guard factor.isFinite, factor > 0 else {
                throw LlamaError("configuration: rope_scaling factor \(factor) must be positive and finite")
            }
        case .llama3(let factor, let low, let high, let original):
            guard factor.isFinite, factor > 0, low.isFinite, low > 0, high.isFinite, high > low, original > 0 else {
                throw LlamaError(
                    "configuration: rope_scaling llama3 (factor \(factor), low_freq_factor \(low), "
                        + "high_freq_factor \(high), original_max_position_embeddings \(original)) is out of range",
                    hint: "factors must be positive and finite, high_freq_factor above low_freq_factor")
            }
        case .frequencyFactors(let factors):
            guard factors.count == headDimension / 2 else {
                throw LlamaError(
                    "configuration: rope_freqs.weight holds \(factors.count) factors; a head dimension of "
                        + "\(headDimension) needs \(headDimension / 2)")
            }
            if let bad = factors.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw LlamaError(
                    "configuration: rope_freqs.weight[\(bad)] is \(factors[bad]); factors must be positive and finite")
            }
        case .longrope(let short, let long, let original, let declared):
            for (key, factors) in [("short_factor", short), ("long_factor", long)] {
                guard factors.count == headDimension / 2 else {
                    throw LlamaError(
                        "configuration: \(field("rope_scaling")).\(key) holds \(factors.count) factors; a head "
                            + "dimension of \(headDimension) needs \(headDimension / 2)")
                }
                if let bad = factors.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                    throw LlamaError(
                        "configuration: \(field("rope_scaling")).\(key)[\(bad)] is \(factors[bad]); factors must "
                            + "be positive and finite")
                }
            }
            let factor = RoPEScaling.longRoPEAttentionFactor(maxPositions: declared, originalMaxPositions: original)
            guard original > 1, original <= Self.maxPositionsLimit, factor.isFinite, factor > 0 else {
                throw LlamaError(
                    "configuration: rope_scaling original_max_position_embeddings \(original) is out of range "
                        + "for \(declared) positions")
            }
        }
        for (key, id) in [("bos_token_id", bosTokenID)] + eosTokenIDs.map({ ("eos_token_id", $0) }) {
            guard let id else { continue }
            guard id >= 0, id < vocabularySize else {
                throw LlamaError(
                    "configuration: \(field(key)) \(id) is outside the vocabulary (\(field("vocab_size")) "
                        + "\(vocabularySize))")
            }
        }
    }

    /// The configuration of a Hugging Face folder or a `.gguf` file, without loading weights.
    public static func load(from url: URL) throws -> LlamaConfiguration {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        if isDirectory.boolValue { return try load(modelDirectory: url) }
        return try LlamaConfiguration(gguf: try GGUFFile(url: url))
    }

    /// Loads `config.json` from a model folder.
    public static func load(modelDirectory: URL) throws -> LlamaConfiguration {
        let url = modelDirectory.appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: url) else { throw LlamaError("\(url.path): cannot read config.json") }
        do {
            return try JSONDecoder().decode(LlamaConfiguration.self, from: data)
        } catch let error as LlamaError {
            // The file's path replaces the generic "config.json: " prefix.
            let message = error.message.hasPrefix("config.json: ") ? String(error.message.dropFirst(13)) : error.message
            throw LlamaError("\(url.path): \(message)", hint: error.hint)
        } catch let error as DecodingError {
            throw LlamaError("\(url.path): \(Self.describe(error))")
        } catch {
            throw LlamaError("\(url.path): \(error)")
        }
    }

    /// A decoding error as the key and what is wrong with it.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing key \(parent.isEmpty ? "" : parent + ".")\(key.stringValue)"
        case .typeMismatch(let type, let context):
            return "\(path(context)) is not \(type == Int.self ? "an integer" : "a \(type)") "
                + "(\(context.debugDescription))"
        case .valueNotFound(let type, let context):
            return "\(path(context)) is null, expected \(type)"
        case .dataCorrupted(let context):
            let key = path(context)
            return (key.isEmpty ? "" : "\(key): ") + "\(context.debugDescription)"
                + ((context.underlyingError as NSError?).map { " (\($0.localizedDescription))" } ?? "")
        @unknown default:
            return "\(error)"
        }
    }
}

/// `rope_scaling` / `rope_parameters` of a Hugging Face config.
struct RopeParameters: Codable {
    var ropeType: String?
    var type: String?
    var factor: Float?
    var lowFrequencyFactor: Float?
    var highFrequencyFactor: Float?
    var originalMaxPositions: Int?
    var ropeTheta: Float?
    var shortFactor: [Float]?
    var longFactor: [Float]?

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type", type, factor
        case lowFrequencyFactor = "low_freq_factor", highFrequencyFactor = "high_freq_factor"
        case originalMaxPositions = "original_max_position_embeddings"
        case ropeTheta = "rope_theta"
        case shortFactor = "short_factor", longFactor = "long_factor"
    }

    init?(_ scaling: RoPEScaling) {
        switch scaling {
        case .none: return nil
        case .linear(let factor): ropeType = "linear"; self.factor = factor
        case .llama3(let factor, let low, let high, let original):
            ropeType = "llama3"; self.factor = factor; lowFrequencyFactor = low; highFrequencyFactor = high;
            originalMaxPositions = original
        case .longrope(let short, let long, let original, _):
            ropeType = "longrope"; shortFactor = short; longFactor = long; originalMaxPositions = original
        case .frequencyFactors: return nil  // a GGUF's own tensor; config.json has no form of it
        }
    }

    /// - Parameter maxPositions: the config's `max_position_embeddings` (LongRoPE chooses its
    ///   factors by it).
    func scaling(maxPositions: Int) throws -> RoPEScaling {
        switch ropeType ?? type ?? "default" {
        case "default": return .none
        case "linear":
            guard let factor else { throw LlamaError("config.json: rope_scaling linear needs a factor") }
            return .linear(factor: factor)
        case "llama3":
            guard let factor, let lowFrequencyFactor, let highFrequencyFactor, let originalMaxPositions else {
                throw LlamaError(
                    "config.json: rope_scaling llama3 needs factor, low_freq_factor, high_freq_factor "
                        + "and original_max_position_embeddings"
                )
            }
            return .llama3(
                factor: factor, lowFrequencyFactor: lowFrequencyFactor, highFrequencyFactor: highFrequencyFactor,
                originalMaxPositions: originalMaxPositions)
        case "longrope":
            guard let shortFactor, let longFactor else {
                throw LlamaError("config.json: rope_scaling longrope needs short_factor and long_factor")
            }
            return .longrope(
                shortFactors: shortFactor, longFactors: longFactor,
                originalMaxPositions: originalMaxPositions ?? maxPositions, maxPositions: maxPositions)
        case let other:
            throw LlamaError(
                "config.json: rope_scaling type \"\(other)\" is not supported",
                hint: "supported: default, linear, llama3, longrope (minicpm)")
        }
    }
}

extension LlamaConfiguration {
    /// The configuration stored in a GGUF file's metadata (`{arch}.block_count` and friends),
    /// range-checked, with the block count compared with the `blk.N.*` tensors present.
    public init(gguf file: GGUFFile) throws {
        let path = file.url.path
        guard let architecture = file.architecture else {
            throw LlamaError("\(path): no general.architecture")
        }
        guard Self.supportedModelTypes.contains(architecture) else {
            throw LlamaError(
                "\(path): GGUF architecture \"\(architecture)\" is not supported",
                hint: "supported: \(Self.supportedModelTypes.joined(separator: ", "))")
        }
        func int(_ key: String) throws -> Int {
            guard let value = optional(key) else {
                throw LlamaError("\(path): missing metadata \(architecture).\(key)")
            }
            guard let number = value.int else {
                throw LlamaError("\(path): metadata \(architecture).\(key) is \(value), not an integer")
            }
            return number
        }
        func optionalInt(_ key: String) throws -> Int? { optional(key) == nil ? nil : try int(key) }
        func optional(_ key: String) -> GGUFValue? { file.metadata["\(architecture).\(key)"] }
        let hidden = try int("embedding_length")
        let heads = try int("attention.head_count")
        let blocks = try int("block_count")
        guard heads > 0 else {
            throw LlamaError("\(path): \(architecture).attention.head_count is \(heads); it must be positive")
        }
        let headDimension = try optionalInt("attention.key_length")
        if headDimension == nil, hidden % heads != 0 {
            throw LlamaError(
                "\(path): \(architecture).attention.head_count \(heads) does not divide "
                    + "\(architecture).embedding_length \(hidden)",
                hint: "a GGUF whose heads are not embedding_length / head_count wide gives attention.key_length")
        }
        // The blocks present: `blk.N.*` tensors, N < block_count.
        let layers = Set(
            file.tensors.compactMap { info -> Int? in
                let parts = info.name.split(separator: ".", maxSplits: 2)
                return parts.count == 3 && parts[0] == "blk" ? Int(parts[1]) : nil
            })
        guard blocks == layers.count, layers.allSatisfy({ $0 >= 0 && $0 < blocks }) else {
            throw LlamaError(
                "\(path): \(architecture).block_count is \(blocks) but the file has tensors of "
                    + "\(layers.count) blocks (blk.\(layers.min() ?? 0) to blk.\(layers.max() ?? 0))")
        }
        let vocabulary = try optionalInt("vocab_size") ?? file.metadata["tokenizer.ggml.tokens"]?.array?.count
        guard let vocabulary else {
            throw LlamaError("\(path): no vocabulary size (no \(architecture).vocab_size or tokenizer.ggml.tokens)")
        }
        let contextLength = try optionalInt("context_length") ?? 2048
        /// A one-dimensional F32/F16 tensor of factors (RoPE scaling).
        func factors(_ name: String) throws -> [Float] {
            guard let info = file.info(name) else {
                throw LlamaError("\(path): RoPE scaling needs the tensor \(name)")
            }
            guard info.shape.count == 1, info.shape[0] > 0, info.shape[0] <= Self.maxDimension else {
                throw LlamaError("\(path): tensor \(name) has shape \(info.shape), expected one dimension")
            }
            return try file.tensor(name).values
        }
        var scaling = RoPEScaling.none
        if file.info("rope_freqs.weight") != nil {
            scaling = .frequencyFactors(try factors("rope_freqs.weight"))
        }
        if let type = optional("rope.scaling.type")?.string, type != "none" {
            guard scaling == .none else {
                throw LlamaError("\(path): both rope_freqs.weight and RoPE scaling \"\(type)\"")
            }
            if type == "longrope" {
                // llama.cpp's MiniCPM: the short factors within the trained context (its original
                // length is the context length when the file gives none), no attention factor.
                let original = try optionalInt("rope.scaling.original_context_length") ?? contextLength
                scaling = .longrope(
                    shortFactors: try factors("rope_factors_short.weight"),
                    longFactors: try factors("rope_factors_long.weight"), originalMaxPositions: original,
                    maxPositions: contextLength)
            } else {
                guard type == "linear", let factor = optional("rope.scaling.factor")?.double else {
                    throw LlamaError("\(path): RoPE scaling \"\(type)\" is not supported")
                }
                scaling = .linear(factor: Float(factor))
            }
        }
        // MiniCPM's scales, with llama.cpp's defaults for files written before the keys existed
        // (12, 1.4 / √L, and the head's input divided by hidden / 256).
        var multipliers: (embedding: Float, residual: Float, logit: Float) = (1, 1, 1)
        if architecture == "minicpm" {
            func float(_ key: String) throws -> Float? {
                guard let value = optional(key) else { return nil }
                guard let number = value.double else {
                    throw LlamaError("\(path): metadata \(architecture).\(key) is \(value), not a number")
                }
                return Float(number)
            }
            let logitScale = try float("logit_scale") ?? Float(hidden) / 256
            multipliers = (
                try float("embedding_scale") ?? 12, try float("residual_scale") ?? 1.4 / Float(blocks).squareRoot(),
                1 / logitScale
            )
        }
        func tokenID(_ key: String) throws -> Int? {
            guard let value = file.metadata[key] else { return nil }
            guard let id = value.int else { throw LlamaError("\(path): metadata \(key) is \(value), not a token id") }
            return id
        }
        let eos = try tokenID("tokenizer.ggml.eos_token_id")
        let bos = try tokenID("tokenizer.ggml.bos_token_id")
        let feedForward = try int("feed_forward_length")
        let kvHeads = try optionalInt("attention.head_count_kv") ?? heads
        var names: [String: String] = [
            "hidden_size": "embedding_length", "intermediate_size": "feed_forward_length",
            "num_hidden_layers": "block_count", "num_attention_heads": "attention.head_count",
            "num_key_value_heads": "attention.head_count_kv", "head_dim": "attention.key_length",
            "vocab_size": "vocab_size", "max_position_embeddings": "context_length",
            "rms_norm_eps": "attention.layer_norm_rms_epsilon", "rope_theta": "rope.freq_base",
            "scale_emb": "embedding_scale", "scale_depth": "residual_scale", "dim_model_base": "logit_scale",
            "rope_scaling": "rope.scaling",
        ].mapValues { "\(architecture).\($0)" }
        names["bos_token_id"] = "tokenizer.ggml.bos_token_id"
        names["eos_token_id"] = "tokenizer.ggml.eos_token_id"
        do {
            self = try LlamaConfiguration(
                modelType: architecture, hiddenSize: hidden, intermediateSize: feedForward,
                layerCount: blocks, headCount: heads, kvHeadCount: kvHeads,
                headDimension: headDimension ?? hidden / heads, vocabularySize: vocabulary,
                rmsNormEps: Float(optional("attention.layer_norm_rms_epsilon")?.double ?? 1e-5),
                ropeTheta: Float(optional("rope.freq_base")?.double ?? 10_000), ropeScaling: scaling,
                maxPositions: contextLength,
                tieWordEmbeddings: file.info("output.weight") == nil,
                attentionBias: file.info("blk.0.attn_q.bias") != nil,
                queryKeyNorm: file.info("blk.0.attn_q_norm.weight") != nil,
                bosTokenID: bos, eosTokenIDs: eos.map { [$0] } ?? [],
                embeddingMultiplier: multipliers.embedding, residualMultiplier: multipliers.residual,
                logitMultiplier: multipliers.logit, fieldNames: names)
        } catch let error as LlamaError {
            throw LlamaError("\(path): \(error.message)", hint: error.hint)
        }
    }
}
