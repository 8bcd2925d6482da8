import Foundation
import Testing
@testable import FledgeLlama
import FledgeNN
import FledgeTensor
import FledgeTestSupport
import FledgeWeights

/// Targets kept as their GGUF stores them (``LlamaModel/WeightStorage/quantized``): no Float32
/// copy of a quantised matrix, every product with one an integer product, embedding rows
/// dequantised on lookup; outputs close to the Float32 model's, memory as estimated.
@Suite struct StoredWeightsTests {
    /// The largest |difference| over the logits' range, for rows of `a` and `b`.
    func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        let range = (b.values.max() ?? 0) - (b.values.min() ?? 0)
        return zip(a.values, b.values).map { abs($0 - $1) }.max()! / max(range, 1e-6)
    }

    func logits(_ model: LlamaModel, _ tokens: [Int32]) throws -> Tensor {
        let result = try model.forward(
            TokenBatch(tokens: tokens), cache: model.makeCache(capacity: tokens.count),
            options: ForwardOptions(captureLayers: [0], finalHidden: true, logits: .all))
        let copy = Tensor(zeros: try #require(result.logits).shape)
        copy.pointer.update(from: result.logits!.pointer, count: copy.count)
        return copy
    }

    /// The synthetic GGUF: Q8_0 embedding (blocks only: rows dequantised on lookup), F16 head.
    @Test func aSyntheticGGUFRunsFromItsBlocks() throws {
        let folder = try temporaryFolder("stored")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.gguf")
        try TinyGGUF.writer().data().write(to: url)
        let float = try LlamaModel.load(from: url)
        let stored = try LlamaModel.load(from: url, storage: .quantized)
        #expect(stored.embedding.count == 0 && stored.embeddingTable.blocks != nil)
        #expect(stored.parameterCount == float.parameterCount)
        // The embedding's rows are the Float32 table's, value for value.
        let ids: [Int32] = [3, 0, 63, 17]
        let rows = Tensor(zeros: [4, 32])
        stored.embeddingTable.gather(rows.pointer, ids: ids, count: 4)
        for (row, id) in ids.enumerated() {
            #expect(
                Array(rows.values[(row * 32)..<(row * 32 + 32)])
                    == Array(float.embedding.values[(Int(id) * 32)..<(Int(id) * 32 + 32)]))
        }
        let tokens: [Int32] = [1, 5, 9, 22, 40, 7, 13]
        #expect(relativeError(try logits(stored, tokens), try logits(float, tokens)) < 0.03)
        for storage in [LlamaModel.WeightStorage.float32, .quantized] {
            let model = storage == .float32 ? float : stored
            #expect(
                abs(try storage.estimatedBytes(of: url) - model.weightBytes) <= model.weightBytes / 50, "\(storage)")
        }
    }

    /// MiniCPM's GGUF fixture (Q8_0 MLP): stored weights give the reference within integer rounding.
    @Test func theMiniCPMFixtureFromItsBlocks() throws {
        let folder = try MiniCPMTests.folder()
        let stored = try LlamaModel.load(from: folder.appendingPathComponent("model.gguf"), storage: .quantized)
        #expect(stored.weights["model.layers.0.mlp.up_proj.weight"] == nil)
        let expected = try SafetensorsFile(url: folder.appendingPathComponent("expected-gguf.safetensors"))
        let ids = try expected.integers("input_ids").map { Int32($0) }
        let first = Array(ids.prefix(12))  // row 0: 12 valid tokens
        let reference = try expected.tensor("logits")
        let actual = try logits(stored, first)
        let rows = Tensor(Array(reference.values.prefix(actual.count)), shape: actual.shape)
        #expect(relativeError(actual, rows) < 0.03)
    }

    @Test(
        .enabled(
            if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"))
    func smolLM2FromItsBlocksAgreesWithFloat32() throws {
        let float = try LlamaModel.load(from: TestAssets.smolLM2)
        let stored = try LlamaModel.load(from: TestAssets.smolLM2, storage: .quantized)
        // Q4_1 layers, a Q8_0 embedding and tied head: no Float32 matrix but the norms.
        #expect(stored.weights.keys.allSatisfy { $0.hasSuffix("norm.weight") })
        #expect(stored.weightBytes < float.weightBytes / 4)
        let tokens: [Int32] = [1, 9690, 198, 2683, 314, 260, 3575, 282, 4649, 47, 2]
        let a = try logits(stored, tokens), b = try logits(float, tokens)
        #expect(relativeError(a, b) < 0.04)
        // The same next token at most positions (integer products round activations to 8 bits).
        let v = float.configuration.vocabularySize
        let agree = (0..<tokens.count).filter { position in
            Sampler.argmax(a.pointer + position * v, count: v) == Sampler.argmax(b.pointer + position * v, count: v)
        }.count
        #expect(agree >= tokens.count - 2, "\(agree) of \(tokens.count)")
        for storage in [LlamaModel.WeightStorage.float32, .quantized] {
            let model = storage == .float32 ? float : stored
            let estimate = try storage.estimatedBytes(of: TestAssets.smolLM2)
            #expect(abs(estimate - model.weightBytes) <= model.weightBytes / 50, "\(storage): \(estimate)")
        }
    }

    @Test func storedWeightsNeedAGGUF() throws {
        #expect {
            try LlamaModel.load(from: try MiniCPMTests.folder(), storage: .quantized)
        } throws: { "\($0)".contains("need a GGUF") }
        #expect(LlamaModel.WeightStorage(spelling: "stored") == .quantized)
        #expect(LlamaModel.WeightStorage(spelling: "bf16") == .bfloat16)
        #expect(LlamaModel.WeightStorage(spelling: "int3") == nil)
        // A small target keeps the preferred storage.
        #expect(
            try LlamaModel.WeightStorage.resolve(
                nil, model: try MiniCPMTests.folder().appendingPathComponent("model.gguf"), precision: .fp32)
                == .float32)
    }
}
