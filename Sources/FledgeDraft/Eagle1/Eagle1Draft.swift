import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor

/// The configuration of an EAGLE-1 draft (docs/design.md §3.1): `fc` over
/// `[embed(x_{t+1}) | f_t]` (2H → H, bias configurable), one decoder layer without input
/// norm, no final norm; the target's frozen embedding and head.
public struct Eagle1Configuration: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDimension: Int
    public var intermediateSize: Int
    /// Target vocabulary V (embedding and head rows).
    public var vocabularySize: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var ropeScaling: RoPEScaling
    public var maxPositions: Int
    /// Whether `fc` has a bias (the official Llama-3 checkpoints: no).
    public var bias: Bool

    public init(hiddenSize: Int, headCount: Int, kvHeadCount: Int, headDimension: Int, intermediateSize: Int, vocabularySize: Int,
                rmsNormEps: Float = 1e-5, ropeTheta: Float = 10_000, ropeScaling: RoPEScaling = .none, maxPositions: Int = 2048,
                bias: Bool = false) {
        self.hiddenSize = hiddenSize
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDimension = headDimension
        self.intermediateSize = intermediateSize
        self.vocabularySize = vocabularySize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.maxPositions = maxPositions
        self.bias = bias
    }

    /// The draft of a target: its layer's shapes, eps and RoPE.
    public init(target c: LlamaConfiguration, bias: Bool = false) {
        self.init(hiddenSize: c.hiddenSize, headCount: c.headCount, kvHeadCount: c.kvHeadCount, headDimension: c.headDimension,
                  intermediateSize: c.intermediateSize, vocabularySize: c.vocabularySize, rmsNormEps: c.rmsNormEps,
                  ropeTheta: c.ropeTheta, ropeScaling: c.ropeScaling, maxPositions: c.maxPositions, bias: bias)
    }

    var qWidth: Int { headCount * headDimension }
    var kvWidth: Int { kvHeadCount * headDimension }

    /// Trainable tensors in export order (docs/design.md §5.11), with their shapes.
    public var parameterShapes: [(name: String, shape: [Int])] {
        let h = hiddenSize
        return [("fc.weight", [h, 2 * h])] + (bias ? [("fc.bias", [h])] : []) + [
            ("layers.0.self_attn.q_proj.weight", [qWidth, h]),
            ("layers.0.self_attn.k_proj.weight", [kvWidth, h]),
            ("layers.0.self_attn.v_proj.weight", [kvWidth, h]),
            ("layers.0.self_attn.o_proj.weight", [h, qWidth]),
            ("layers.0.post_attention_layernorm.weight", [h]),
            ("layers.0.mlp.gate_proj.weight", [intermediateSize, h]),
            ("layers.0.mlp.up_proj.weight", [intermediateSize, h]),
            ("layers.0.mlp.down_proj.weight", [h, intermediateSize]),
        ]
    }
}

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
        precondition(embedding.shape.dims == shape && head.shape.dims == shape, "embedding \(embedding.shape) / head \(head.shape)")
        self.configuration = configuration
        parameters = ParameterSet(configuration.parameterShapes.map { ($0.name, Shape($0.shape)) })
        self.embedding = embedding
        self.head = head
        rope = RotaryEmbedding(headDimension: configuration.headDimension, theta: configuration.ropeTheta,
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
