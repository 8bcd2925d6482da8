import Foundation
import FledgeTensor
import FledgeNN
import FledgeWeights

/// Exported EAGLE-3 drafts that vLLM and SGLang load unchanged (docs/design.md §5.11, §5.12).
public enum Eagle3Export {
    /// `eagle`: the EAGLE/SpecForge layout (`midlayer.*`, `LlamaForCausalLMEagle3`, no
    /// embedding; both servers load it). `speculators`: vLLM speculators' layout (`layers.0.*`,
    /// `Eagle3Speculator`, with the embedding and `transformer_layer_config`). A draft of
    /// several layers names them `layers.0.*`, `layers.1.*`, … in both layouts (what vLLM
    /// reads; SpecForge's and SGLang's EAGLE-3 model has one layer).
    public enum Format: String, CaseIterable, Sendable, Codable { case eagle, speculators }

    /// Facts about the target that go into the config.
    public struct TargetInfo: Sendable {
        public var name: String
        public var bosTokenID: Int?
        public var eosTokenID: Int?
        public var architecture: String
        public init(
            name: String, bosTokenID: Int? = nil, eosTokenID: Int? = nil, architecture: String = "LlamaForCausalLM"
        ) {
            self.name = name
            self.bosTokenID = bosTokenID
            self.eosTokenID = eosTokenID
            self.architecture = architecture
        }
    }

    /// Writes `config.json` and `model.safetensors` into `directory` (atomically per file).
    public static func write(
        _ draft: Eagle3Draft, format: Format, to directory: URL, target: TargetInfo, dtype: DType = .bf16
    ) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let c = draft.configuration
        var items: [SafetensorsWriter.Item] = []
        for (name, _) in c.parameterShapes {
            let exported = storedName(name, format: format, layerCount: c.layerCount)
            items.append(.init(name: exported, tensor: draft.parameters.parameter(name), as: dtype))
        }
        if format == .speculators {
            // Row by row from the table as the target holds it: never whole in Float32.
            let table = draft.table
            items.append(
                .init(
                    name: "embed_tokens.weight", shape: [table.rows, table.columns], rows: table.rows,
                    width: table.columns, as: dtype, fill: table.row))
        }
        items.append(.init(name: "d2t", int64: draft.d2t))
        items.append(.init(name: "t2d", bools: draft.t2d))
        try SafetensorsWriter().write(
            items, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors"))
        let config =
            format == .eagle
            ? eagleConfig(c, target: target, dtype: dtype) : speculatorsConfig(c, target: target, dtype: dtype)
        let data = try JSONSerialization.data(
            withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write(data, to: directory.appendingPathComponent("config.json"))
    }

    static func speculatorsName(_ name: String) -> String {
        name.hasPrefix("midlayer.") ? "layers.0." + name.dropFirst("midlayer.".count) : name
    }

    /// A parameter's name in an export: `midlayer.*` stays only in a one-layer EAGLE layout.
    static func storedName(_ name: String, format: Format, layerCount: Int) -> String {
        format == .eagle && layerCount == 1 ? name : speculatorsName(name)
    }

    static func ropeFields(_ c: Eagle3Configuration) -> [String: Any] {
        ropeFields(theta: c.ropeTheta, scaling: c.ropeScaling)
    }

    static func ropeFields(theta: Float, scaling: RoPEScaling) -> [String: Any] {
        var fields: [String: Any] = ["rope_theta": Double(theta)]
        switch scaling {
        case .none: break
        case .linear(let factor): fields["rope_scaling"] = ["rope_type": "linear", "factor": Double(factor)]
        case .llama3(let factor, let low, let high, let original):
            fields["rope_scaling"] = [
                "rope_type": "llama3", "factor": Double(factor), "low_freq_factor": Double(low),
                "high_freq_factor": Double(high), "original_max_position_embeddings": original,
            ]
        case .longrope(let short, let long, let original, _):
            fields["rope_scaling"] = [
                "rope_type": "longrope", "short_factor": short.map(Double.init), "long_factor": long.map(Double.init),
                "original_max_position_embeddings": original,
            ]
        case .frequencyFactors:
            break  // never a draft's (LlamaConfiguration.draftRoPEScaling); config.json has no form of it
        }
        return fields
    }

    /// The config keys of non-default feature layers (docs/design.md §5.12). Fledge counts layer
    /// outputs from 0; vLLM and speculators read `eagle_aux_hidden_state_layer_ids` at the top
    /// level as inputs of layers (output + 1); SpecForge and SGLang read
    /// `eagle_config.eagle_aux_hidden_state_layer_ids` as outputs of layers. Default layers are
    /// never written: both servers then use their own defaults, which are the same layers.
    static let layerIDsKey = "eagle_aux_hidden_state_layer_ids"

    static func layerFields(_ c: Eagle3Configuration, format: Format) -> [String: Any] {
        guard let layers = c.featureLayers else { return [:] }
        var fields: [String: Any] = [layerIDsKey: layers.map { $0 + 1 }]
        if format == .eagle { fields["eagle_config"] = [layerIDsKey: layers] }
        return fields
    }

    /// The feature layers an export's config names (nil: none, the defaults).
    static func featureLayers(_ config: [String: Any], file: String) throws -> [Int]? {
        let layers: [Int]
        if let nested = (config["eagle_config"] as? [String: Any])?[layerIDsKey] {
            guard let ids = nested as? [Int] else {
                throw DraftError("\(file): eagle_config.\(layerIDsKey) must be a list of integers")
            }
            layers = ids
        } else if let top = config[layerIDsKey] {
            guard let ids = top as? [Int] else {
                throw DraftError("\(file): \(layerIDsKey) must be a list of integers")
            }
            guard ids.allSatisfy({ $0 >= 1 }) else {
                throw DraftError(
                    "\(file): \(layerIDsKey) = \(ids): ids count inputs of layers and start at 1",
                    hint: "an EAGLE-3 draft reads three target layers")
            }
            layers = ids.map { $0 - 1 }
        } else {
            return nil
        }
        guard layers.count == 3, layers.allSatisfy({ $0 >= 0 }) else {
            throw DraftError(
                "\(file): \(layerIDsKey) names \(layers.count) layers \(layers); "
                    + "an EAGLE-3 draft reads three target layers"
            )
        }
        return layers
    }

    /// The EAGLE/SpecForge layout's config; layer ids only for non-default layers.
    static func eagleConfig(_ c: Eagle3Configuration, target: TargetInfo, dtype: DType) -> [String: Any] {
        var config: [String: Any] = [
            "architectures": ["LlamaForCausalLMEagle3"], "model_type": "llama", "hidden_act": "silu",
            "hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize, "num_attention_heads": c.headCount,
            "num_key_value_heads": c.kvHeadCount, "head_dim": c.headDimension, "num_hidden_layers": c.layerCount,
            "max_position_embeddings": c.maxPositions,
            "rms_norm_eps": Double("\(c.rmsNormEps)") ?? Double(c.rmsNormEps), "initializer_range": 0.02,
            "tie_word_embeddings": false, "torch_dtype": dtype == .f32 ? "float32" : "bfloat16", "use_cache": true,
            "vocab_size": c.vocabularySize, "draft_vocab_size": c.draftVocabularySize, "pad_token_id": 0,
        ]
        if c.targetHiddenSize != c.hiddenSize { config["target_hidden_size"] = c.targetHiddenSize }
        if let bos = target.bosTokenID { config["bos_token_id"] = bos }
        if let eos = target.eosTokenID { config["eos_token_id"] = eos }
        config.merge(ropeFields(c)) { $1 }
        config.merge(layerFields(c, format: .eagle)) { $1 }
        return config
    }

    /// The speculators layout, with `norm_before_residual: false` written out (vLLM's default for this format is true).
    static func speculatorsConfig(_ c: Eagle3Configuration, target: TargetInfo, dtype: DType) -> [String: Any] {
        var layer: [String: Any] = [
            "model_type": "llama", "vocab_size": c.vocabularySize, "hidden_size": c.hiddenSize,
            "intermediate_size": c.intermediateSize,
            "num_hidden_layers": c.layerCount, "num_attention_heads": c.headCount,
            "num_key_value_heads": c.kvHeadCount,
            "head_dim": c.headDimension,
            "hidden_act": "silu", "max_position_embeddings": c.maxPositions,
            "rms_norm_eps": Double("\(c.rmsNormEps)") ?? Double(c.rmsNormEps), "tie_word_embeddings": false,
        ]
        layer.merge(ropeFields(c)) { $1 }
        let fields: [String: Any] = [
            "speculators_model_type": "eagle3", "architectures": ["Eagle3Speculator"], "speculators_version": "0.3.0",
            "draft_vocab_size": c.draftVocabularySize, "norm_before_residual": false, "norm_before_fc": false,
            "fc_norm": false,
            "norm_output": false, "embed_requires_grad": false, "target_hidden_size": c.targetHiddenSize,
            "torch_dtype": dtype == .f32 ? "float32" : "bfloat16", "transformer_layer_config": layer,
            "speculators_config": [
                "algorithm": "eagle3", "default_proposal_method": "greedy",
                "proposal_methods": [["proposal_type": "greedy", "speculative_tokens": 3]],
                "verifier": ["name_or_path": target.name, "architectures": [target.architecture]],
            ] as [String: Any],
        ]
        return fields.merging(layerFields(c, format: .speculators)) { $1 }
    }

    /// Reads an export of either layout back; the embedding comes from the target (the
    /// EAGLE layout does not store it). Every field is range-checked against the target (its
    /// embedding: vocabulary and width), every tensor's shape against the config before
    /// anything is allocated, the vocabulary maps against each other and the target, and every
    /// weight is checked finite.
    public static func load(from directory: URL, embedding: Tensor) throws -> Eagle3Draft {
        try load(from: directory, table: EmbeddingTable(embedding))
    }

    /// The same with the target's embedding as it holds it.
    public static func load(from directory: URL, table embedding: EmbeddingTable) throws -> Eagle3Draft {
        let (configURL, config) = try DraftConfigReader.read(directory)
        let file = configURL.path
        let top = DraftConfigReader(file: file, object: config)
        let speculators = try top.string("speculators_model_type") == "eagle3"
        let layer: DraftConfigReader
        if speculators {
            guard let raw = config["transformer_layer_config"] else {
                throw DraftError("\(file): missing transformer_layer_config")
            }
            guard let nested = raw as? [String: Any] else {
                throw top.fail(
                    "transformer_layer_config",
                    "has the wrong type (\(DraftConfigReader.kind(raw)), expected an object)")
            }
            layer = DraftConfigReader(file: file, object: nested, prefix: "transformer_layer_config.")
        } else {
            layer = top
        }
        if !speculators, let architectures = config["architectures"] as? [String],
            !architectures.contains(where: { $0.contains("Eagle3") })
        {
            throw DraftError(
                "\(file): architectures \(architectures) is not an EAGLE-3 draft",
                hint: Eagle1Export.recognizes(config)
                    ? "it looks like an EAGLE-1 draft: load it with DraftMethods.load (fledge eval, chat and export do)"
                    : nil)
        }
        if speculators, try top.bool("norm_before_residual", default: true) {
            throw DraftError(
                "\(file): norm_before_residual = true is not supported",
                hint: "Fledge trains the raw-hidden residual")
        }
        let targetVocabulary = embedding.rows, targetWidth = embedding.columns
        let limit = 1...DraftConfigReader.maxDimension
        let hidden = try layer.hidden(targetWidth: targetWidth)
        let attention = try layer.attention(hidden: hidden)
        let intermediate = try layer.int("intermediate_size", in: limit)
        let layerCount = try layer.layerCount()
        let vocabulary = try layer.vocabulary(target: targetVocabulary)
        let draftVocabulary = try top.int("draft_vocab_size", default: vocabulary, in: 1...vocabulary)
        let rest = try layer.normAndPositions()
        let targetHidden = try top.int("target_hidden_size", default: hidden, in: limit)
        var c = Eagle3Configuration(
            hiddenSize: hidden, headCount: attention.heads, kvHeadCount: attention.kvHeads,
            headDimension: attention.headDimension, intermediateSize: intermediate,
            vocabularySize: vocabulary, draftVocabularySize: draftVocabulary,
            rmsNormEps: rest.eps, ropeTheta: rest.theta, ropeScaling: rest.scaling.value,
            maxPositions: rest.maxPositions, targetHiddenSize: targetHidden)
        c.featureLayers = try featureLayers(config, file: file)
        c.layerCount = layerCount
        let format: Format = speculators ? .speculators : .eagle
        let stored = { (name: String) in storedName(name, format: format, layerCount: layerCount) }
        let weights = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        try DraftConfigReader.checkShapes(c.parameterShapes, in: weights, directory: directory, stored: stored)
        let d2t = try weights.integers("d2t"), t2d = try weights.integers("t2d").map { $0 != 0 }
        try DraftConfigReader.checkVocabulary(
            d2t: d2t, t2d: t2d, draftSize: draftVocabulary, targetSize: targetVocabulary, file: weights.url.path)
        let draft = Eagle3Draft(configuration: c, table: embedding, d2t: d2t, t2d: t2d)
        for (name, _) in c.parameterShapes {
            let tensor = try weights.tensor(stored(name))
            try DraftConfigReader.requireFinite(tensor, name: stored(name), file: weights.url.path)
            draft.parameters.parameter(name).copy(from: tensor)
        }
        return draft
    }
}
