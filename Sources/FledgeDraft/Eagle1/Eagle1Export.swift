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

    /// Whether a `config.json` describes an EAGLE-1 draft: one layer, no draft vocabulary,
    /// not a speculators or EAGLE-3 config.
    public static func recognizes(_ config: [String: Any]) -> Bool {
        let architectures = config["architectures"] as? [String] ?? []
        return config["num_hidden_layers"] as? Int == 1 && config["draft_vocab_size"] == nil
            && config["speculators_model_type"] == nil
            && !architectures.contains(where: { $0.contains("Eagle3") })
    }

    /// Loads an export of either layout (`embedding` and `head`: the target's).
    public static func load(from directory: URL, embedding: Tensor, head: Tensor) throws -> Eagle1Draft {
        let configURL = directory.appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: configURL),
            let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw DraftError("\(configURL.path): cannot read the draft's config.json")
        }
        guard recognizes(config) else {
            throw DraftError("\(configURL.path): not a one-layer EAGLE-1 draft")
        }
        func int(_ key: String) throws -> Int {
            guard let value = config[key] as? Int else { throw DraftError("\(configURL.path): missing \(key)") }
            return value
        }
        let file = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        let hidden = try int("hidden_size"), heads = try int("num_attention_heads")
        var scaling = RoPEScalingReader.none
        if let rope = config["rope_scaling"] as? [String: Any] {
            scaling = try RoPEScalingReader.parse(rope, file: configURL.path)
        }
        let c = Eagle1Configuration(
            hiddenSize: hidden, headCount: heads, kvHeadCount: (config["num_key_value_heads"] as? Int) ?? heads,
            headDimension: (config["head_dim"] as? Int) ?? hidden / heads,
            intermediateSize: try int("intermediate_size"),
            vocabularySize: try int("vocab_size"), rmsNormEps: Float((config["rms_norm_eps"] as? Double) ?? 1e-6),
            ropeTheta: Float((config["rope_theta"] as? Double) ?? 10_000), ropeScaling: scaling.value,
            maxPositions: (config["max_position_embeddings"] as? Int) ?? 2048, bias: file.names.contains("fc.bias"))
        let draft = Eagle1Draft(configuration: c, embedding: embedding, head: head)
        for (name, shape) in c.parameterShapes {
            let tensor = try file.tensor(name)
            guard tensor.shape.dims == shape else {
                throw DraftError("\(directory.path): \(name) has shape \(tensor.shape), expected \(Shape(shape))")
            }
            draft.parameters.parameter(name).copy(from: tensor)
        }
        return draft
    }
}
