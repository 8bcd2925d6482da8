import Foundation
import FledgeNN
import FledgeTensor
import FledgeWeights

/// Exported EAGLE-1 drafts (docs/design.md §5.11): `fc.*` and `layers.0.*` (no input norm, no
/// final norm, no head: the target's are used) with a one-layer Llama `config.json`.
public enum Eagle1Export {
    /// `vllm`: `LlamaForCausalLM` (vLLM turns it into `EagleLlamaForCausalLM`), no fc bias
    /// (vLLM builds fc without one and skips `fc.bias`). `sglang`: `LlamaForCausalLMEagle`,
    /// with `fc.bias` (zeros for a bias-free draft), as SGLang's fc has a bias.
    public enum Format: String, CaseIterable, Sendable, Codable { case vllm, sglang }

    public static func write(
        _ draft: Eagle1Draft, format: Format, to directory: URL, target: Eagle3Export.TargetInfo, dtype: DType = .bf16
    ) throws {
        let c = draft.configuration
        if format == .vllm && c.bias {
            throw DraftError(
                "this EAGLE-1 draft has an fc bias, which vLLM's EAGLE-1 model drops",
                hint: "export --format sglang, or train without --fc-bias (the default)")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var items: [SafetensorsWriter.Item] = []
        for (name, _) in c.parameterShapes {
            items.append(.init(name: name, tensor: draft.parameters.parameter(name), as: dtype))
            if name == "fc.weight" && format == .sglang && !c.bias {
                items.append(.init(name: "fc.bias", tensor: Tensor(zeros: [c.hiddenSize]), as: dtype))
            }
        }
        try SafetensorsWriter().write(
            items, metadata: ["format": "pt"], to: directory.appendingPathComponent("model.safetensors"))
        var config: [String: Any] = [
            "architectures": [format == .vllm ? "LlamaForCausalLM" : "LlamaForCausalLMEagle"],
            "model_type": "llama", "num_hidden_layers": 1, "hidden_size": c.hiddenSize,
            "intermediate_size": c.intermediateSize,
            "num_attention_heads": c.headCount, "num_key_value_heads": c.kvHeadCount, "head_dim": c.headDimension,
            "rms_norm_eps": Double("\(c.rmsNormEps)") ?? Double(c.rmsNormEps), "vocab_size": c.vocabularySize,
            "max_position_embeddings": c.maxPositions,
            "hidden_act": "silu", "tie_word_embeddings": false, "bias": c.bias || format == .sglang,
            "torch_dtype": dtype == .bf16 ? "bfloat16" : "float32",
        ]
        for (key, value) in Eagle3Export.ropeFields(theta: c.ropeTheta, scaling: c.ropeScaling) { config[key] = value }
        if let bos = target.bosTokenID { config["bos_token_id"] = bos }
        if let eos = target.eosTokenID { config["eos_token_id"] = eos }
        let data = try JSONSerialization.data(
            withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write(data, to: directory.appendingPathComponent("config.json"))
    }

    /// Whether a `config.json` describes an EAGLE-1 draft: one layer (or the architecture of
    /// one of the two layouts, whose layer count ``load(from:embedding:head:)`` then checks), no
    /// draft vocabulary, not a speculators or EAGLE-3 config.
    public static func recognizes(_ config: [String: Any]) -> Bool {
        let architectures = config["architectures"] as? [String] ?? []
        let layouts = ["LlamaForCausalLM", "LlamaForCausalLMEagle"]
        return (config["num_hidden_layers"] as? Int == 1 || architectures.contains(where: layouts.contains))
            && config["draft_vocab_size"] == nil && config["speculators_model_type"] == nil
            && !architectures.contains(where: { $0.contains("Eagle3") })
    }

    /// Loads an export of either layout (`embedding` and `head`: the target's). Every field is
    /// range-checked against the target, every tensor's shape against the config before
    /// anything is allocated, and every weight is checked finite.
    public static func load(from directory: URL, embedding: Tensor, head: Tensor) throws -> Eagle1Draft {
        let (configURL, config) = try DraftConfigReader.read(directory)
        guard recognizes(config) else {
            throw DraftError("\(configURL.path): not a one-layer EAGLE-1 draft")
        }
        let reader = DraftConfigReader(file: configURL.path, object: config)
        guard embedding.shape.rank == 2, head.shape == embedding.shape else {
            throw DraftError("\(configURL.path): the target's embedding and head do not match")
        }
        let hidden = try reader.hidden(targetWidth: embedding.shape[1])
        let attention = try reader.attention(hidden: hidden)
        let intermediate = try reader.int("intermediate_size", in: 1...DraftConfigReader.maxDimension)
        try reader.requireOneLayer()
        let vocabulary = try reader.vocabulary(target: embedding.shape[0])
        let rest = try reader.normAndPositions()
        let weights = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        let c = Eagle1Configuration(
            hiddenSize: hidden, headCount: attention.heads, kvHeadCount: attention.kvHeads,
            headDimension: attention.headDimension, intermediateSize: intermediate, vocabularySize: vocabulary,
            rmsNormEps: rest.eps, ropeTheta: rest.theta, ropeScaling: rest.scaling.value,
            maxPositions: rest.maxPositions, bias: weights.names.contains("fc.bias"))
        try DraftConfigReader.checkShapes(c.parameterShapes, in: weights, directory: directory)
        let draft = Eagle1Draft(configuration: c, embedding: embedding, head: head)
        for (name, _) in c.parameterShapes {
            let tensor = try weights.tensor(name)
            try DraftConfigReader.requireFinite(tensor, name: name, file: weights.url.path)
            draft.parameters.parameter(name).copy(from: tensor)
        }
        return draft
    }
}
