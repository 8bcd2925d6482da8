import Foundation
import Testing
@testable import FledgeLlama
import FledgeTensor
import FledgeTestSupport
import FledgeWeights

/// The real SmolLM2-135M-Instruct GGUF against transformers (fixtures in Fixtures/smollm2).
@Suite(
    .serialized,
    .enabled(if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"))
struct SmolLM2Tests {
    struct Case: Decodable { var prompt: String; var input_ids: [Int32]; var generated: [Int32] }
    struct Expected: Decodable { var layers: [Int]; var cases: [Case] }

    static let model: LlamaModel? = try? LlamaModel.load(from: TestAssets.smolLM2)

    func fixtures() throws -> (Expected, SafetensorsFile) {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
            .appendingPathComponent("smollm2")
        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
        return (expected, try SafetensorsFile(url: folder.appendingPathComponent("logits.safetensors")))
    }

    @Test func configurationFromGGUFMetadata() throws {
        let c = try #require(Self.model).configuration
        #expect(c.modelType == "llama" && c.layerCount == 30 && c.hiddenSize == 576 && c.intermediateSize == 1536)
        #expect(c.headCount == 9 && c.kvHeadCount == 3 && c.headDimension == 64 && c.vocabularySize == 49152)
        #expect(c.ropeTheta == 100_000 && c.rmsNormEps == 1e-5 && c.tieWordEmbeddings && c.maxPositions == 8192)
        // Without loading weights: the same configuration.
        #expect(try LlamaConfiguration.load(from: TestAssets.smolLM2) == c)
    }

    @Test func logitsAndHiddenStatesMatchTransformers() throws {
        let model = try #require(Self.model)
        let (expected, tensors) = try fixtures()
        let prompt = expected.cases[0].input_ids
        let result = try model.forward(
            TokenBatch(tokens: prompt), cache: model.makeCache(capacity: prompt.count),
            options: ForwardOptions(captureLayers: expected.layers, finalHidden: true, logits: .all))
        let logits = try #require(result.logits)
        let reference = try tensors.tensor("logits_last2")
        let vocabulary = model.configuration.vocabularySize
        let report = compare(
            "logits", logits.pointer + (prompt.count - 2) * vocabulary, reference.pointer, count: 2 * vocabulary,
            atol: 1e-3)
        #expect(report.passed, "\(report)")
        for layer in expected.layers {
            let captured = try #require(result.captured[layer])
            let report = compare(
                "layer \(layer)", captured, try tensors.tensor("hidden.\(layer)"), atol: 1e-3, rtol: 1e-4)
            #expect(report.passed, "\(report)")
        }
        #expect(
            compare(
                "final", try #require(result.finalHidden), try tensors.tensor("final_hidden"), atol: 1e-3, rtol: 1e-4
            ).passed)
    }

    /// The GGUF's Q4_1 layer matrices and Q8_0 head are kept as blocks for decoding; their
    /// values are the dequantised (and, for Q/K, un-permuted) Float32 weights, and a decode step
    /// through them gives the same logits, bit for bit, as through the Float32 weights.
    @Test func quantisedDecodingGivesTheFloat32LogitsBitForBit() throws {
        let model = try #require(Self.model)
        #expect(
            model.layers.allSatisfy { layer in
                let q = layer.quantized
                return [q.q, q.k, q.v, q.o, q.gate, q.up, q.down].allSatisfy { $0?.format == .q4_1 }
            })
        #expect(model.quantizedHead?.format == .q8_0)
        for (name, matrix) in [
            ("model.layers.0.self_attn.q_proj.weight", model.layers[0].quantized.q),
            ("model.layers.7.self_attn.k_proj.weight", model.layers[7].quantized.k),
            ("model.layers.29.mlp.down_proj.weight", model.layers[29].quantized.down),
            ("model.embed_tokens.weight", model.quantizedHead),
        ] {
            let dense = try #require(model.weights[name])
            #expect(
                try #require(matrix).dequantized().values.map(\.bitPattern) == dense.values.map(\.bitPattern), "\(name)"
            )
        }
        let prompt = try fixtures().0.cases[1].input_ids
        func decode(quantized: Bool) throws -> [[UInt32]] {
            let kernels: KernelPolicy = quantized ? .dequantising : .float32
            let cache = model.makeCache(capacity: prompt.count + 8)
            _ = try model.forward(TokenBatch(tokens: prompt), cache: cache, options: ForwardOptions(logits: .last))
            var rows: [[UInt32]] = []
            for token: Int32 in [28, 3000, 17, 451] {
                let logits = try #require(
                    try model.forward(
                        TokenBatch(tokens: [token]), cache: cache,
                        options: ForwardOptions(logits: .last, kernels: kernels)
                    ).logits)
                rows.append(logits.values.map(\.bitPattern))
            }
            return rows
        }
        #expect(try decode(quantized: true) == decode(quantized: false))
    }

    /// Integer products (8-bit activation blocks, the default for quantised blocks) against
    /// the Float32 path on the same weights: every logit of 8 decode steps within 4 % of the
    /// step's logit range (measured 2.5 %: the 8-bit rounding of activations, as llama.cpp),
    /// and the same top token wherever the Float32 top two are 0.5 apart.
    @Test func integerDecodingStaysCloseToTheFloat32Logits() throws {
        let model = try #require(Self.model)
        let prompt = try fixtures().0.cases[2].input_ids
        func decode(_ kernels: KernelPolicy) throws -> [[Float]] {
            let cache = model.makeCache(capacity: prompt.count + 8)
            _ = try model.forward(TokenBatch(tokens: prompt), cache: cache, options: ForwardOptions(logits: .last))
            return try [28, 3000, 17, 451, 198, 2, 1000, 30].map { (token: Int32) in
                try #require(
                    try model.forward(
                        TokenBatch(tokens: [token]), cache: cache,
                        options: ForwardOptions(logits: .last, kernels: kernels)
                    ).logits
                ).values
            }
        }
        let (integer, float) = (try decode(.standard), try decode(.float32))
        var worst: Float = 0
        for (a, b) in zip(integer, float) {
            let range = b.max()! - b.min()!
            let difference = zip(a, b).map { abs($0 - $1) }.max()!
            worst = max(worst, difference / range)
            let sorted = b.sorted(by: >)
            if sorted[0] - sorted[1] > 0.5 { #expect(a.firstIndex(of: a.max()!) == b.firstIndex(of: b.max()!)) }
        }
        #expect(worst <= 0.04, "largest difference \(worst) of the logit range")
        #expect(integer != float, "the integer path ran")
    }

    /// Batched generation (data regenerate) under integer products: a prompt's sampled tokens
    /// do not depend on which prompts share its batch (the padded prefill runs row-exact).
    @Test func batchedGenerationDoesNotDependOnTheBatch() throws {
        let model = try #require(Self.model)
        let prompts = try fixtures().0.cases.prefix(3).map(\.input_ids)
        func samplers(_ indices: [Int]) -> [Sampler] {
            indices.map { Sampler(SamplingOptions(temperature: 0.8, seed: UInt64(10 + $0))) }
        }
        let together = try model.generateBatch(
            prompts: Array(prompts), maxTokens: 12, samplers: samplers([0, 1, 2]), stopTokens: [])
        for index in 0..<3 {
            let alone = try model.generateBatch(
                prompts: [prompts[index]], maxTokens: 12, samplers: samplers([index]), stopTokens: [])
            #expect(alone[0] == together[index], "prompt \(index)")
        }
        let pair = try model.generateBatch(
            prompts: [prompts[2], prompts[0]], maxTokens: 12, samplers: samplers([2, 0]), stopTokens: [])
        #expect(pair == [together[2], together[0]])
    }

    /// Against Float32 transformers: the dequantising kernels (the Float32 path's bits). The
    /// default integer products round activations to 8 bits and part from it at near ties.
    @Test func greedyGenerationMatchesTransformersTokenForToken() throws {
        let model = try #require(Self.model)
        let (expected, _) = try fixtures()
        for item in expected.cases {
            let result = try model.generate(
                prompt: item.input_ids, maxTokens: item.generated.count, kernels: .dequantising)
            #expect(result.tokens == item.generated, "prompt: \(item.prompt)")
        }
    }
}
