import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor

/// An EAGLE-1 draft: its trainable parameters (one flat ``ParameterSet`` in export order)
/// and the target's frozen embedding and head.
public final class Eagle1Draft: @unchecked Sendable {
    public let configuration: Eagle1Configuration
    public let parameters: ParameterSet
    /// The target's embedding `[V, H]`, frozen.
    public let embedding: Tensor
    /// The target's `lm_head` `[V, H]`, frozen (the draft's logits are `predict · headᵀ`).
    public let head: Tensor
    let rope: RotaryEmbedding

    public init(configuration: Eagle1Configuration, embedding: Tensor, head: Tensor) {
        let shape = [configuration.vocabularySize, configuration.hiddenSize]
        precondition(
            embedding.shape.dims == shape && head.shape.dims == shape,
            "embedding \(embedding.shape) / head \(head.shape)")
        self.configuration = configuration
        parameters = ParameterSet(configuration.parameterShapes.map { ($0.name, Shape($0.shape)) })
        self.embedding = embedding
        self.head = head
        rope = RotaryEmbedding(
            headDimension: configuration.headDimension, theta: configuration.ropeTheta,
            scaling: configuration.ropeScaling, maxPositions: configuration.maxPositions + 16)
    }

    /// Random initialisation: matrices ~ U(±1/√fan_in) (PyTorch's Linear default), the fc
    /// bias too, the norm 1.
    public func initialize(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let fanIn = Float(2 * configuration.hiddenSize)
        for (name, shape) in configuration.parameterShapes {
            let tensor = parameters.parameter(name)
            if name.hasSuffix("layernorm.weight") {
                tensor.buffer.update(repeating: 1)
            } else {
                let bound = 1 / (shape.count == 1 ? fanIn : Float(shape[1])).squareRoot()
                generator.fillUniform(tensor, low: -bound, high: bound)
            }
        }
    }

    /// Named weight views, resolved once (`fcBias` nil without a bias).
    struct Weights {
        let fc, q, k, v, o, postNorm, gate, up, down: Tensor
        let fcBias: Tensor?
        init(_ set: ParameterSet, gradients: Bool) {
            let get = gradients ? set.gradient : set.parameter
            fc = get("fc.weight")
            fcBias = set.contains("fc.bias") ? get("fc.bias") : nil
            q = get("layers.0.self_attn.q_proj.weight")
            k = get("layers.0.self_attn.k_proj.weight")
            v = get("layers.0.self_attn.v_proj.weight")
            o = get("layers.0.self_attn.o_proj.weight")
            postNorm = get("layers.0.post_attention_layernorm.weight")
            gate = get("layers.0.mlp.gate_proj.weight")
            up = get("layers.0.mlp.up_proj.weight")
            down = get("layers.0.mlp.down_proj.weight")
        }
    }
}
