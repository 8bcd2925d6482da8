import Foundation
import Testing

@testable import FledgeTokenizer

/// Small tokenizers trained with Hugging Face `tokenizers`: every id and decode must match the library.
@Suite("tokenizer.json fixtures against Hugging Face tokenizers")
struct TokenizerJSONTests {
    static let names = ["gpt2", "gpt2-prefix-space", "llama3", "qwen2", "smollm", "llama2-spm", "mistral-spm"]

    @Test("encode and decode equal tokenizers 0.23.3", arguments: names)
    func matchesReference(name: String) throws {
        let folder = try fixturesURL().appendingPathComponent("tokenizers")
        let tokenizer = try Tokenizer(contentsOf: folder.appendingPathComponent("\(name).tokenizer.json"))
        let expected = try JSONDecoder().decode(
            ExpectedFile.self, from: Data(contentsOf: folder.appendingPathComponent("\(name).expected.json")))
        let texts = try fixtureTexts()
        let matched = checkCases(tokenizer, texts: texts, expected: expected.cases, name: name)
        #expect(matched == texts.count)
    }
}
