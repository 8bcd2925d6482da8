import Foundation
import Testing
@testable import FledgeLlama
import FledgeNN
import FledgeTensor
import FledgeTestSupport
import FledgeWeights

/// MiniCPM (embedding, residual and logit scales, LongRoPE) against a PyTorch reference written
/// from its published modeling code (Scripts/reference/make_minicpm_fixtures.py): the Hugging
/// Face folder and the GGUF that llama.cpp's converter would write of the same model.
@Suite struct MiniCPMTests {
    static func folder() throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(
            "tiny-minicpm")
    }

    /// Every layer's output, the final norm (as the head reads it) and the logits of a
    /// right-padded batch of two, on valid positions.
    func expectMatches(_ model: LlamaModel, _ expectedFile: String) throws {
        let expected = try SafetensorsFile(url: try Self.folder().appendingPathComponent(expectedFile))
        let ids = try expected.integers("input_ids").map { Int32($0) }
        let lengths = try expected.integers("lengths").map { Int($0) }
        let length = ids.count / lengths.count
        let c = model.configuration
        let layers = Array(0..<c.layerCount)
        let result = try model.forward(
            TokenBatch(tokens: ids, batch: lengths.count, length: length, validLengths: lengths),
            cache: model.makeCache(batch: lengths.count, capacity: 32),
            options: ForwardOptions(captureLayers: layers, finalHidden: true, logits: .all))
        func check(_ label: String, _ actual: Tensor, _ reference: Tensor, multiplier: Float = 1) {
            let width = reference.shape[-1]
            let scaled = reference.values.map { $0 * multiplier }
            for (row, valid) in lengths.enumerated() {
                let offset = row * length * width
                let outcome = scaled.withUnsafeBufferPointer {
                    compare(
                        "\(label) row \(row)", actual.pointer + offset, $0.baseAddress! + offset, count: valid * width,
                        atol: 1e-4, rtol: 1e-4)
                }
                #expect(outcome.passed, "\(outcome)")
            }
        }
        for layer in layers {
            check("layer \(layer)", try #require(result.captured[layer]), try expected.tensor("hidden.\(layer)"))
        }
        check(
            "final", try #require(result.finalHidden), try expected.tensor("final_hidden"),
            multiplier: c.logitMultiplier)
        check("logits", try #require(result.logits), try expected.tensor("logits"))
    }

    @Test func huggingFaceFolderMatchesTheReference() throws {
        let model = try LlamaModel.load(from: try Self.folder())
        let c = model.configuration
        #expect(c.modelType == "minicpm" && c.tieWordEmbeddings)
        #expect(c.embeddingMultiplier == 12)
        #expect(abs(c.residualMultiplier - 1.4 / Float(3).squareRoot()) < 1e-7)
        #expect(c.logitMultiplier == 0.25)
        // max_position_embeddings 64 > original 32: the long factors, an attention factor above 1.
        guard case .longrope(let short, let long, 32, 64) = c.ropeScaling else {
            Issue.record("expected LongRoPE, got \(c.ropeScaling)")
            return
        }
        #expect(short.count == 8 && long.count == 8 && long[7] > short[7])
        try expectMatches(model, "expected.safetensors")
    }

    @Test func ggufMatchesTheReference() throws {
        let model = try LlamaModel.load(from: try Self.folder().appendingPathComponent("model.gguf"))
        let c = model.configuration
        #expect(c.modelType == "minicpm" && c.tieWordEmbeddings)
        #expect(c.embeddingMultiplier == 12)
        #expect(abs(c.residualMultiplier - 1.4 / Float(3).squareRoot()) < 1e-6)
        #expect(abs(c.logitMultiplier - 0.25) < 1e-7)
        #expect(model.quantizedBytes > 0)  // the MLP's Q8_0 blocks are kept for decoding
        try expectMatches(model, "expected-gguf.safetensors")
    }

    /// Decoding one token at a time (the row-exact kernels; integer products on the GGUF's
    /// Q8_0 blocks) gives the logits of a full prefill.
    @Test(arguments: ["", "model.gguf"])
    func incrementalDecodingMatchesPrefill(_ file: String) throws {
        let url = file.isEmpty ? try Self.folder() : try Self.folder().appendingPathComponent(file)
        let model = try LlamaModel.load(from: url)
        let tokens: [Int32] = [5, 17, 99, 3, 42, 7, 150, 8, 23]
        let vocabulary = model.configuration.vocabularySize
        let full = try model.forward(
            TokenBatch(tokens: tokens), cache: model.makeCache(capacity: 32), options: ForwardOptions(logits: .all)
        ).logits!.values
        let cache = model.makeCache(capacity: 32)
        _ = try model.forward(TokenBatch(tokens: Array(tokens[0..<4])), cache: cache)
        // Integer products round the activations to 8 bits: a looser bound on the GGUF.
        let tolerance: Float = file.isEmpty ? 1e-4 : 0.05
        for i in 4..<tokens.count {
            let step = try model.forward(TokenBatch(tokens: [tokens[i]]), cache: cache).logits!.values
            let reference = full[(i * vocabulary)..<((i + 1) * vocabulary)]
            let worst = zip(step, reference).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < tolerance, "position \(i): \(worst)")
        }
    }

    @Test func configurationKeysDefaultsAndErrors() throws {
        func decode(_ json: String) throws -> LlamaConfiguration {
            try JSONDecoder().decode(LlamaConfiguration.self, from: Data(json.utf8))
        }
        let base =
            #""model_type": "minicpm", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 4, "#
            + #""num_attention_heads": 4, "vocab_size": 10"#
        // The modeling code's defaults: every scale 1, so 1/√L and 1/hidden; a tied head.
        let plain = try decode("{\(base)}")
        #expect(plain.embeddingMultiplier == 1 && plain.residualMultiplier == 0.5 && plain.logitMultiplier == 1 / 64)
        #expect(plain.tieWordEmbeddings)
        let given = try decode("{\(base), \"scale_emb\": 12, \"scale_depth\": 1.4, \"dim_model_base\": 256}")
        #expect(given.embeddingMultiplier == 12 && given.residualMultiplier == 0.7 && given.logitMultiplier == 4)
        // The configuration survives its own encoding.
        let again = try JSONDecoder().decode(LlamaConfiguration.self, from: try JSONEncoder().encode(given))
        #expect(again.embeddingMultiplier == 12 && abs(again.residualMultiplier - 0.7) < 1e-6)
        #expect(abs(again.logitMultiplier - 4) < 1e-6)
        #expect { try decode("{\(base), \"scale_depth\": -1}") } throws: { "\($0)".contains("scale_depth") }
        #expect { try decode("{\(base), \"scale_emb\": 0}") } throws: { "\($0)".contains("scale_emb") }
        let rope = { (short: String, long: String) in
            #", "rope_scaling": {"rope_type": "longrope", "short_factor": \#(short), "long_factor": \#(long), "#
                + #""original_max_position_embeddings": 1024}"#
        }
        let eight = "[" + Array(repeating: "1.5", count: 8).joined(separator: ", ") + "]"
        let shortOnly = try decode("{\(base)\(rope(eight, eight)), \"max_position_embeddings\": 1024}")
        guard case .longrope(_, _, 1024, 1024) = shortOnly.ropeScaling else {
            Issue.record("\(shortOnly.ropeScaling)")
            return
        }
        #expect(
            RoPEScaling.longRoPEAttentionFactor(maxPositions: 1024, originalMaxPositions: 1024) == 1)
        #expect { try decode("{\(base)\(rope("[1, 2]", eight))}") } throws: {
            "\($0)".contains("short_factor holds 2 factors")
        }
        #expect {
            try decode("{\(base)\(rope(eight, "[" + Array(repeating: "-1", count: 8).joined(separator: ",") + "]"))}")
        } throws: {
            "\($0)".contains("long_factor[0]")
        }
        // LongRoPE by MiniCPM's rule is not silently applied to other model types.
        let llama = base.replacingOccurrences(of: "minicpm", with: "llama")
        #expect { try decode("{\(llama)\(rope(eight, eight))}") } throws: { "\($0)".contains("minicpm models only") }
        // The draft of a LongRoPE target runs plain RoPE with its θ.
        #expect(shortOnly.draftRoPEScaling == .none)
    }

    /// The long factors and the attention factor change the rotation as the modeling code does.
    @Test func longRoPETables() {
        let short: [Float] = [1, 2], long: [Float] = [4, 8]
        let rope = RotaryEmbedding(
            headDimension: 4, theta: 100,
            scaling: .longrope(shortFactors: short, longFactors: long, originalMaxPositions: 16, maxPositions: 64),
            maxPositions: 64)
        let factor = Float((1 + log(4.0) / log(16.0)).squareRoot())
        #expect(abs(rope.attentionFactor - factor) < 1e-6)
        #expect(abs(rope.inverseFrequencies[0] - 1 / 4) < 1e-7)
        #expect(abs(rope.inverseFrequencies[1] - 0.1 / 8) < 1e-7)
        // Position 3 of [1, 0 | 0, 0]: a = cos(3/4)·f, b = sin(3/4)·f.
        var x: [Float] = [1, 0, 0, 0]
        var position: Int32 = 3
        x.withUnsafeMutableBufferPointer { rope.forward($0.baseAddress!, positions: &position, rows: 1, heads: 1) }
        #expect(abs(x[0] - cos(0.75) * factor) < 1e-6 && abs(x[2] - sin(0.75) * factor) < 1e-6)
    }

    /// A GGUF's `rope_freqs.weight` (Llama 3.1's scaling as llama.cpp's converter precomputes it)
    /// divides each frequency: the same frequencies as the llama3 scaling of a config.json.
    @Test func ropeFreqsOfAGGUFReproduceLlama3Scaling() throws {
        let (factor, low, high, original): (Float, Float, Float, Int) = (8, 1, 4, 32)
        let headDimension = 16, theta: Float = 500_000
        // The converter's factors: 1, `factor`, or 1 / ((1 − smooth) / factor + smooth) between.
        let factors: [Float] = (0..<(headDimension / 2)).map { i in
            let frequency = 1 / powf(theta, Float(2 * i) / Float(headDimension))
            let wavelength = 2 * Float.pi / frequency
            if wavelength < Float(original) / high { return 1 }
            if wavelength > Float(original) / low { return factor }
            let smooth = (Float(original) / wavelength - low) / (high - low)
            return 1 / ((1 - smooth) / factor + smooth)
        }
        let fromFactors = RotaryEmbedding(
            headDimension: headDimension, theta: theta, scaling: .frequencyFactors(factors), maxPositions: 8)
        let llama3 = RotaryEmbedding(
            headDimension: headDimension, theta: theta,
            scaling: .llama3(
                factor: factor, lowFrequencyFactor: low, highFrequencyFactor: high, originalMaxPositions: original),
            maxPositions: 8)
        for (a, b) in zip(fromFactors.inverseFrequencies, llama3.inverseFrequencies) {
            #expect(abs(a - b) <= 1e-6 * b, "\(a) vs \(b)")
        }
        // The tensor in a GGUF becomes the configuration's scaling; the model loads and runs.
        let folder = try temporaryFolder("ropefreqs")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.gguf")
        var writer = TinyGGUF.writer()
        writer.tensors.append(.init(name: "rope_freqs.weight", shape: [headDimension / 2], f32: factors))
        try writer.data().write(to: url)
        #expect(try LlamaConfiguration.load(from: url).ropeScaling == .frequencyFactors(factors))
        #expect(allFinite(try TinyGGUF.exercise(url)))
        // Wrong length, or a factor that is not positive: an error naming the tensor.
        for bad in [[Float](repeating: 1, count: 5), [Float](repeating: 1, count: 7) + [-1]] {
            var writer = TinyGGUF.writer()
            writer.tensors.append(.init(name: "rope_freqs.weight", shape: [bad.count], f32: bad))
            try writer.data().write(to: url)
            #expect { try LlamaConfiguration.load(from: url) } throws: { "\($0)".contains("rope_freqs.weight") }
        }
    }
}
