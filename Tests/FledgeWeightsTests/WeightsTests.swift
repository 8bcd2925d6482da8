import Foundation
import Testing
@testable import FledgeWeights
import FledgeTensor
import FledgeTestSupport

@Suite struct WeightsTests {
    let fixtures: URL

    init() throws {
        fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func ggufMetadataOfEveryType() throws {
        let file = try GGUFFile(url: fixtures.appendingPathComponent("tiny.gguf"))
        #expect(file.version == 3)
        #expect(file.architecture == "llama")
        #expect(file.metadata["test.u32"]?.int == 7)
        #expect(file.metadata["test.i32"]?.int == -3)
        #expect(file.metadata["test.f32"]?.double == 0.5)
        #expect(file.metadata["test.bool"]?.bool == true)
        #expect(file.metadata["test.string"]?.string == "héllo")
        #expect(file.metadata["test.strings"]?.array?.compactMap(\.string) == ["a", "bc", ""])
        #expect(file.metadata["test.ints"]?.array?.compactMap(\.int) == [1, 2, 3])
        #expect(file.metadata["test.u64"]?.int == 1 << 40)
        #expect(file.metadata["test.f64"]?.double == 0.25)
        #expect(file.info("q4_k")?.shape == [4, 256])
    }

    @Test(arguments: ["dense_f32", "dense_f16", "dense_bf16", "q8_0", "q4_0", "q4_1", "q4_k", "q6_k"])
    func dequantisationMatchesGGUFPython(_ name: String) throws {
        let file = try GGUFFile(url: fixtures.appendingPathComponent("tiny.gguf"))
        let expected = try SafetensorsFile(url: fixtures.appendingPathComponent("tiny.gguf.expected.safetensors"))
        let actual = try file.tensor(name)
        let reference = try expected.tensor(name)
        #expect(actual.shape == reference.shape)
        let result = compare(name, actual, reference, atol: 0, rtol: 1e-6)
        #expect(result.passed, "\(result)")
    }

    @Test func safetensorsOfEveryDType() throws {
        let file = try SafetensorsFile(url: fixtures.appendingPathComponent("mixed.safetensors"))
        let data = try Data(contentsOf: fixtures.appendingPathComponent("mixed.expected.json"))
        let expected = try JSONDecoder().decode([String: [Double]].self, from: data)
        for name in ["f32", "f16", "bf16"] {
            #expect(try file.tensor(name).values.map(Double.init) == expected[name], "\(name)")
        }
        #expect(try file.integers("i64") == expected["i64"]!.map { Int64($0) })
        #expect(try file.integers("mask") == [1, 0, 1])
        #expect(file.entries["mask"]?.dtype == .bool)
        #expect(file.metadata["format"] == "pt")
    }

    @Test func writerRoundTripsEveryDTypeAtomically() throws {
        let directory = try temporaryDirectory()
        let url = directory.appendingPathComponent("out.safetensors")
        let values = Tensor([1.5, -2.25, 3e-3, 7], shape: [2, 2])
        try SafetensorsWriter().write(
            [
                .init(name: "a.f32", tensor: values),
                .init(name: "a.bf16", tensor: values, as: .bf16),
                .init(name: "a.f16", tensor: values, as: .f16),
                .init(name: "d2t", int64: [0, 5, -2]),
                .init(name: "t2d", bools: [true, false]),
            ], metadata: ["format": "pt"], to: url)
        let file = try SafetensorsFile(url: url)
        #expect(file.names == ["a.f32", "a.bf16", "a.f16", "d2t", "t2d"])
        #expect(try file.tensor("a.f32").values == values.values)
        #expect(
            try file.tensor("a.bf16").values
                == values.values.map { HalfPrecision.float(bf16: HalfPrecision.bf16Bits($0)) })
        #expect(
            try file.tensor("a.f16").values == values.values.map { HalfPrecision.float(f16: HalfPrecision.f16Bits($0)) }
        )
        #expect(try file.integers("d2t") == [0, 5, -2])
        #expect(try file.integers("t2d") == [1, 0])
        // The header length is a multiple of 8 and no temporary file is left behind.
        let raw = try Data(contentsOf: url)
        #expect(raw.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } % 8 == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["out.safetensors"])
    }

    @Test func shardedCheckpointThroughTheIndex() throws {
        let directory = try temporaryDirectory()
        try SafetensorsWriter().write(
            [.init(name: "x", tensor: Tensor([1, 2], shape: [2]))],
            to: directory.appendingPathComponent("model-00001-of-00002.safetensors"))
        try SafetensorsWriter().write(
            [.init(name: "y", tensor: Tensor([3], shape: [1]))],
            to: directory.appendingPathComponent("model-00002-of-00002.safetensors"))
        let index =
            #"{"metadata": {}, "weight_map": {"x": "model-00001-of-00002.safetensors", "#
            + #""y": "model-00002-of-00002.safetensors"}}"#
        try Data(index.utf8).write(to: directory.appendingPathComponent("model.safetensors.index.json"))
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        #expect(checkpoint.names == ["x", "y"])
        #expect(try checkpoint.tensor("y").values == [3])
        // An index that names a tensor its shard lacks is an error naming the shard.
        let broken = #"{"weight_map": {"x": "model-00002-of-00002.safetensors"}}"#
        try Data(broken.utf8).write(to: directory.appendingPathComponent("model.safetensors.index.json"))
        #expect(throws: WeightsError.self) { try SafetensorsCheckpoint(directory: directory) }
    }

    @Test func badSafetensorsHeadersAreRejectedWithTheFileName() throws {
        let directory = try temporaryDirectory()
        func attempt(_ bytes: Data) -> String? {
            let url = directory.appendingPathComponent("bad.safetensors")
            try? bytes.write(to: url)
            do {
                _ = try SafetensorsFile(url: url)
                return nil
            } catch let error as WeightsError {
                return error.description
            } catch {
                return "\(error)"
            }
        }
        func file(header: String, data: Int) -> Data {
            var length = UInt64(header.utf8.count).littleEndian
            return Data(bytes: &length, count: 8) + Data(header.utf8) + Data(count: data)
        }
        #expect(attempt(Data([1, 2, 3]))?.contains("bad.safetensors") == true)
        #expect(
            attempt(file(header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", data: 8))?
                .contains("outside") == true)
        #expect(
            attempt(file(header: "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", data: 16))?
                .contains("bytes for shape") == true)
        #expect(
            attempt(file(header: "{\"a\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,1]}}", data: 1))?.contains(
                "unsupported dtype") == true)
        #expect(
            attempt(
                file(
                    header:
                        "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                        + "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
                    data: 3))?.contains("overlap") == true)
        #expect(attempt(file(header: "not json", data: 0))?.contains("JSON") == true)
    }

    @Test func truncatedGGUFIsReportedWithAnOffset() throws {
        let bytes = try Data(contentsOf: fixtures.appendingPathComponent("tiny.gguf"))
        let directory = try temporaryDirectory()
        let url = directory.appendingPathComponent("cut.gguf")
        try bytes.prefix(200).write(to: url)
        #expect { try GGUFFile(url: url) } throws: { error in
            (error as? WeightsError)?.description.contains("at byte") == true
        }
        try bytes.prefix(bytes.count - 100).write(to: url)
        #expect { try GGUFFile(url: url) } throws: { error in
            (error as? WeightsError)?.description.contains("truncated") == true
        }
    }

    @Test func qkUnpermutationInvertsTheConverterPermutation() {
        // llama.cpp's converter: w.reshape(heads, 2, d/2, cols).swapaxes(1, 2).reshape(rows, cols)
        let (heads, d, columns) = (3, 8, 2)
        let rows = heads * d
        let hf = Tensor((0..<(rows * columns)).map(Float.init), shape: [rows, columns])
        let permuted = Tensor(zeros: hf.shape)
        for h in 0..<heads {
            for i in 0..<(d / 2) {
                for j in 0..<2 {
                    let ggufRow = h * d + 2 * i + j
                    let hfRow = h * d + j * d / 2 + i
                    for c in 0..<columns { permuted[ggufRow * columns + c] = hf[hfRow * columns + c] }
                }
            }
        }
        let restored = Tensor(zeros: hf.shape)
        LlamaQKPermutation.unpermute(
            permuted.pointer, into: restored.pointer, heads: heads, rows: rows, columns: columns)
        #expect(restored.values == hf.values)
    }

    @Test func ggufNamesMapToHuggingFace() {
        #expect(TensorNames.huggingFace(fromGGUF: "token_embd.weight") == "model.embed_tokens.weight")
        #expect(TensorNames.huggingFace(fromGGUF: "blk.12.ffn_down.weight") == "model.layers.12.mlp.down_proj.weight")
        #expect(
            TensorNames.huggingFace(fromGGUF: "blk.0.attn_k_norm.weight") == "model.layers.0.self_attn.k_norm.weight")
        #expect(TensorNames.huggingFace(fromGGUF: "rope_freqs.weight") == nil)
    }
}
