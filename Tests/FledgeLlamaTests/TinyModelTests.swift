import Foundation
import Testing
@testable import FledgeLlama
import FledgeTensor
import FledgeTestSupport
import FledgeWeights

/// Tiny random Llama-family models written by transformers, against transformers' outputs.
@Suite struct TinyModelTests {
    static let variants = ["tiny-llama", "tiny-llama3rope", "tiny-mistral", "tiny-qwen2", "tiny-qwen3"]

    static func folder(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(name)
    }

    /// Compares rows of `actual` [B·T, C] with `expected` [B, T, C] on valid positions only.
    func expectRowsClose(
        _ label: String, _ actual: Tensor, _ expected: Tensor, lengths: [Int], length: Int, atol: Float
    ) {
        let width = expected.shape[-1]
        for (row, valid) in lengths.enumerated() {
            let offset = row * length * width
            let result = compare(
                "\(label) row \(row)", actual.pointer + offset, expected.pointer + offset, count: valid * width,
                atol: atol, rtol: 1e-4)
            #expect(result.passed, "\(result)")
        }
    }

    @Test(arguments: variants)
    func batchedPrefillMatchesTransformers(_ variant: String) throws {
        let folder = try Self.folder(variant)
        let model = try LlamaModel.load(from: folder)
        let expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        let ids = try expected.integers("input_ids").map { Int32($0) }
        let lengths = try expected.integers("lengths").map { Int($0) }
        let length = ids.count / lengths.count
        let batch = TokenBatch(tokens: ids, batch: lengths.count, length: length, validLengths: lengths)
        let layers = Array(0..<(model.configuration.layerCount - 1))
        let cache = model.makeCache(batch: lengths.count, capacity: 64)
        let result = try model.forward(
            batch, cache: cache, options: ForwardOptions(captureLayers: layers, finalHidden: true, logits: .all))
        expectRowsClose(
            "logits", try #require(result.logits), try expected.tensor("logits"), lengths: lengths, length: length,
            atol: 1e-4)
        expectRowsClose(
            "final", try #require(result.finalHidden), try expected.tensor("final_hidden"), lengths: lengths,
            length: length, atol: 1e-4)
        for layer in layers {
            expectRowsClose(
                "layer \(layer)", try #require(result.captured[layer]), try expected.tensor("hidden.\(layer)"),
                lengths: lengths, length: length, atol: 1e-4)
        }
        #expect(cache.lengths == lengths)
    }

    /// Prefill then one token at a time gives the logits of one full prefill; trimming the
    /// cache and re-feeding gives them again.
    @Test func configurationOfAFolderWithoutWeights() throws {
        let folder = try Self.folder("tiny-llama")
        #expect(try LlamaConfiguration.load(from: folder) == LlamaModel.load(from: folder).configuration)
        #expect(throws: (any Error).self) {
            try LlamaConfiguration.load(from: folder.appendingPathComponent("missing.gguf"))
        }
    }

    @Test func incrementalDecodingAndTrimMatchFullPrefill() throws {
        let model = try LlamaModel.load(from: try Self.folder("tiny-qwen3"))
        let tokens: [Int32] = [5, 17, 99, 3, 42, 7, 150, 8, 23]
        let full = try model.forward(
            TokenBatch(tokens: tokens), cache: model.makeCache(capacity: 32), options: ForwardOptions(logits: .all)
        ).logits!.values
        let vocabulary = model.configuration.vocabularySize
        let cache = model.makeCache(capacity: 32)
        _ = try model.forward(TokenBatch(tokens: Array(tokens[0..<4])), cache: cache)
        for i in 4..<tokens.count {
            let step = try model.forward(TokenBatch(tokens: [tokens[i]]), cache: cache).logits!.values
            let reference = Array(full[(i * vocabulary)..<((i + 1) * vocabulary)])
            #expect(zip(step, reference).allSatisfy { abs($0 - $1) < 1e-4 }, "position \(i)")
        }
        cache.trim(to: 6)
        let again = try model.forward(TokenBatch(tokens: [tokens[6]]), cache: cache).logits!.values
        #expect(zip(again, full[(6 * vocabulary)..<(7 * vocabulary)]).allSatisfy { abs($0 - $1) < 1e-4 })
        let copy = cache.copy()
        #expect(copy.lengths == cache.lengths)
        #expect(copy.keys[1].values == cache.keys[1].values)
    }

    /// A token tree verified in one pass gives, at every node, the logits of running its root
    /// path sequentially; keeping an accepted path compacts the cache correctly.
    @Test func treeVerificationMatchesSequentialPaths() throws {
        let model = try LlamaModel.load(from: try Self.folder("tiny-llama"))
        let vocabulary = model.configuration.vocabularySize
        let prefix: [Int32] = [5, 17, 99, 3]
        //        0:42 ─ 1:7 ─ 3:8
        //           └── 2:150 ─ 4:23
        let tree: [Int32] = [42, 7, 150, 8, 23]
        let parents = [-1, 0, 0, 1, 2]
        let cache = model.makeCache(capacity: 32)
        _ = try model.forward(TokenBatch(tokens: prefix), cache: cache)
        let verified = try model.forward(
            TokenBatch(tokens: tree, treeParents: parents), cache: cache, options: ForwardOptions(logits: .all)
        ).logits!.values
        for node in 0..<tree.count {
            var path: [Int32] = []
            var current = node
            while current >= 0 { path.insert(tree[current], at: 0); current = parents[current] }
            let sequential = try model.forward(TokenBatch(tokens: prefix + path), cache: model.makeCache(capacity: 32))
                .logits!.values
            let row = Array(verified[(node * vocabulary)..<((node + 1) * vocabulary)])
            #expect(zip(row, sequential).allSatisfy { abs($0 - $1) < 1e-4 }, "node \(node)")
        }
        // Accept the path 0 → 2 → 4, then decode one more token: equals a plain prefill.
        cache.keep(row: 0, from: prefix.count, indices: [0, 2, 4])
        let next = try model.forward(TokenBatch(tokens: [9]), cache: cache).logits!.values
        let plain = try model.forward(
            TokenBatch(tokens: prefix + [42, 150, 23, 9]), cache: model.makeCache(capacity: 32)
        ).logits!.values
        #expect(zip(next, plain).allSatisfy { abs($0 - $1) < 1e-4 })
    }

    @Test func configurationErrorsAreClear() throws {
        func decode(_ json: String) throws -> LlamaConfiguration {
            try JSONDecoder().decode(LlamaConfiguration.self, from: Data(json.utf8))
        }
        let base =
            #""hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "#
            + #""num_attention_heads": 4, "vocab_size": 10"#
        #expect { try decode("{\"model_type\": \"gpt2\", \(base)}") } throws: { "\($0)".contains("gpt2") }
        #expect { try decode("{\"model_type\": \"llama\", \"num_key_value_heads\": 3, \(base)}") } throws: {
            "\($0)".contains("multiple")
        }
        #expect {
            try decode(
                "{\"model_type\": \"llama\", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}, \(base)}")
        } throws: { "\($0)".contains("yarn") }
        #expect { try decode("{\"model_type\": \"llama\", \"hidden_act\": \"gelu\", \(base)}") } throws: {
            "\($0)".contains("gelu")
        }
        let qwen = try decode("{\"model_type\": \"qwen2\", \(base)}")
        #expect(qwen.attentionBias && qwen.kvHeadCount == 4 && qwen.headDimension == 16)
    }

    @Test func missingOrExtraTensorsAreErrors() throws {
        let folder = try Self.folder("tiny-llama")
        let configuration = try LlamaConfiguration.load(modelDirectory: folder)
        let checkpoint = try SafetensorsCheckpoint(directory: folder)
        var weights: [String: Tensor] = [:]
        for name in checkpoint.names { weights[name] = try checkpoint.tensor(name) }
        var missing = weights
        missing["model.layers.1.mlp.up_proj.weight"] = nil
        #expect { try LlamaModel(configuration: configuration, weights: missing) } throws: {
            "\($0)".contains("up_proj")
        }
        var extra = weights
        extra["model.layers.9.mlp.up_proj.weight"] = Tensor(zeros: [1])
        #expect { try LlamaModel(configuration: configuration, weights: extra) } throws: {
            "\($0)".contains("unexpected")
        }
    }
}

/// bf16 weight storage: the same logits as Float32 weights rounded to bf16, at half the memory.
@Suite struct BF16StorageTests {
    @Test func bf16StorageEqualsRoundedFloat32Weights() throws {
        let folder = try TinyModelTests.folder("tiny-qwen2")
        let packed = try LlamaModel.load(from: folder, storage: .bfloat16)
        let float = try LlamaModel.load(from: folder)
        var rounded = float.weights
        for (name, tensor) in rounded where name.hasSuffix("_proj.weight") && name.contains("layers.") {
            let copy = Tensor(zeros: tensor.shape)
            for i in 0..<tensor.count { copy[i] = HalfPrecision.float(bf16: HalfPrecision.bf16Bits(tensor[i])) }
            rounded[name] = copy
        }
        let reference = try LlamaModel(configuration: float.configuration, weights: rounded)
        let tokens: [Int32] = [5, 17, 99, 3, 42, 7, 150, 8]
        let a = try packed.forward(
            TokenBatch(tokens: tokens), cache: packed.makeCache(capacity: 16), options: ForwardOptions(logits: .all)
        ).logits!.values
        let b = try reference.forward(
            TokenBatch(tokens: tokens), cache: reference.makeCache(capacity: 16), options: ForwardOptions(logits: .all)
        ).logits!.values
        #expect(a == b)
        #expect(packed.parameterCount == float.parameterCount)
        #expect(packed.weights["model.layers.0.mlp.up_proj.weight"] == nil)
    }
}

/// A prefill whose layers share one key/value buffer (feature capture) equals one with a
/// buffer per layer; such a cache takes one prefill only.
@Suite struct SharedLayerCacheTests {
    @Test(arguments: TinyModelTests.variants)
    func sharedBuffersGiveTheSameCapturesAndLogits(_ variant: String) throws {
        let model = try LlamaModel.load(from: TinyModelTests.folder(variant))
        let batch = TokenBatch(sequences: [[5, 17, 99, 3, 42, 7], [150, 8, 1, 2]])
        let options = ForwardOptions(captureLayers: [0, 1], finalHidden: true, logits: .all)
        let shared = model.makeCache(batch: 2, capacity: 6, sharingLayers: true)
        #expect(shared.keys[0] === shared.keys[model.configuration.layerCount - 1])
        let a = try model.forward(batch, cache: shared, options: options)
        let b = try model.forward(batch, cache: model.makeCache(batch: 2, capacity: 6), options: options)
        #expect(a.logits!.values == b.logits!.values)
        #expect(a.finalHidden!.values == b.finalHidden!.values)
        #expect(a.concatenatedCaptures([0, 1], rows: 12).values == b.concatenatedCaptures([0, 1], rows: 12).values)
        #expect(throws: LlamaError.self) { try model.forward(batch, cache: shared, options: options) }
        // Freed forward buffers are made again: the same result.
        let before = b.logits!.values
        model.releaseForwardBuffers()
        let again = try model.forward(batch, cache: model.makeCache(batch: 2, capacity: 6), options: options)
        #expect(again.logits!.values == before)
    }
}

/// bf16 safetensors with bf16 storage: the layer matrices are read where the file maps them.
@Suite struct MappedBF16Tests {
    /// A copy of the tiny folder whose layer matrices are stored as BF16 (the rest F32);
    /// `poison` writes a NaN into one matrix.
    static func bf16Folder(poison: String? = nil) throws -> URL {
        let source = try TinyModelTests.folder("tiny-qwen2")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-bf16-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: source.appendingPathComponent("config.json"), to: folder.appendingPathComponent("config.json"))
        let file = try SafetensorsFile(url: source.appendingPathComponent("model.safetensors"))
        let items = try file.names.map { name -> SafetensorsWriter.Item in
            let tensor = try file.tensor(name)
            if name == poison { tensor[3] = .nan }
            let matrix = name.hasPrefix("model.layers.") && name.hasSuffix("proj.weight")
            return SafetensorsWriter.Item(name: name, tensor: tensor, as: matrix ? .bf16 : .f32)
        }
        try SafetensorsWriter().write(items, to: folder.appendingPathComponent("model.safetensors"))
        return folder
    }

    @Test func bf16MatricesAreReadInPlaceAndEqualRoundedOnes() throws {
        let folder = try Self.bf16Folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let mapped = try LlamaModel.load(from: folder, storage: .bfloat16)
        let rounded = try LlamaModel.load(from: TinyModelTests.folder("tiny-qwen2"), storage: .bfloat16)
        // Every layer matrix is in place in the file: no bf16 copy and no Float32 one.
        let c = mapped.configuration
        let perLayer =
            c.hiddenSize * (c.headCount + 2 * c.kvHeadCount) * c.headDimension
            + c.hiddenSize * c.headCount * c.headDimension + 3 * c.hiddenSize * c.intermediateSize
        #expect(mapped.mappedBytes == 2 * c.layerCount * perLayer)
        #expect(rounded.mappedBytes == 0)
        #expect(mapped.weights.keys.allSatisfy { !($0.hasPrefix("model.layers.") && $0.hasSuffix("proj.weight")) })
        #expect(mapped.weightBytes == rounded.weightBytes)
        let tokens: [Int32] = [5, 17, 99, 3, 42, 7, 150, 8]
        func logits(_ model: LlamaModel, _ policy: KernelPolicy) throws -> [Float] {
            try #require(
                try model.forward(
                    TokenBatch(tokens: tokens), cache: model.makeCache(capacity: 16),
                    options: ForwardOptions(logits: .all, kernels: policy)
                ).logits
            ).values
        }
        #expect(try logits(mapped, .standard) == logits(rounded, .standard))
        if BFloat16.support.available {
            #expect(try logits(mapped, .prefill(.bf16)) == logits(rounded, .prefill(.bf16)))
        }
        // Float32 storage of the same folder widens the bf16 values: the same model.
        #expect(try logits(LlamaModel.load(from: folder), .standard) == logits(rounded, .standard))
    }

    @Test func aNaNInAMappedMatrixIsNamed() throws {
        let name = "model.layers.1.mlp.up_proj.weight"
        let folder = try Self.bf16Folder(poison: name)
        defer { try? FileManager.default.removeItem(at: folder) }
        let error = try #require(throws: LlamaError.self) { try LlamaModel.load(from: folder, storage: .bfloat16) }
        #expect("\(error)".contains(name) && "\(error)".contains("nan") && "\(error)".contains("element 3"))
    }
}

/// Prefill under a bf16 policy: bf16 products on the packed bf16 matrices of every layer.
@Suite(.enabled(if: BFloat16.support.available, "bf16 products unavailable"))
struct BF16PrefillTests {
    @Test(arguments: TinyModelTests.variants)
    func bf16PrefillStaysCloseToFloat32(_ variant: String) throws {
        let folder = try TinyModelTests.folder(variant)
        let model = try LlamaModel.load(from: folder, storage: .bfloat16)
        let expected = try SafetensorsFile(url: folder.appendingPathComponent("expected.safetensors"))
        let ids = try expected.integers("input_ids").map { Int32($0) }
        let lengths = try expected.integers("lengths").map { Int($0) }
        let length = ids.count / lengths.count
        let batch = TokenBatch(tokens: ids, batch: lengths.count, length: length, validLengths: lengths)
        func logits(_ policy: KernelPolicy) throws -> [Float] {
            let cache = model.makeCache(batch: lengths.count, capacity: 64)
            return try #require(
                try model.forward(batch, cache: cache, options: ForwardOptions(logits: .all, kernels: policy)).logits
            ).values
        }
        let fp32 = try logits(.standard), bf16 = try logits(.prefill(.bf16))
        var worst: Float = 0, scale: Float = 0
        for (row, valid) in lengths.enumerated() {
            for i in 0..<(valid * model.configuration.vocabularySize) {
                let index = row * length * model.configuration.vocabularySize + i
                worst = max(worst, abs(fp32[index] - bf16[index]))
                scale = max(scale, abs(fp32[index]))
            }
        }
        // Activations rounded to bf16 (8 bits of mantissa) at every product: within 2 % of the
        // largest logit, and not the fp32 values (the bf16 products ran).
        #expect(worst <= 0.02 * scale, "\(variant): max |Δ| \(worst), largest logit \(scale)")
        #expect(worst > 0, "\(variant): bf16 prefill gave the fp32 bits")
    }
}
