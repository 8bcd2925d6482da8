import Foundation
import FledgeNN
import FledgeTensor

/// A Llama-family decoder (Llama, Mistral, Qwen2, Qwen3, SmolLM) for inference and feature
/// capture, composed from FledgeNN kernels.
///
/// Weights are kept under their Hugging Face names (`model.layers.N.self_attn.q_proj.weight`
/// …) in Float32. Every caller (regeneration, the feature cache, online training, decoding)
/// goes through ``forward(_:cache:options:)``.
public final class LlamaModel: @unchecked Sendable {
    public let configuration: LlamaConfiguration
    /// Tensors by Hugging Face name (tied models have no `lm_head.weight`).
    public let weights: [String: Tensor]
    let layers: [LayerWeights]
    /// The token embedding `[V, H]`.
    public let embedding: Tensor
    let finalNorm: Tensor
    /// The output head `[V, H]` (the embedding when tied).
    public let head: Tensor
    let rope: RotaryEmbedding
    let workspace = LlamaWorkspace()

    struct LayerWeights {
        var inputNorm, q, k, v, o, postNorm, gate, up, down: Tensor
        var qBias, kBias, vBias, qNorm, kNorm: Tensor?
    }

    /// The tensor names (and shapes) a model of this configuration has, in checkpoint order.
    public static func expectedWeights(_ c: LlamaConfiguration) -> [(String, [Int])] {
        var names: [(String, [Int])] = [("model.embed_tokens.weight", [c.vocabularySize, c.hiddenSize])]
        let q = c.headCount * c.headDimension
        let kv = c.kvHeadCount * c.headDimension
        for layer in 0..<c.layerCount {
            let p = "model.layers.\(layer)."
            names.append((p + "input_layernorm.weight", [c.hiddenSize]))
            names.append((p + "self_attn.q_proj.weight", [q, c.hiddenSize]))
            names.append((p + "self_attn.k_proj.weight", [kv, c.hiddenSize]))
            names.append((p + "self_attn.v_proj.weight", [kv, c.hiddenSize]))
            if c.attentionBias {
                names.append((p + "self_attn.q_proj.bias", [q]))
                names.append((p + "self_attn.k_proj.bias", [kv]))
                names.append((p + "self_attn.v_proj.bias", [kv]))
            }
            if c.queryKeyNorm {
                names.append((p + "self_attn.q_norm.weight", [c.headDimension]))
                names.append((p + "self_attn.k_norm.weight", [c.headDimension]))
            }
            names.append((p + "self_attn.o_proj.weight", [c.hiddenSize, q]))
            names.append((p + "post_attention_layernorm.weight", [c.hiddenSize]))
            names.append((p + "mlp.gate_proj.weight", [c.intermediateSize, c.hiddenSize]))
            names.append((p + "mlp.up_proj.weight", [c.intermediateSize, c.hiddenSize]))
            names.append((p + "mlp.down_proj.weight", [c.hiddenSize, c.intermediateSize]))
        }
        names.append(("model.norm.weight", [c.hiddenSize]))
        if !c.tieWordEmbeddings { names.append(("lm_head.weight", [c.vocabularySize, c.hiddenSize])) }
        return names
    }

    /// Builds a model from named weights; a missing, extra or misshapen tensor is an error.
    public init(configuration: LlamaConfiguration, weights: [String: Tensor], source: String = "weights") throws {
        var weights = weights
        if configuration.tieWordEmbeddings, let head = weights["lm_head.weight"], let embed = weights["model.embed_tokens.weight"],
           head.values == embed.values {
            weights["lm_head.weight"] = nil  // some tied checkpoints store the copy
        }
        let expected = Self.expectedWeights(configuration)
        let expectedNames = Set(expected.map(\.0))
        for (name, shape) in expected {
            guard let tensor = weights[name] else {
                throw LlamaError("\(source): missing tensor \(name)", hint: "is this a \(configuration.modelType) checkpoint of this configuration?")
            }
            guard tensor.shape.dims == shape else {
                throw LlamaError("\(source): tensor \(name) has shape \(tensor.shape), expected \(Shape(shape))")
            }
        }
        let extra = weights.keys.filter { !expectedNames.contains($0) }.sorted()
        guard extra.isEmpty else {
            throw LlamaError("\(source): unexpected tensors \(extra.prefix(5).joined(separator: ", "))\(extra.count > 5 ? " …" : "")",
                             hint: "the checkpoint does not match its configuration (model_type \(configuration.modelType))")
        }
        self.configuration = configuration
        self.weights = weights
        layers = (0..<configuration.layerCount).map { layer in
            let p = "model.layers.\(layer)."
            return LayerWeights(
                inputNorm: weights[p + "input_layernorm.weight"]!, q: weights[p + "self_attn.q_proj.weight"]!,
                k: weights[p + "self_attn.k_proj.weight"]!, v: weights[p + "self_attn.v_proj.weight"]!,
                o: weights[p + "self_attn.o_proj.weight"]!, postNorm: weights[p + "post_attention_layernorm.weight"]!,
                gate: weights[p + "mlp.gate_proj.weight"]!, up: weights[p + "mlp.up_proj.weight"]!,
                down: weights[p + "mlp.down_proj.weight"]!, qBias: weights[p + "self_attn.q_proj.bias"],
                kBias: weights[p + "self_attn.k_proj.bias"], vBias: weights[p + "self_attn.v_proj.bias"],
                qNorm: weights[p + "self_attn.q_norm.weight"], kNorm: weights[p + "self_attn.k_norm.weight"])
        }
        embedding = weights["model.embed_tokens.weight"]!
        finalNorm = weights["model.norm.weight"]!
        head = weights["lm_head.weight"] ?? embedding
        rope = RotaryEmbedding(headDimension: configuration.headDimension, theta: configuration.ropeTheta,
                               scaling: configuration.ropeScaling, maxPositions: configuration.maxPositions)
    }

    /// An empty KV cache for `batch` sequences of up to `capacity` positions.
    public func makeCache(batch: Int = 1, capacity: Int) -> KVCache {
        KVCache(layerCount: configuration.layerCount, batch: batch, capacity: min(capacity, configuration.maxPositions),
                kvHeads: configuration.kvHeadCount, headDimension: configuration.headDimension)
    }

    /// The number of parameters.
    public var parameterCount: Int { weights.values.reduce(0) { $0 + $1.count } }
}
