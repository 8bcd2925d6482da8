import FledgeTestSupport
import Foundation
import Testing

@testable import FledgeTokenizer

/// Mutants of real `tokenizer.json` files through `Tokenizer(contentsOf:)`, then encode and
/// decode of a sample text when accepted: each ends in a tokenizer or a `TokenizerError` with a
/// message; none traps or hangs (issue 15).
@Suite(.serialized) struct TokenizerFuzzTests {
    static let sample = "Hello, wörld! 12345 <|im_start|>user\n  tabs\tand 日本語 🙂 <s></s>"

    @Test(arguments: ["smollm", "llama2-spm"])
    func mutantsLoadOrFailWithAMessage(name: String) throws {
        let source = try String(
            contentsOf: try fixturesURL().appendingPathComponent("tokenizers/\(name).tokenizer.json"), encoding: .utf8)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        let report = FuzzReport.run(
            seed: name == "smollm" ? 2500 : 2600, count: FuzzReport.count(default: 200),
            make: { Data($0.mutateText(source).utf8) }
        ) { mutant in
            try mutant.write(to: file)
            let tokenizer = try Tokenizer(contentsOf: file)
            let ids = tokenizer.encode(Self.sample, addSpecialTokens: true)
            _ = tokenizer.decode(ids)
            _ = tokenizer.decode(ids + [-1, Int32.max, Int32(tokenizer.vocabularySize)], skipSpecialTokens: true)
        }
        print("tokenizer.json fuzz (\(name)): \(report)")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty, "\(report.silentErrors) \(report.slow)")
        #expect(report.accepted > 0 && report.rejected > 0)
    }

    /// A minimal byte-level tokenizer.json with the given vocabulary, merges and added tokens.
    static func json(vocab: String, merges: String = "[]", added: String = "[]") -> Data {
        Data(
            """
            {"added_tokens": \(added), "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
             "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": \(vocab), "merges": \(merges)}}
            """.utf8)
    }

    @Test func pathologicalVocabulariesFailWithAMessageOrBehave() throws {
        let rejected: [(Data, String)] = [
            (Self.json(vocab: #"{"a": 0, "b": -1}"#), "negative"),
            (Self.json(vocab: #"{"a": 0, "b": 2147483647}"#), "2147483647"),
            (Self.json(vocab: #"{"a": 0}"#, added: #"[{"id": 2000000000, "content": "<x>"}]"#), "2000000000"),
            (Self.json(vocab: #"{"a": 0, "b": 1}"#, merges: #"["a c"]"#), "missing from the vocabulary"),
            (Self.json(vocab: #"{"a": 0, "b": 1}"#, merges: #"["a b"]"#), "missing from the vocabulary"),
            (Self.json(vocab: String(repeating: "[", count: 100_000)), "does not decode"),
        ]
        for (data, expected) in rejected {
            #expect {
                _ = try Tokenizer(tokenizerJSON: data)
            } throws: { error in
                "\(error)".contains(expected)
            }
        }
        // Two tokens with one id: encoding uses each, decoding gives one of them.
        let shared = try Tokenizer(tokenizerJSON: Self.json(vocab: #"{"a": 0, "b": 0, "c": 1}"#))
        #expect(shared.encode("abc") == [0, 0, 1])
        #expect(["aac", "bbc"].contains(shared.decode([0, 0, 1])))
        // Gaps in the ids are unused ids.
        let sparse = try Tokenizer(tokenizerJSON: Self.json(vocab: #"{"a": 0, "b": 5}"#))
        #expect(sparse.vocabularySize == 6 && sparse.token(forID: 3) == nil)
        #expect(sparse.decode([0, 3, 5, -7]) == "ab")
    }

    @Test func pathologicalGGUFVocabulariesFailWithAMessage() throws {
        let tokens = ["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a"]
        let scores: [Float] = [0, 0, 0, -1, -2, -3, -1.5]
        for unknown: Int32 in [-1, 7, Int32.max] {
            #expect {
                _ = try Tokenizer(
                    vocabulary: GGUFVocabulary(model: "llama", tokens: tokens, scores: scores, unknownTokenID: unknown))
            } throws: { error in
                "\(error)".contains("\(unknown)")
            }
        }
        for bos: Int32 in [-1, 99] {
            #expect {
                _ = try Tokenizer(
                    vocabulary: GGUFVocabulary(
                        model: "llama", tokens: tokens, scores: scores, bosTokenID: bos, addBOS: true))
            } throws: { error in
                "\(error)".contains("\(bos)")
            }
        }
        // A very long token is not split into every pair (that would be quadratic), but still a token.
        let long = String(repeating: "a", count: 100_000)
        let tokenizer = try Tokenizer(
            vocabulary: GGUFVocabulary(model: "llama", tokens: tokens + [long], scores: scores + [-9]))
        #expect(tokenizer.id(forToken: long) == 7)
    }
}

/// Mutants of a GGUF SentencePiece vocabulary (tokens, scores, types and special ids as a GGUF
/// stores them) through `Tokenizer(vocabulary:)`, then encode and decode.
@Suite(.serialized) struct GGUFVocabularyFuzzTests {
    struct Fixture: Codable {
        var model: String
        var pre: String?
        var tokens: [String]
        var scores: [Float]?
        var tokenTypes: [Int32]?
        var bosTokenID: Int32?
        var eosTokenID: Int32?
        var unknownTokenID: Int32?
        var addBOS: Bool?
        var addEOS: Bool?

        enum CodingKeys: String, CodingKey {
            case model, pre, tokens, scores
            case tokenTypes = "token_types"
            case bosTokenID = "bos_token_id"
            case eosTokenID = "eos_token_id"
            case unknownTokenID = "unknown_token_id"
            case addBOS = "add_bos"
            case addEOS = "add_eos"
        }
    }

    /// A structural mutant: special ids, array lengths, duplicate or overlong tokens, token types.
    static func mutate(_ fixture: Fixture, _ m: inout Mutator) -> Fixture {
        var f = fixture
        let interesting = Mutator.interestingIntegers.map { Int32(truncatingIfNeeded: $0) } + [-1, Int32.min]
        for _ in 0..<(1 + m.below(3)) {
            switch m.below(7) {
            case 0: f.bosTokenID = interesting[m.below(interesting.count)]
            case 1: f.unknownTokenID = interesting[m.below(interesting.count)]
            case 2: f.tokens = Array(f.tokens.prefix(m.below(f.tokens.count + 1)))
            case 3 where !f.tokens.isEmpty:
                f.tokens[m.below(f.tokens.count)] = f.tokens[m.below(f.tokens.count)]
            case 4 where !(f.tokenTypes ?? []).isEmpty:
                f.tokenTypes![m.below(f.tokenTypes!.count)] = interesting[m.below(interesting.count)]
            case 5 where !f.tokens.isEmpty:
                f.tokens[m.below(f.tokens.count)] = String(repeating: "▁a", count: 1 + m.below(5000))
            default:
                f.scores = m.below(2) == 0 ? nil : f.scores.map { Array($0.prefix(m.below($0.count + 1))) }
                f.addBOS = true
            }
        }
        return f
    }

    @Test func mutantsLoadOrFailWithAMessage() throws {
        let data = try Data(contentsOf: fixturesURL().appendingPathComponent("gguf-spm.vocab.json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: data)
        let text = String(decoding: data, as: UTF8.self)
        let report = FuzzReport.run(
            seed: 2700, count: FuzzReport.count(default: 150),
            make: { m in
                m.below(3) == 0
                    ? Data(m.mutateText(text).utf8) : (try? JSONEncoder().encode(Self.mutate(fixture, &m))) ?? Data()
            }
        ) { mutant in
            let f = try JSONDecoder().decode(Fixture.self, from: mutant)
            let tokenizer = try Tokenizer(
                vocabulary: GGUFVocabulary(
                    model: f.model, pre: f.pre, tokens: f.tokens, tokenTypes: f.tokenTypes, scores: f.scores,
                    bosTokenID: f.bosTokenID, eosTokenID: f.eosTokenID, unknownTokenID: f.unknownTokenID,
                    addBOS: f.addBOS ?? false, addEOS: f.addEOS ?? false))
            let ids = tokenizer.encode(TokenizerFuzzTests.sample, addSpecialTokens: true)
            #expect(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
            _ = tokenizer.decode(ids, skipSpecialTokens: true)
        }
        print("GGUF vocabulary fuzz: \(report)")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty, "\(report.silentErrors) \(report.slow)")
        #expect(report.accepted > 0 && report.rejected > 0)
    }
}

extension TokenizerFuzzTests {
    @Test func errorsOfATokenizerFileNameIt() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Self.json(vocab: #"{"a": 0, "b": -1}"#).write(to: file)
        #expect {
            _ = try Tokenizer(contentsOf: file)
        } throws: { error in
            "\(error)".contains(file.path) && "\(error)".contains("negative id -1")
        }
    }
}
