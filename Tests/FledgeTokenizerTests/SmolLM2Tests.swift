import Foundation
import Testing

@testable import FledgeTokenizer

/// `smollm2-sharegpt.json`: per ShareGPT record, id counts and SHA-256 prefixes from Hugging Face
/// `tokenizers` on the real SmolLM2 tokenizer (see Scripts/reference/make_tokenizer_fixtures.py).
private struct ShareGPTFixture: Decodable {
    struct Sample: Decodable {
        var text: String
        var smollmIDs: [Int32]
        var gpt2IDs: [Int32]
        enum CodingKeys: String, CodingKey {
            case text
            case smollmIDs = "smollm_ids"
            case gpt2IDs = "gpt2_ids"
        }
    }

    struct Row: Decodable {
        var index: Int
        var smollmCount: Int
        var smollmDigest: String
        var gpt2: (count: Int, digest: String)?

        init(from decoder: Decoder) throws {
            var container = try decoder.unkeyedContainer()
            index = try container.decode(Int.self)
            smollmCount = try container.decode(Int.self)
            smollmDigest = try container.decode(String.self)
            if !container.isAtEnd {
                gpt2 = (try container.decode(Int.self), try container.decode(String.self))
            }
        }
    }

    var records: Int
    var skipped: [Int]
    var sample: Sample
    var rows: [Row]

    enum CodingKeys: String, CodingKey {
        case records, sample, rows
        case skipped = "skipped_with_lone_surrogates"
    }

    static func load() throws -> ShareGPTFixture {
        try JSONDecoder().decode(
            ShareGPTFixture.self, from: Data(contentsOf: fixturesURL().appendingPathComponent("smollm2-sharegpt.json")))
    }
}

/// The real SmolLM2-135M-Instruct tokenizer, read from the GGUF, against `tokenizers` on ShareGPT.
@Suite("SmolLM2 GGUF tokenizer on ShareGPT", .enabled(if: RealAssets.available, RealAssets.missingMessage))
struct SmolLM2Tests {
    /// The GGUF's vocabulary as llama.cpp reads it (`pre = smollm`), and as transformers 5.23 builds
    /// it (no rule for `smollm`, so the plain GPT-2 split).
    static func tokenizers() throws -> (smollm: Tokenizer, gpt2: Tokenizer, vocabulary: GGUFVocabulary) {
        let vocabulary = try ggufVocabulary(readGGUFMetadata(RealAssets.smolLM2GGUF))
        var gpt2Vocabulary = vocabulary
        gpt2Vocabulary.pre = "gpt-2"
        return (try Tokenizer(vocabulary: vocabulary), try Tokenizer(vocabulary: gpt2Vocabulary), vocabulary)
    }

    @Test("metadata and special tokens")
    func metadata() throws {
        let (tokenizer, _, vocabulary) = try Self.tokenizers()
        #expect(vocabulary.model == "gpt2" && vocabulary.pre == "smollm")
        #expect(vocabulary.tokens.count == 49152 && vocabulary.merges?.count == 48900)
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.bosTokenID == 1 && tokenizer.eosTokenID == 2 && tokenizer.padTokenID == 2)
        #expect(tokenizer.id(forToken: "<|im_start|>") == 1 && tokenizer.token(forID: 2) == "<|im_end|>")
        #expect(tokenizer.isSpecial(1) && !tokenizer.isSpecial(100))
        let chat = "<|im_start|>user\nWhat is 12345 + 678?<|im_end|>\n<|im_start|>assistant\n"
        let ids = tokenizer.encode(chat)
        #expect(ids.first == 1 && ids.filter { $0 == 1 }.count == 2 && ids.contains(2))
        #expect(tokenizer.decode(ids) == chat)
        #expect(tokenizer.decode(ids, skipSpecialTokens: true) == "user\nWhat is 12345 + 678?\nassistant\n")
        #expect(tokenizer.encode("", addSpecialTokens: true) == [], "add_bos_token is false for SmolLM2")
    }

    @Test("a ShareGPT sample equals tokenizers id for id")
    func sample() throws {
        let (smollm, gpt2, _) = try Self.tokenizers()
        let fixture = try ShareGPTFixture.load()
        #expect(smollm.encode(fixture.sample.text) == fixture.sample.smollmIDs)
        #expect(gpt2.encode(fixture.sample.text) == fixture.sample.gpt2IDs)
    }

    static let quick = ProcessInfo.processInfo.environment["FLEDGE_QUICK_TESTS"] == "1"

    @Test(
        "the first 500 conversations equal tokenizers and round-trip",
        .enabled(if: quick, "runs instead of the all-conversations test with FLEDGE_QUICK_TESTS=1"))
    func firstConversations() throws {
        try checkConversations(limit: 500)
    }

    /// About a minute on 2 cores (debug build).
    @Test(
        "all 17,671 conversations equal tokenizers and round-trip",
        .disabled(if: quick, "FLEDGE_QUICK_TESTS=1 checks the first 500 only"))
    func allConversations() throws {
        try checkConversations(limit: .max)
    }

    /// What decode(encode(text)) gives: the bytes without a vocabulary token are dropped by BPE
    /// (no unknown token), as `tokenizers` does, and the rest is decoded as lossy UTF-8.
    private func roundTrip(_ text: String, _ missing: Set<UInt8>) -> String {
        String(decoding: text.utf8.filter { !missing.contains($0) }, as: UTF8.self)
    }

    private func checkConversations(limit: Int) throws {
        let (smollm, gpt2, _) = try Self.tokenizers()
        let fixture = try ShareGPTFixture.load()
        let texts = try shareGPTConversations(RealAssets.shareGPT, limit: limit)
        #expect(limit < fixture.records || texts.count == fixture.records, "complete ShareGPT records")
        let skipped = Set(fixture.skipped)
        let missing = Set(
            (0..<256).filter { smollm.id(forToken: String(ByteLevel.scalarForByte[$0])) == nil }.map(UInt8.init))
        #expect(missing.count == 21, "SmolLM2 has no token for 21 bytes (e.g. 0x04, 0xC0)")
        var matched = 0
        var gpt2Matched = 0
        var gpt2Checked = 0
        var tokenCount = 0
        let started = Date()
        for row in fixture.rows where row.index < texts.count {
            #expect(!skipped.contains(row.index))
            let text = texts[row.index]
            let ids = smollm.encode(text)
            tokenCount += ids.count
            let same = ids.count == row.smollmCount && idsDigest(ids) == row.smollmDigest
            #expect(
                same, "record \(row.index): \(ids.count) ids, tokenizers gave \(row.smollmCount) (\(preview(text)))")
            if same { matched += 1 }
            let decoded = smollm.decode(ids)
            #expect(sameScalars(decoded, roundTrip(text, missing)), "record \(row.index) does not round-trip")
            if let (count, digest) = row.gpt2 {
                let ids = gpt2.encode(text)
                let same = ids.count == count && idsDigest(ids) == digest
                #expect(same, "record \(row.index) with the GPT-2 split: \(ids.count) ids, tokenizers gave \(count)")
                gpt2Checked += 1
                if same { gpt2Matched += 1 }
            }
        }
        let checked = fixture.rows.filter { $0.index < texts.count }.count
        #expect(checked == min(limit, fixture.records) - skipped.count)
        #expect(matched == checked && gpt2Matched == gpt2Checked)
        let seconds = Date().timeIntervalSince(started)
        let summary =
            "\(matched)/\(checked) conversations (smollm), \(gpt2Matched)/\(gpt2Checked) (gpt2), "
            + "\(tokenCount) ids in \(String(format: "%.1f", seconds)) s"
        #expect(matched == checked, Comment(rawValue: summary))
        #if !DEBUG
            // Release builds: the whole of ShareGPT (28 M ids, both tokenizers) well under a minute.
            #expect(limit < .max || seconds < 60, Comment(rawValue: summary))
        #endif
    }
}
