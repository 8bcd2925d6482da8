import Foundation
import FledgeNN
import FledgeTensor
import FledgeWeights

extension LlamaModel {
    /// Loads a model from a Hugging Face folder (`config.json` + safetensors) or a `.gguf` file.
    /// - Throws: ``LlamaError`` or ``WeightsError`` naming the file and what is wrong.
    public static func load(from url: URL, storage: WeightStorage = .float32) throws -> LlamaModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw LlamaError(
                "\(url.path): no such file or folder", hint: "pass a Hugging Face model folder or a .gguf file")
        }
        if isDirectory.boolValue { return try loadHuggingFace(directory: url, storage: storage) }
        guard url.pathExtension.lowercased() == "gguf" else {
            throw LlamaError("\(url.path): not a folder and not a .gguf file")
        }
        return try loadGGUF(try GGUFFile(url: url), storage: storage)
    }

    /// A Hugging Face folder: `config.json` and `model.safetensors` (or shards).
    public static func loadHuggingFace(directory: URL, storage: WeightStorage = .float32) throws -> LlamaModel {
        guard storage != .quantized else {
            throw LlamaError(
                "\(directory.path): weights kept as stored blocks need a GGUF file with quantised matrices",
                hint: "load a Hugging Face folder with float32 or bfloat16 weights")
        }
        let configuration = try LlamaConfiguration.load(modelDirectory: directory)
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        var weights: [String: Tensor] = [:]
        var halves: [String: BF16Matrix] = [:]
        for name in checkpoint.names {
            // bf16 storage: a layer matrix stored as BF16 is read where the file maps it; one
            // stored otherwise is rounded on its own, so the model is never whole in Float32.
            if storage == .bfloat16, WeightStorage.isLayerMatrix(name), let entry = checkpoint.entry(name) {
                if let mapped = checkpoint.mappedBF16(name) {
                    halves[name] = BF16Matrix(bits: mapped.bits, shape: entry.shape, owner: mapped.owner, mapped: true)
                } else {
                    halves[name] = BF16Matrix(rounding: try checkpoint.tensor(name))
                }
                continue
            }
            weights[name] = try checkpoint.tensor(name)
        }
        return try LlamaModel(
            configuration: configuration, weights: weights, source: directory.path, storage: storage, halves: halves)
    }

    /// A GGUF file: configuration from its metadata, tensors renamed to Hugging Face names and
    /// dequantised; Q and K rows of `llama` files un-permuted (docs/formats.md).
    public static func loadGGUF(_ file: GGUFFile, storage: WeightStorage = .float32) throws -> LlamaModel {
        let configuration = try LlamaConfiguration(gguf: file)
        // Shapes are checked against the metadata before any tensor is dequantised or permuted.
        let expected = Dictionary(expectedWeights(configuration), uniquingKeysWith: { first, _ in first })
        var weights: [String: Tensor] = [:]
        var quantized: [String: QuantizedMatrix] = [:]
        var halves: [String: BF16Matrix] = [:]
        for info in file.tensors {
            if ["rope_factors_long.weight", "rope_factors_short.weight", "rope_freqs.weight"].contains(info.name),
                configuration.ropeScaling != .none
            {
                continue  // read into the configuration's RoPE scaling
            }
            guard let name = TensorNames.huggingFace(fromGGUF: info.name) else {
                throw LlamaError("\(file.url.path): tensor \(printable(info.name)) has no Llama-family meaning")
            }
            guard let shape = expected[name] else {
                throw LlamaError(
                    "\(file.url.path): unexpected tensor \(printable(info.name)) for this configuration",
                    hint: "the tensors do not match the metadata (\(configuration.modelType).* keys)")
            }
            guard info.shape == shape else {
                throw LlamaError(
                    "\(file.url.path): tensor \(printable(info.name)) has shape \(info.shape), expected \(shape) "
                        + "from the metadata")
            }
            // llama.cpp's converter permutes Q and K rows of the models it rotates in pairs.
            let permuted = ["llama", "mistral", "minicpm"].contains(configuration.modelType)
            let heads: Int? =
                !permuted
                ? nil
                : name.hasSuffix("q_proj.weight") || name.hasSuffix("q_proj.bias")
                    ? configuration.headCount
                    : name.hasSuffix("k_proj.weight") || name.hasSuffix("k_proj.bias") ? configuration.kvHeadCount : nil
            // Matrices stored in Q4_0/Q4_1/Q8_0/Q4_K/Q6_K blocks are also kept as blocks (Q4_0 and
            // Q4_K rewritten as Q4_1, Q6_K as Q8_16, with the same values), for decoding steps;
            // with `.quantized` storage only as blocks (the embedding is dequantised too, for lookups).
            if info.shape.count == 2, info.shape[1] % QuantizedMatrix.blockSize == 0, storage != .bfloat16,
                name.hasSuffix("proj.weight") || name == "model.embed_tokens.weight" || name == "lm_head.weight"
            {
                let rows = info.shape[0]
                quantized[name] = try file.withBlocks(info.name) { blocks, type -> QuantizedMatrix? in
                    let source: QuantizedMatrix.Source? =
                        switch type {
                        case .q4_0: .q4_0
                        case .q4_1: .q4_1
                        case .q8_0: .q8_0
                        case .q4_K: .q4_K
                        case .q6_K: .q6_K
                        default: nil
                        }
                    return source.map {
                        QuantizedMatrix(
                            source: $0, blocks: blocks, rows: rows, columns: info.shape[1],
                            sourceRows: heads.map { LlamaQKPermutation.sourceRows(heads: $0, rows: rows) })
                    }
                }
            }
            if storage == .quantized, quantized[name] != nil { continue }
            var tensor = try file.tensor(info.name)
            if let heads {
                let rows = tensor.shape[0]
                let columns = tensor.count / rows
                let restored = Tensor(zeros: tensor.shape)
                LlamaQKPermutation.unpermute(
                    tensor.pointer, into: restored.pointer, heads: heads, rows: rows, columns: columns)
                tensor = restored
            }
            if storage == .bfloat16, WeightStorage.isLayerMatrix(name) {
                // Rounded tensor by tensor: the model is never whole in Float32 (the model's
                // initialiser checks the rounded values are finite).
                halves[name] = BF16Matrix(rounding: tensor)
                continue
            }
            weights[name] = tensor
        }
        return try LlamaModel(
            configuration: configuration, weights: weights, source: file.url.path, storage: storage,
            quantized: quantized, halves: halves)
    }
}
