import Foundation
import FledgeNN
import FledgeTensor

/// An EAGLE-3 draft: its trainable parameters (one flat ``ParameterSet`` in export order),
/// the frozen target embedding and the draft vocabulary maps.
public final class Eagle3Draft: @unchecked Sendable {
    public let configuration: Eagle3Configuration
    public let parameters: ParameterSet
    /// The target's embedding `[V, H]`, frozen, as the target holds it.
    public let table: EmbeddingTable
    /// The embedding in Float32 (the target's own tensor, or its blocks dequantised: exports).
    public var embedding: Tensor { table.materialized() }
    /// `d2t[i]`: target id of draft index i is `i + d2t[i]`.
    public let d2t: [Int64]
    /// `t2d[j]`: whether target id j is in the draft vocabulary.
    public let t2d: [Bool]
    let rope: RotaryEmbedding

    public convenience init(configuration: Eagle3Configuration, embedding: Tensor, d2t: [Int64], t2d: [Bool]) {
        self.init(configuration: configuration, table: EmbeddingTable(embedding), d2t: d2t, t2d: t2d)
    }

    public init(configuration: Eagle3Configuration, table: EmbeddingTable, d2t: [Int64], t2d: [Bool]) {
        precondition(
            [table.rows, table.columns] == [configuration.vocabularySize, configuration.hiddenSize],
            "embedding shape [\(table.rows), \(table.columns)]")
        precondition(
            d2t.count == configuration.draftVocabularySize && t2d.count == configuration.vocabularySize,
            "vocabulary maps do not fit")
        self.configuration = configuration
        self.parameters = ParameterSet(configuration.parameterShapes.map { ($0.name, Shape($0.shape)) })
        self.table = table
        self.d2t = d2t
        self.t2d = t2d
        rope = RotaryEmbedding(
            headDimension: configuration.headDimension, theta: configuration.ropeTheta,
            scaling: configuration.ropeScaling, maxPositions: configuration.maxPositions + 16)
    }

    /// Random initialisation: matrices ~ U(±1/√fan_in) (PyTorch's Linear default), norms 1.
    public func initialize(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for (name, shape) in configuration.parameterShapes {
            let tensor = parameters.parameter(name)
            if shape.count == 1 {
                tensor.buffer.update(repeating: 1)
            } else {
                let bound = 1 / Float(shape[1]).squareRoot()
                generator.fillUniform(tensor, low: -bound, high: bound)
            }
        }
    }

    /// Initialises the head from the target's head rows of the draft vocabulary
    /// (docs/design.md §2.9, §5.5; the speculators option).
    public func initializeHead(fromTarget head: Tensor) {
        let h = configuration.hiddenSize
        let destination = parameters.parameter("lm_head.weight")
        for (index, offset) in d2t.enumerated() {
            (destination.pointer + index * h).update(from: head.pointer + (index + Int(offset)) * h, count: h)
        }
    }

    /// The same from a head kept as quantised blocks (its rows dequantised).
    public func initializeHead(fromBlocks head: QuantizedMatrix) {
        let h = configuration.hiddenSize
        let destination = parameters.parameter("lm_head.weight")
        for (index, offset) in d2t.enumerated() {
            head.dequantize(row: index + Int(offset), into: destination.pointer + index * h)
        }
    }

    /// Target ids of the draft vocabulary, ascending.
    public var draftTargetIDs: [Int32] { d2t.enumerated().map { Int32(Int64($0.offset) + $0.element) } }

    /// Named weight views, resolved once.
    struct Weights {
        /// One decoder layer's views; `hiddenNorm` only in the first.
        struct Layer {
            let hiddenNorm: Tensor?
            let inputNorm, q, k, v, o, postNorm, gate, up, down: Tensor
        }
        let fc, norm, head: Tensor
        let layers: [Layer]
        init(_ set: ParameterSet, layerCount: Int, gradients: Bool) {
            let get = gradients ? set.gradient : set.parameter
            fc = get("fc.weight")
            norm = get("norm.weight")
            head = get("lm_head.weight")
            layers = (0..<layerCount).map { index in
                let prefix = Eagle3Configuration.layerPrefix(index)
                return Layer(
                    hiddenNorm: index == 0 ? get(prefix + "hidden_norm.weight") : nil,
                    inputNorm: get(prefix + "input_layernorm.weight"), q: get(prefix + "self_attn.q_proj.weight"),
                    k: get(prefix + "self_attn.k_proj.weight"), v: get(prefix + "self_attn.v_proj.weight"),
                    o: get(prefix + "self_attn.o_proj.weight"),
                    postNorm: get(prefix + "post_attention_layernorm.weight"),
                    gate: get(prefix + "mlp.gate_proj.weight"), up: get(prefix + "mlp.up_proj.weight"),
                    down: get(prefix + "mlp.down_proj.weight"))
            }
        }
    }
}
