import Foundation
import Testing
@testable import FledgeLlama
import FledgeTemplate
import FledgeTensor
import FledgeTestSupport
import FledgeWeights

/// A synthetic two-layer Llama GGUF (Q8_0 embedding, F16 head, F32 elsewhere) with a gpt2
/// vocabulary of 64 printable ASCII tokens and a chat template, written by ``GGUFWriter``.
enum TinyGGUF {
    static let tokens = (0x21..<0x61).map { String(UnicodeScalar(UInt8($0))) }

    static func values(_ count: Int, seed: Int, base: Float = 0) -> [Float] {
        (0..<count).map { base + 0.1 * sinf(Float($0 * 7 + seed * 13) * 0.37) }
    }

    static func writer() -> GGUFWriter {
        var w = GGUFWriter()
        w.metadata = [
            ("general.architecture", .string("llama")),
            ("general.alignment", .u32(32)),
            ("llama.block_count", .u32(2)),
            ("llama.context_length", .u32(64)),
            ("llama.embedding_length", .u32(32)),
            ("llama.feed_forward_length", .u32(32)),
            ("llama.attention.head_count", .u32(2)),
            ("llama.attention.head_count_kv", .u32(1)),
            ("llama.attention.layer_norm_rms_epsilon", .f32(1e-5)),
            ("llama.rope.freq_base", .f32(10_000)),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("default")),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.token_type", .i32s([Int32](repeating: 1, count: tokens.count))),
            ("tokenizer.ggml.merges", .strings([])),
            ("tokenizer.ggml.bos_token_id", .u32(0)),
            ("tokenizer.ggml.eos_token_id", .u32(1)),
            ("tokenizer.chat_template", .string("{% for m in messages %}{{ m['content'] }}{% endfor %}")),
        ]
        var seed = 0
        func next() -> Int {
            seed += 1
            return seed
        }
        w.tensors = [
            .init(name: "token_embd.weight", shape: [64, 32], q8_0: values(64 * 32, seed: next())),
            .init(name: "output_norm.weight", shape: [32], f32: values(32, seed: next(), base: 1)),
            .init(name: "output.weight", shape: [64, 32], f16: values(64 * 32, seed: next())),
        ]
        for layer in 0..<2 {
            let p = "blk.\(layer)."
            w.tensors += [
                .init(name: p + "attn_norm.weight", shape: [32], f32: values(32, seed: next(), base: 1)),
                .init(name: p + "attn_q.weight", shape: [32, 32], f32: values(32 * 32, seed: next())),
                .init(name: p + "attn_k.weight", shape: [16, 32], f32: values(16 * 32, seed: next())),
                .init(name: p + "attn_v.weight", shape: [16, 32], f32: values(16 * 32, seed: next())),
                .init(name: p + "attn_output.weight", shape: [32, 32], f32: values(32 * 32, seed: next())),
                .init(name: p + "ffn_norm.weight", shape: [32], f32: values(32, seed: next(), base: 1)),
                .init(name: p + "ffn_gate.weight", shape: [32, 32], q8_0: values(32 * 32, seed: next())),
                .init(name: p + "ffn_up.weight", shape: [32, 32], f32: values(32 * 32, seed: next())),
                .init(name: p + "ffn_down.weight", shape: [32, 32], f32: values(32 * 32, seed: next())),
            ]
        }
        return w
    }

    /// Where the tensor data of `writer`'s file starts (the file size less the padded tensor bytes).
    static func dataStart(_ w: GGUFWriter) -> Int {
        w.data().count - w.tensors.reduce(0) { $0 + ($1.bytes.count + w.alignment - 1) / w.alignment * w.alignment }
    }

    /// `writer()` with metadata `key` replaced by `value`.
    static func with(_ key: String, _ value: GGUFWriter.Value) -> GGUFWriter {
        var w = writer()
        w.metadata = w.metadata.map { $0.0 == key ? (key, value) : $0 }
        return w
    }

    /// `data` with the dimensions and/or offset of tensor `name`'s info overwritten.
    static func patch(_ data: Data, tensor name: String, dimensions: [UInt64]? = nil, offset: UInt64? = nil) -> Data {
        var bytes = [UInt8](data)
        let needle = [UInt8](name.utf8)
        // The tensor infos come after the metadata: the last occurrence of the name is its info.
        var at = bytes.count - needle.count
        while at >= 0, Array(bytes[at..<(at + needle.count)]) != needle { at -= 1 }
        var cursor = at + needle.count
        func write(_ value: UInt64, width: Int) {
            for i in 0..<width { bytes[cursor + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
            cursor += width
        }
        let count = Int(bytes[cursor])
        cursor += 4
        for axis in 0..<count {
            if let dimensions { write(dimensions[axis], width: 8) } else { cursor += 8 }
        }
        cursor += 4
        if let offset { write(offset, width: 8) }
        return Data(bytes)
    }

    /// Everything `fledge tokenize` and `fledge generate` do with a GGUF: parse, build the
    /// tokenizer and template, load the model and generate two tokens. Returns the logits of
    /// one forward over the prompt.
    static func exercise(_ url: URL) throws -> Tensor {
        let format = try ChatFormat.load(from: url)
        _ = format.tokenizer.encode("ABC DEF!", addSpecialTokens: true)
        let target = try TargetModel.load(from: url)
        let prompt = try target.encodeChat([ChatMessage(role: "user", content: "AB@C")], addGenerationPrompt: true)
        _ = try target.model.generate(prompt: prompt, maxTokens: 2, stopTokens: target.stopTokens)
        let cache = target.model.makeCache(capacity: prompt.count)
        let result = try target.model.forward(
            TokenBatch(tokens: prompt), cache: cache, options: ForwardOptions(logits: .last))
        return try #require(result.logits)
    }
}

func temporaryFolder(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func allFinite(_ tensor: Tensor) -> Bool {
    let values = tensor.pointer
    for index in 0..<tensor.count where !values[index].isFinite { return false }
    return true
}

/// Mutants of model files through the loaders `fledge tokenize` and `fledge generate` use: every
/// mutant ends in success or an error with a message; an accepted model has finite logits.
/// `FLEDGE_FUZZ_COUNT` sets the mutants per format (`make fuzz`).
@Suite(.serialized) struct ModelFileFuzzTests {
    @Test func ggufMutants() throws {
        let folder = try temporaryFolder("gguf-fuzz")
        defer { try? FileManager.default.removeItem(at: folder) }
        let original = TinyGGUF.writer().data()
        let valid = folder.appendingPathComponent("valid.gguf")
        try original.write(to: valid)
        #expect(allFinite(try TinyGGUF.exercise(valid)))
        let headerEnd = TinyGGUF.dataStart(TinyGGUF.writer())
        let url = folder.appendingPathComponent("mutant.gguf")
        var garbage: [String] = []
        let report = FuzzReport.run(
            seed: 15_001, count: FuzzReport.count(default: 300),
            make: { $0.mutate(original, headerLimit: headerEnd) }
        ) { mutant in
            try mutant.write(to: url)
            let logits = try TinyGGUF.exercise(url)
            if !allFinite(logits) { garbage.append("\(mutant.count) bytes") }
        }
        print("GGUF fuzz: \(report)")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty, "\(report.silentErrors) \(report.slow)")
        #expect(garbage.isEmpty, "accepted with non-finite logits: \(garbage)")
        #expect(report.rejected > 0 && report.accepted > 0)
    }

    @Test func configMutants() throws {
        let fixture = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
            .appendingPathComponent("tiny-llama")
        let original = try String(contentsOf: fixture.appendingPathComponent("config.json"), encoding: .utf8)
        let folder = try temporaryFolder("config-fuzz")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createSymbolicLink(
            at: folder.appendingPathComponent("model.safetensors"),
            withDestinationURL: fixture.appendingPathComponent("model.safetensors"))
        var garbage: [String] = []
        let report = FuzzReport.run(
            seed: 15_002, count: FuzzReport.count(default: 300), make: { Data($0.mutateText(original).utf8) }
        ) { mutant in
            try mutant.write(to: folder.appendingPathComponent("config.json"))
            let model = try LlamaModel.load(from: folder)
            let cache = model.makeCache(capacity: 4)
            let logits = try #require(
                try model.forward(TokenBatch(tokens: [1, 5, 7]), cache: cache, options: ForwardOptions(logits: .last))
                    .logits)
            if !allFinite(logits) { garbage.append(String(decoding: mutant, as: UTF8.self)) }
        }
        print("config.json fuzz: \(report)")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty, "\(report.silentErrors) \(report.slow)")
        #expect(garbage.isEmpty, "accepted with non-finite logits: \(garbage.prefix(3))")
    }
}

/// The model-file cases of issue 15's "Found" list, one test each.
@Suite struct HostileModelFileTests {
    func failure(_ data: Data, _ body: (URL) throws -> Void = { _ = try TinyGGUF.exercise($0) }) throws -> String {
        let folder = try temporaryFolder("hostile")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.gguf")
        try data.write(to: url)
        do {
            try body(url)
        } catch {
            return "\(error)"
        }
        Issue.record("accepted")
        return ""
    }

    @Test func theSyntheticGGUFLoadsAndGenerates() throws {
        let folder = try temporaryFolder("hostile")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.gguf")
        try TinyGGUF.writer().data().write(to: url)
        #expect(allFinite(try TinyGGUF.exercise(url)))
    }

    @Test func headCountZero() throws {
        let message = try failure(TinyGGUF.with("llama.attention.head_count", .u32(0)).data())
        #expect(message.contains("llama.attention.head_count is 0") && message.contains("model.gguf"), "\(message)")
    }

    @Test func headsThatDoNotDivideTheWidth() throws {
        let message = try failure(TinyGGUF.with("llama.attention.head_count", .u32(3)).data())
        #expect(message.contains("does not divide"), "\(message)")
    }

    @Test func alignmentZeroOrNotAPowerOfTwo() throws {
        for value: UInt32 in [0, 48] {
            let message = try failure(TinyGGUF.with("general.alignment", .u32(value)).data())
            #expect(message.contains("general.alignment is \(value)"), "\(message)")
            #expect(!message.contains("truncated"), "\(message)")
        }
    }

    @Test func dimensionsNear2To62() throws {
        let data = TinyGGUF.patch(
            TinyGGUF.writer().data(), tensor: "output.weight", dimensions: [1 << 62, 1 << 62])
        let message = try failure(data)
        #expect(message.contains("4611686018427387904") && message.contains("output.weight"), "\(message)")
    }

    @Test func offsetsThatWrapAround2To64() throws {
        let original = TinyGGUF.writer().data()
        let dataStart = UInt64(TinyGGUF.dataStart(TinyGGUF.writer()))
        // An offset that, added to the data start in wrapping arithmetic, lands inside the file.
        for offset in [UInt64.max - dataStart + 1, UInt64.max - 7, UInt64(Int.max) - 16, 1 << 63] {
            let message = try failure(TinyGGUF.patch(original, tensor: "blk.1.ffn_up.weight", offset: offset))
            #expect(message.contains("blk.1.ffn_up.weight"), "\(message)")
            #expect(!message.contains(" -"), "unsigned values printed as unsigned: \(message)")
        }
    }

    @Test func corruptOffsetIsNotCalledTruncation() throws {
        let message = try failure(TinyGGUF.patch(TinyGGUF.writer().data(), tensor: "output.weight", offset: 1 << 40))
        #expect(message.contains("corrupt tensor offset") && !message.contains("the file is truncated"), "\(message)")
        let cut = TinyGGUF.writer().data().dropLast(100)
        #expect(try failure(Data(cut)).contains("the file is truncated"))
    }

    @Test func messagesNameTheFileAndEscapeBinaryNames() throws {
        let template = try failure(TinyGGUF.with("tokenizer.chat_template", .string("{% if")).data())
        #expect(template.contains("model.gguf: tokenizer.chat_template"), "\(template)")
        var w = TinyGGUF.writer()
        w.tensors[1].name = "output_norm.\u{1}weight"
        let name = try failure(w.data())
        #expect(name.contains("\"output_norm.\\u{1}weight\""), "\(name)")
    }

    @Test func blockCount2To31() throws {
        let message = try failure(TinyGGUF.with("llama.block_count", .u32(1 << 31)).data())
        #expect(message.contains("llama.block_count is 2147483648"), "\(message)")
        let fewer = try failure(TinyGGUF.with("llama.block_count", .u32(1)).data())
        #expect(fewer.contains("llama.block_count is 1 but"), "\(fewer)")
    }

    @Test func metadataArrayCount2To31() throws {
        var data = [UInt8](TinyGGUF.writer().data())
        // The token array: key, type 9, item type 8, then the count.
        let key = [UInt8]("tokenizer.ggml.tokens".utf8)
        var at = 0
        while Array(data[at..<(at + key.count)]) != key { at += 1 }
        let countAt = at + key.count + 8
        for i in 0..<8 { data[countAt + i] = UInt8(truncatingIfNeeded: UInt64(1 << 31) >> (8 * UInt64(i))) }
        let message = try failure(Data(data))
        #expect(message.contains("array length 2147483648"), "\(message)")
    }

    @Test func unsignedCountsPrintedAsUnsigned() throws {
        var data = [UInt8](TinyGGUF.writer().data())
        for i in 8..<16 { data[i] = 0xFF }  // the tensor count
        let message = try failure(Data(data))
        #expect(message.contains("18446744073709551615") && !message.contains(" -1"), "\(message)")
    }

    @Test func tokenIdsOutsideTheVocabulary() throws {
        let message = try failure(TinyGGUF.with("tokenizer.ggml.eos_token_id", .u32(1000)).data())
        #expect(message.contains("tokenizer.ggml.eos_token_id"), "\(message)")
    }

    @Test func hugeContextLength() throws {
        let message = try failure(TinyGGUF.with("llama.context_length", .u64(1 << 40)).data())
        #expect(message.contains("llama.context_length"), "\(message)")
    }

    @Test func configurationRangeChecks() throws {
        let fixture = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
            .appendingPathComponent("tiny-llama")
        let original = try String(contentsOf: fixture.appendingPathComponent("config.json"), encoding: .utf8)
        let folder = try temporaryFolder("hostile-config")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createSymbolicLink(
            at: folder.appendingPathComponent("model.safetensors"),
            withDestinationURL: fixture.appendingPathComponent("model.safetensors"))
        let heads = "\"num_attention_heads\": 4"
        let cases: [([(String, String)], String)] = [
            ([(heads, "\"num_attention_heads\": 0")], "num_attention_heads is 0"),
            ([("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3")], "not a multiple"),
            ([("\"head_dim\": 16,", ""), (heads, "\"num_attention_heads\": 5")], "does not divide"),
            ([("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 4")], "missing tensor model.layers.3"),
            ([("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 2")], "unexpected tensors model.layers.2"),
            ([("\"vocab_size\": 160", "\"vocab_size\": 0")], "vocab_size is 0"),
            ([("\"hidden_size\": 64", "\"hidden_size\": -64")], "hidden_size is -64"),
            ([("\"hidden_size\": 64", "\"hidden_size\": \"64\"")], "hidden_size is not an integer"),
            ([("\"max_position_embeddings\": 256", "\"max_position_embeddings\": 4294967296")], "max_position"),
            ([("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 0")], "rms_norm_eps"),
        ]
        for (replacements, expected) in cases {
            let text = replacements.reduce(original) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
            #expect(text != original)
            try Data(text.utf8).write(to: folder.appendingPathComponent("config.json"))
            #expect {
                _ = try LlamaModel.load(from: folder)
            } throws: { error in
                "\(error)".contains(expected) && ("\(error)".contains("config.json") || expected.contains("tensor"))
            }
        }
    }

    @Test func modelSafetensorsThatIsAFolder() throws {
        let fixture = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
            .appendingPathComponent("tiny-llama")
        let folder = try temporaryFolder("hostile-folder")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(
            at: fixture.appendingPathComponent("config.json"), to: folder.appendingPathComponent("config.json"))
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("model.safetensors"), withIntermediateDirectories: true)
        #expect {
            _ = try LlamaModel.load(from: folder)
        } throws: { error in
            "\(error)".contains("model.safetensors: is a folder") && !"\(error)".contains("NSCocoaErrorDomain")
        }
    }
}
