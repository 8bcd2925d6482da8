import Foundation
import Testing

@testable import FledgeTokenizer

/// A Llama-2-style SentencePiece vocabulary stored as a GGUF stores it (tokens, scores, types):
/// its ids must equal `tokenizers` on the equivalent tokenizer.json.
@Suite("GGUF SentencePiece vocabulary against Hugging Face tokenizers")
struct GGUFSentencePieceTests {
    private struct VocabularyFixture: Decodable {
        var model: String
        var pre: String
        var tokens: [String]
        var scores: [Float]
        var tokenTypes: [Int32]
        var bosTokenID: Int32
        var eosTokenID: Int32
        var unknownTokenID: Int32
        var addBOS: Bool
        var addEOS: Bool
        var cases: [ExpectedCase]

        enum CodingKeys: String, CodingKey {
            case model, pre, tokens, scores, cases
            case tokenTypes = "token_types"
            case bosTokenID = "bos_token_id"
            case eosTokenID = "eos_token_id"
            case unknownTokenID = "unknown_token_id"
            case addBOS = "add_bos"
            case addEOS = "add_eos"
        }
    }

    @Test("encode and decode equal tokenizers 0.23.3")
    func matchesReference() throws {
        let fixture = try JSONDecoder().decode(
            VocabularyFixture.self, from: Data(contentsOf: fixturesURL().appendingPathComponent("gguf-spm.vocab.json")))
        let vocabulary = GGUFVocabulary(
            model: fixture.model, pre: fixture.pre, tokens: fixture.tokens, tokenTypes: fixture.tokenTypes,
            scores: fixture.scores, bosTokenID: fixture.bosTokenID, eosTokenID: fixture.eosTokenID,
            unknownTokenID: fixture.unknownTokenID, addBOS: fixture.addBOS, addEOS: fixture.addEOS)
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        #expect(tokenizer.bosTokenID == 1 && tokenizer.isSpecial(1) && tokenizer.isSpecial(2))
        let texts = try fixtureTexts()
        let matched = checkCases(tokenizer, texts: texts, expected: fixture.cases, name: "gguf-spm")
        #expect(matched == texts.count)
    }
}
