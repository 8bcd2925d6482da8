import Foundation
import Testing
@testable import FledgeLlama
import FledgeTensor
import FledgeTestSupport
import FledgeWeights

/// The real SmolLM2-135M-Instruct GGUF against transformers (fixtures in Fixtures/smollm2).
@Suite(.serialized, .enabled(if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"))
struct SmolLM2Tests {
    struct Case: Decodable { var prompt: String; var input_ids: [Int32]; var generated: [Int32] }
    struct Expected: Decodable { var layers: [Int]; var cases: [Case] }

    static let model: LlamaModel? = try? LlamaModel.load(from: TestAssets.smolLM2)

    func fixtures() throws -> (Expected, SafetensorsFile) {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("smollm2")
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
        return (expected, try SafetensorsFile(url: folder.appendingPathComponent("logits.safetensors")))
    }

    @Test func configurationFromGGUFMetadata() throws {
        let c = try #require(Self.model).configuration
        #expect(c.modelType == "llama" && c.layerCount == 30 && c.hiddenSize == 576 && c.intermediateSize == 1536)
        #expect(c.headCount == 9 && c.kvHeadCount == 3 && c.headDimension == 64 && c.vocabularySize == 49152)
        #expect(c.ropeTheta == 100_000 && c.rmsNormEps == 1e-5 && c.tieWordEmbeddings && c.maxPositions == 8192)
    }

    @Test func logitsAndHiddenStatesMatchTransformers() throws {
        let model = try #require(Self.model)
        let (expected, tensors) = try fixtures()
        let prompt = expected.cases[0].input_ids
        let result = try model.forward(TokenBatch(tokens: prompt), cache: model.makeCache(capacity: prompt.count),
                                       options: ForwardOptions(captureLayers: expected.layers, finalHidden: true, logits: .all))
        let logits = try #require(result.logits)
        let reference = try tensors.tensor("logits_last2")
        let vocabulary = model.configuration.vocabularySize
        let report = compare("logits", logits.pointer + (prompt.count - 2) * vocabulary, reference.pointer, count: 2 * vocabulary, atol: 1e-3)
        #expect(report.passed, "\(report)")
        for layer in expected.layers {
            let captured = try #require(result.captured[layer])
            let report = compare("layer \(layer)", captured, try tensors.tensor("hidden.\(layer)"), atol: 1e-3, rtol: 1e-4)
            #expect(report.passed, "\(report)")
        }
        #expect(compare("final", try #require(result.finalHidden), try tensors.tensor("final_hidden"), atol: 1e-3, rtol: 1e-4).passed)
    }

    @Test func greedyGenerationMatchesTransformersTokenForToken() throws {
        let model = try #require(Self.model)
        let (expected, _) = try fixtures()
        for item in expected.cases {
            let result = try model.generate(prompt: item.input_ids, maxTokens: item.generated.count)
            #expect(result.tokens == item.generated, "prompt: \(item.prompt)")
        }
    }
}
