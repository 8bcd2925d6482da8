import Foundation
import FledgeLlama
import FledgeNN

/// The configuration of an EAGLE-3 draft (docs/design.md §2.2): a first decoder layer whose
/// attention reads `[input_layernorm(embed) | hidden_norm(h)]`, optionally more standard
/// decoder layers on its output, a `fc` over the three fused target features, a final norm
/// and a head over the draft vocabulary.
public struct Eagle3Configuration: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDimension: Int
    public var intermediateSize: Int
    /// Target vocabulary V (embedding rows, `t2d` length).
    public var vocabularySize: Int
    /// Draft vocabulary Vd (head rows, `d2t` length).
    public var draftVocabularySize: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var ropeScaling: RoPEScaling
    public var maxPositions: Int
    /// The target's hidden size (the `fc` input is 3× this).
    public var targetHiddenSize: Int
    /// The target layers (0-based, whose outputs are fused low | mid | high) when they are not
    /// the defaults of ``Eagle3Method/defaultFeatureLayers(targetLayerCount:)``; nil: the
    /// defaults. Exports write them only when set (docs/design.md §5.12).
    public var featureLayers: [Int]?
    /// Decoder layers (speculators' `--num-layers`): the first reads `[embed | h]` (2H), the
    /// others are standard pre-norm layers on the previous layer's output (H).
    public var layerCount = 1

    /// The most decoder layers a draft may have (a config from a stranger is bounded by it).
    public static let maxLayerCount = 16

    public init(
        hiddenSize: Int, headCount: Int, kvHeadCount: Int, headDimension: Int, intermediateSize: Int,
        vocabularySize: Int,
        draftVocabularySize: Int, rmsNormEps: Float = 1e-5, ropeTheta: Float = 10_000, ropeScaling: RoPEScaling = .none,
        maxPositions: Int = 2048, targetHiddenSize: Int? = nil
    ) {
        self.hiddenSize = hiddenSize
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDimension = headDimension
        self.intermediateSize = intermediateSize
        self.vocabularySize = vocabularySize
        self.draftVocabularySize = draftVocabularySize
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.maxPositions = maxPositions
        self.targetHiddenSize = targetHiddenSize ?? hiddenSize
    }

    /// The draft of a target (heads, kv heads, head dim, intermediate size, eps and RoPE
    /// copied from it, as SpecForge's `generate_draft_model_config`).
    public init(target c: LlamaConfiguration, draftVocabularySize: Int) {
        self.init(
            hiddenSize: c.hiddenSize, headCount: c.headCount, kvHeadCount: c.kvHeadCount,
            headDimension: c.headDimension,
            intermediateSize: c.intermediateSize, vocabularySize: c.vocabularySize,
            draftVocabularySize: draftVocabularySize,
            rmsNormEps: c.rmsNormEps, ropeTheta: c.ropeTheta, ropeScaling: c.draftRoPEScaling,
            maxPositions: c.maxPositions,
            targetHiddenSize: c.hiddenSize)
    }

    var qWidth: Int { headCount * headDimension }
    var kvWidth: Int { kvHeadCount * headDimension }

    /// Trainable tensors in checkpoint (export) order, with their shapes.
    public var parameterShapes: [(name: String, shape: [Int])] {
        let h = hiddenSize
        return [
            ("fc.weight", [h, 3 * targetHiddenSize]),
            ("midlayer.hidden_norm.weight", [h]),
            ("midlayer.input_layernorm.weight", [h]),
            ("midlayer.self_attn.q_proj.weight", [qWidth, 2 * h]),
            ("midlayer.self_attn.k_proj.weight", [kvWidth, 2 * h]),
            ("midlayer.self_attn.v_proj.weight", [kvWidth, 2 * h]),
            ("midlayer.self_attn.o_proj.weight", [h, qWidth]),
            ("midlayer.post_attention_layernorm.weight", [h]),
            ("midlayer.mlp.gate_proj.weight", [intermediateSize, h]),
            ("midlayer.mlp.up_proj.weight", [intermediateSize, h]),
            ("midlayer.mlp.down_proj.weight", [h, intermediateSize]),
        ]
            + (1..<max(layerCount, 1)).flatMap { i -> [(name: String, shape: [Int])] in
                let prefix = Self.layerPrefix(i)
                return [
                    (prefix + "input_layernorm.weight", [h]),
                    (prefix + "self_attn.q_proj.weight", [qWidth, h]),
                    (prefix + "self_attn.k_proj.weight", [kvWidth, h]),
                    (prefix + "self_attn.v_proj.weight", [kvWidth, h]),
                    (prefix + "self_attn.o_proj.weight", [h, qWidth]),
                    (prefix + "post_attention_layernorm.weight", [h]),
                    (prefix + "mlp.gate_proj.weight", [intermediateSize, h]),
                    (prefix + "mlp.up_proj.weight", [intermediateSize, h]),
                    (prefix + "mlp.down_proj.weight", [h, intermediateSize]),
                ]
            } + [
                ("norm.weight", [h]),
                ("lm_head.weight", [draftVocabularySize, h]),
            ]
    }

    /// The parameter-name prefix of decoder layer `index`: `midlayer.` for the first (the
    /// EAGLE layout's name), `layers.i.` for the others (speculators' and vLLM's).
    public static func layerPrefix(_ index: Int) -> String { index == 0 ? "midlayer." : "layers.\(index)." }
}
