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
    /// The token embedding `[V, H]` in Float32 (``blocksOnly`` when it is kept as blocks:
    /// ``embeddingTable`` looks rows up either way).
    public let embedding: Tensor
    /// The token embedding as held (Float32 rows or quantised blocks).
    public let embeddingTable: EmbeddingTable
    let finalNorm: Tensor
    /// The output head `[V, H]` (the embedding when tied).
    public let head: Tensor
    let rope: RotaryEmbedding
    let workspace = LlamaWorkspace()

    /// How decoder-layer matrices are kept in memory.
    public enum WeightStorage: String, Sendable, Codable {
        /// Float32 (fastest).
        case float32
        /// bfloat16 (half the memory): each layer's matrices are widened into one shared
        /// Float32 scratch just before the layer runs. Embedding, norms and head stay Float32.
        case bfloat16
        /// As a GGUF stores them: matrices in quantised blocks are kept only as blocks
        /// (``QuantizedMatrix``, 0.75–1.25 bytes per weight) and every product with them, prefill
        /// and feature capture included, is an integer product (``IntegerMatmul``); there is no
        /// Float32 copy of them. The embedding is dequantised for lookups; other tensors stay Float32.
        case quantized

        /// The spellings of the command line: float32, bfloat16, stored.
        public init?(spelling: String) {
            switch spelling.lowercased() {
            case "float32", "fp32", "f32": self = .float32
            case "bfloat16", "bf16": self = .bfloat16
            case "stored", "quantized", "quantised", "blocks": self = .quantized
            default: return nil
            }
        }
    }

    /// The placeholder of a matrix kept only as quantised blocks (``WeightStorage/quantized``):
    /// `DecoderLayer.project` multiplies such a matrix with integer products whatever the call.
    public static let blocksOnly = Tensor(zeros: [0])

    /// A layer matrix already in bfloat16 (``WeightStorage/bfloat16``): a bf16 tensor of a
    /// safetensors shard where the file maps it (no copy), or a buffer rounded tensor by tensor
    /// at load, so the matrix never exists in Float32. `owner` keeps `bits` alive.
    public struct BF16Matrix: @unchecked Sendable {
        public let bits: UnsafePointer<UInt16>
        public let shape: [Int]
        public let owner: AnyObject
        /// Whether `bits` lies in a mapped file (counted by ``LlamaModel/mappedBytes``).
        public let mapped: Bool

        public init(bits: UnsafePointer<UInt16>, shape: [Int], owner: AnyObject, mapped: Bool) {
            (self.bits, self.shape, self.owner, self.mapped) = (bits, shape, owner, mapped)
        }

        /// `tensor` rounded into a buffer of its own.
        public init(rounding tensor: Tensor) {
            let buffer = BFloat16Buffer(capacity: tensor.count)
            HalfPrecision.toBF16(tensor.pointer, buffer.pointer, count: tensor.count)
            self.init(bits: UnsafePointer(buffer.pointer), shape: tensor.shape.dims, owner: buffer, mapped: false)
        }
    }

    /// A bf16 copy of one matrix and the scratch view it is widened into.
    struct PackedMatrix {
        let matrix: BF16Matrix
        let count: Int
        let destination: Tensor
    }

    /// A layer's input norm and the rest of its weights (``DecoderLayer/Weights``; its
    /// `quantized` holds the matrices as stored in a GGUF, Q4_1 or Q8_0 blocks, where they were).
    struct LayerWeights {
        var inputNorm: Tensor
        var decoder: DecoderLayer.Weights
        var quantized: DecoderLayer.QuantizedWeights { decoder.quantized }
    }

    /// The names of a layer's matrices, in ``DecoderLayer/QuantizedWeights`` order.
    static let matrixSuffixes = [
        "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
    ]

    /// The head as stored in a GGUF (Q8_0 in SmolLM2's), if it was quantised.
    let quantizedHead: QuantizedMatrix?

    /// Bytes of the quantised copies (0 when the source had none).
    public var quantizedBytes: Int {
        layers.reduce(0) { total, layer in
            let q = layer.quantized
            return total + [q.q, q.k, q.v, q.o, q.gate, q.up, q.down].reduce(0) { $0 + ($1?.byteCount ?? 0) }
        } + (quantizedHead?.byteCount ?? 0)
            + (embedding.count == 0 && embeddingTable.blocks !== quantizedHead ? embeddingTable.byteCount : 0)
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

    /// Per layer, the packed matrices to widen before it runs (bf16 storage only).
    let packed: [[PackedMatrix]]?
    public let storage: WeightStorage

    /// Builds a model from named weights; a missing, extra or misshapen tensor is an error.
    /// With `.bfloat16` storage, `weights` holds only the tensors kept in Float32 afterwards.
    /// `quantized` holds, by the same names, the matrices a GGUF stored in Q4_1/Q8_0 blocks
    /// (used by decoding steps with Float32 storage; ignored with bf16). With `.bfloat16`,
    /// `halves` holds layer matrices already in bf16, by name, in place of Float32 ones.
    public init(
        configuration: LlamaConfiguration, weights: [String: Tensor], source: String = "weights",
        storage: WeightStorage = .float32,
        quantized: [String: QuantizedMatrix] = [:], halves: [String: BF16Matrix] = [:]
    ) throws {
        var weights = weights
        if configuration.tieWordEmbeddings, let head = weights["lm_head.weight"],
            let embed = weights["model.embed_tokens.weight"],
            head.values == embed.values
        {
            weights["lm_head.weight"] = nil  // some tied checkpoints store the copy
        }
        let expected = Self.expectedWeights(configuration)
        let expectedNames = Set(expected.map(\.0))
        for (name, shape) in expected {
            guard let tensor = weights[name] else {
                if storage == .quantized, let blocks = quantized[name], [blocks.rows, blocks.columns] == shape {
                    continue  // kept only as blocks
                }
                if storage == .bfloat16, let half = halves[name] {
                    guard half.shape == shape else {
                        throw LlamaError(
                            "\(source): tensor \(name) has shape \(Shape(half.shape)), expected \(Shape(shape))")
                    }
                    continue  // kept only in bf16
                }
                throw LlamaError(
                    "\(source): missing tensor \(name)",
                    hint: "is this a \(configuration.modelType) checkpoint of this configuration?")
            }
            guard tensor.shape.dims == shape else {
                throw LlamaError("\(source): tensor \(name) has shape \(tensor.shape), expected \(Shape(shape))")
            }
        }
        let extra = weights.keys.filter { !expectedNames.contains($0) }.sorted()
        guard extra.isEmpty else {
            throw LlamaError(
                "\(source): unexpected tensors \(extra.prefix(5).joined(separator: ", "))"
                    + "\(extra.count > 5 ? " …" : "")",
                hint: "the checkpoint does not match its configuration (model_type \(configuration.modelType))")
        }
        for (name, _) in expected {
            if let tensor = weights[name] { try Self.checkFinite(tensor, name: name, source: source) }
            if storage == .bfloat16, weights[name] == nil, let half = halves[name] {
                try Self.checkFinite(half, name: name, source: source)
            }
        }
        self.configuration = configuration
        self.storage = storage
        var layers: [LayerWeights] = (0..<configuration.layerCount).map { layer in
            let p = "model.layers.\(layer)."
            let m = Self.matrixSuffixes.map { weights[p + $0] ?? Self.blocksOnly }
            return LayerWeights(
                inputNorm: weights[p + "input_layernorm.weight"]!,
                decoder: DecoderLayer.Weights(
                    q: m[0], k: m[1], v: m[2], o: m[3], gate: m[4], up: m[5], down: m[6],
                    postNorm: weights[p + "post_attention_layernorm.weight"]!,
                    qBias: weights[p + "self_attn.q_proj.bias"],
                    kBias: weights[p + "self_attn.k_proj.bias"], vBias: weights[p + "self_attn.v_proj.bias"],
                    qNorm: weights[p + "self_attn.q_norm.weight"], kNorm: weights[p + "self_attn.k_norm.weight"]))
        }
        // (A tied head's duplicate was dropped above; its quantised copy goes with it.)
        let quantized = quantized.filter { weights[$0.key] != nil || storage == .quantized }
        for (name, matrix) in quantized
        where (weights[name]?.shape.dims ?? [matrix.rows, matrix.columns]) != [matrix.rows, matrix.columns] {
            throw LlamaError("\(source): quantised tensor \(name) does not match the Float32 weights")
        }
        if storage != .bfloat16 {
            for index in layers.indices {
                let p = "model.layers.\(index)."
                let m = Self.matrixSuffixes.map { quantized[p + $0] }
                layers[index].decoder.quantized = DecoderLayer.QuantizedWeights(
                    q: m[0], k: m[1], v: m[2], o: m[3], gate: m[4], up: m[5], down: m[6])
            }
            quantizedHead =
                quantized["lm_head.weight"]
                ?? (configuration.tieWordEmbeddings ? quantized["model.embed_tokens.weight"] : nil)
        } else {
            quantizedHead = nil
        }
        if storage == .bfloat16 {
            // One Float32 scratch per matrix role, shared by all layers.
            let shapes = Dictionary(expected, uniquingKeysWith: { first, _ in first })
            let scratch = Self.matrixSuffixes.map { Tensor(zeros: Shape(shapes["model.layers.0." + $0]!)) }
            var packed: [[PackedMatrix]] = []
            for index in layers.indices {
                let prefix = "model.layers.\(index)."
                packed.append(
                    zip(Self.matrixSuffixes, scratch).map { suffix, destination in
                        // A Float32 matrix is rounded here; one given in bf16 is used as it is.
                        let matrix =
                            weights[prefix + suffix].map { BF16Matrix(rounding: $0) } ?? halves[prefix + suffix]!
                        return PackedMatrix(matrix: matrix, count: destination.count, destination: destination)
                    })
                (layers[index].decoder.q, layers[index].decoder.k, layers[index].decoder.v, layers[index].decoder.o) = (
                    scratch[0], scratch[1], scratch[2], scratch[3]
                )
                (layers[index].decoder.gate, layers[index].decoder.up, layers[index].decoder.down) = (
                    scratch[4], scratch[5], scratch[6]
                )
                for suffix in Self.matrixSuffixes { weights[prefix + suffix] = nil }
            }
            self.packed = packed
        } else {
            packed = nil
        }
        self.layers = layers
        self.weights = weights
        embedding = weights["model.embed_tokens.weight"] ?? Self.blocksOnly
        embeddingTable =
            embedding.count > 0
            ? EmbeddingTable(embedding) : EmbeddingTable(blocks: quantized["model.embed_tokens.weight"]!)
        finalNorm = weights["model.norm.weight"]!
        head =
            weights["lm_head.weight"]
            ?? (configuration.tieWordEmbeddings || quantizedHead == nil ? embedding : Self.blocksOnly)
        rope = RotaryEmbedding(
            headDimension: configuration.headDimension, theta: configuration.ropeTheta,
            scaling: configuration.ropeScaling, maxPositions: configuration.maxPositions)
    }

    /// Throws when the bf16 `matrix` holds a NaN or an infinity (all exponent bits set), naming it.
    static func checkFinite(_ matrix: BF16Matrix, name: String, source: String) throws {
        let bits = matrix.bits
        for index in 0..<matrix.shape.reduce(1, *) where bits[index] & 0x7F80 == 0x7F80 {
            throw LlamaError(
                "\(source): tensor \(name) holds \(HalfPrecision.float(bf16: bits[index])) at element \(index)",
                hint: "the weights file is corrupt: weights must be finite")
        }
    }

    /// Throws when `tensor` holds a NaN or an infinity, naming it.
    static func checkFinite(_ tensor: Tensor, name: String, source: String) throws {
        let values = tensor.pointer
        for index in 0..<tensor.count where !values[index].isFinite {
            throw LlamaError(
                "\(source): tensor \(name) holds \(values[index]) at element \(index)",
                hint: "the weights file is corrupt: weights must be finite")
        }
    }

    /// An empty KV cache for `batch` sequences of up to `capacity` positions.
    /// `sharingLayers`: one buffer for every layer, for a single prefill whose cache is
    /// thrown away (``KVCache/sharesLayers``).
    public func makeCache(batch: Int = 1, capacity: Int, sharingLayers: Bool = false) -> KVCache {
        KVCache(
            layerCount: configuration.layerCount, batch: batch, capacity: min(capacity, configuration.maxPositions),
            kvHeads: configuration.kvHeadCount, headDimension: configuration.headDimension,
            sharingLayers: sharingLayers)
    }

    /// The number of parameters.
    public var parameterCount: Int {
        weights.values.reduce(0) { $0 + $1.count }
            + (packed?.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } } ?? 0)
            + blocksOnlyMatrices.reduce(0) { $0 + $1.rows * $1.columns }
    }

    /// The matrices kept only as quantised blocks (``WeightStorage/quantized``).
    var blocksOnlyMatrices: [QuantizedMatrix] {
        var matrices: [QuantizedMatrix] = []
        for layer in layers {
            let d = layer.decoder, q = d.quantized
            for (weight, blocks) in [(d.q, q.q), (d.k, q.k), (d.v, q.v), (d.o, q.o), (d.gate, q.gate), (d.up, q.up)]
                + [(d.down, q.down)]
            where weight.count == 0 {
                if let blocks { matrices.append(blocks) }
            }
        }
        if head.count == 0, let quantizedHead { matrices.append(quantizedHead) }
        if embedding.count == 0, let blocks = embeddingTable.blocks, blocks !== quantizedHead {
            matrices.append(blocks)
        }
        return matrices
    }

    /// The head as blocks when it has no Float32 copy (``WeightStorage/quantized``): products
    /// with it are integer products.
    public var headBlocks: QuantizedMatrix? { head.count == 0 ? quantizedHead : nil }

    /// Bytes of the bf16 layer matrices read in place from a mapped safetensors file (part of
    /// ``weightBytes``; the kernel pages them in from the file and may drop them again).
    public var mappedBytes: Int {
        packed?.reduce(0) { $0 + $1.reduce(0) { $0 + ($1.matrix.mapped ? $1.count * 2 : 0) } } ?? 0
    }

    /// Bytes of the weights as held: Float32 tensors, bf16 copies and quantised blocks.
    public var weightBytes: Int {
        weights.values.reduce(0) { $0 + $1.count * 4 }
            + (packed?.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count * 2 } } ?? 0) + quantizedBytes
    }

    /// Widens layer `index`'s bf16 matrices into the shared scratch (bf16 storage only).
    func unpack(layer index: Int) {
        guard let packed else { return }
        for matrix in packed[index] {
            HalfPrecision.fromBF16(matrix.matrix.bits, matrix.destination.pointer, count: matrix.count)
        }
    }

    /// The bf16 matrices of layer `index` (bf16 storage only), for bf16 products.
    func halves(layer index: Int) -> DecoderLayer.HalfWeights? {
        guard let packed else { return nil }
        let m = packed[index].map(\.matrix.bits)
        return DecoderLayer.HalfWeights(q: m[0], k: m[1], v: m[2], o: m[3], gate: m[4], up: m[5], down: m[6])
    }
}
