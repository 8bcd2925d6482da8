import Foundation
import FledgeLlama
import FledgeNN

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

    public init(
        hiddenSize: Int, headCount: Int, kvHeadCount: Int, headDimension: Int, intermediateSize: Int,
        vocabularySize: Int,
        rmsNormEps: Float = 1e-5, ropeTheta: Float = 10_000, ropeScaling: RoPEScaling = .none, maxPositions: Int = 2048,
        bias: Bool = false
    ) {
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
        self.init(
            hiddenSize: c.hiddenSize, headCount: c.headCount, kvHeadCount: c.kvHeadCount,
            headDimension: c.headDimension,
            intermediateSize: c.intermediateSize, vocabularySize: c.vocabularySize, rmsNormEps: c.rmsNormEps,
            ropeTheta: c.ropeTheta, ropeScaling: c.draftRoPEScaling, maxPositions: c.maxPositions, bias: bias)
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
