import Foundation
import Testing

@testable import FledgeTokenizer

/// Loading, errors and the small public API, on the committed fixtures.
@Suite("Tokenizer API and errors")
struct TokenizerAPITests {
    static func tokenizerData(_ name: String) throws -> Data {
        try Data(contentsOf: fixturesURL().appendingPathComponent("tokenizers/\(name).tokenizer.json"))
    }

    /// The gpt2 fixture with one stage replaced.
    static func modified(_ key: String, _ value: Any) throws -> Data {
        var object = try #require(try JSONSerialization.jsonObject(with: tokenizerData("gpt2")) as? [String: Any])
        object[key] = value
        return try JSONSerialization.data(withJSONObject: object)
    }

    @Test("unsupported stages throw a TokenizerError with a hint")
    func unsupportedStagesThrow() throws {
        let cases: [(String, Any, String)] = [
            ("normalizer", ["type": "BertNormalizer"], "BertNormalizer"),
            ("pre_tokenizer", ["type": "BertPreTokenizer"], "BertPreTokenizer"),
            ("decoder", ["type": "WordPiece"], "WordPiece"),
            ("post_processor", ["type": "Mystery"], "Mystery"),
            ("model", ["type": "Unigram", "vocab": []], "Unigram"),
        ]
        for (key, value, type) in cases {
            let data = try Self.modified(key, value)
            let error = #expect(throws: TokenizerError.self) { try Tokenizer(tokenizerJSON: data) }
            #expect(error?.description.contains(type) == true)
            #expect(error?.description.contains("Hint") == true)
        }
        #expect(throws: TokenizerError.self) { try Tokenizer(tokenizerJSON: Data("{}".utf8)) }
        #expect(throws: TokenizerError.self) { try Tokenizer(tokenizerJSON: Data("not json".utf8)) }
        #expect(throws: TokenizerError.self) {
            try Tokenizer(
                tokenizerJSON: Self.modified(
                    "pre_tokenizer", ["type": "Split", "pattern": ["Regex": "(unclosed"], "behavior": "Isolated"]))
        }
        #expect(throws: TokenizerError.self) {
            try Tokenizer(contentsOf: URL(fileURLWithPath: "/nonexistent/tokenizer.json"))
        }
        #expect(throws: TokenizerError.self) {
            try Tokenizer(vocabulary: GGUFVocabulary(model: "bert", tokens: ["a"]))
        }
        #expect(throws: TokenizerError.self) {
            try Tokenizer(vocabulary: GGUFVocabulary(model: "gpt2", pre: "no-such-pre", tokens: ["a"], merges: []))
        }
    }

    @Test("a folder with tokenizer_config.json names BOS, EOS and padding")
    func folderWithConfig() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.tokenizerData("llama3").write(to: folder.appendingPathComponent("tokenizer.json"))
        let config =
            #"{"bos_token": "<|begin_of_text|>", "eos_token": {"content": "<|end_of_text|>"}, "pad_token": null}"#
        try Data(config.utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        let tokenizer = try Tokenizer(contentsOf: folder)
        #expect(tokenizer.bosTokenID == tokenizer.id(forToken: "<|begin_of_text|>"))
        #expect(tokenizer.eosTokenID == tokenizer.id(forToken: "<|end_of_text|>"))
        #expect(tokenizer.bosTokenID != nil && tokenizer.eosTokenID != nil && tokenizer.padTokenID == nil)
        #expect(tokenizer.encode("hi", addSpecialTokens: true).first == tokenizer.bosTokenID)
    }

    @Test("token ↔ id lookups, special flags and vocabulary size")
    func lookups() throws {
        let tokenizer = try Tokenizer(tokenizerJSON: Self.tokenizerData("gpt2"))
        let id = try #require(tokenizer.id(forToken: "<|im_start|>"))
        #expect(tokenizer.token(forID: id) == "<|im_start|>" && tokenizer.isSpecial(id))
        #expect(tokenizer.vocabularySize == 1202)
        #expect(tokenizer.token(forID: -1) == nil && tokenizer.token(forID: 1202) == nil)
        #expect(!tokenizer.isSpecial(300))
        #expect(tokenizer.id(forToken: "Ġ") != nil, "byte-level tokens are spelled in the byte alphabet")
        #expect(tokenizer.decode([id, 999_999]) == "<|im_start|>", "unknown ids are skipped")
    }

    @Test("concurrent encoding gives the same ids")
    func concurrentEncoding() throws {
        let tokenizer = try Tokenizer(tokenizerJSON: Self.tokenizerData("smollm"))
        let texts = try fixtureTexts()
        let serial = texts.map { tokenizer.encode($0) }
        let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: texts.count * 4)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: texts.count * 4) { i in
            results[i] = tokenizer.encode(texts[i % texts.count])
        }
        for i in 0..<(texts.count * 4) { #expect(results[i] == serial[i % texts.count]) }
    }

    @Test("SHA-256 of the standard vectors")
    func sha256Vectors() {
        #expect(hex(sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(hex(sha256(long)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}
