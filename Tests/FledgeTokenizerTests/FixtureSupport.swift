import Foundation
import Testing

@testable import FledgeTokenizer

/// The Fixtures folder of this test target (written by Scripts/reference/make_tokenizer_fixtures.py).
func fixturesURL() throws -> URL {
    try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "Fixtures folder missing")
}

/// One expected entry of `<name>.expected.json`, parallel to `texts.json`; a nil decode equals the text.
struct ExpectedCase: Decodable {
    var ids: [Int32]
    var idsWithSpecialTokens: [Int32]
    var decoded: String?
    var decodedWithSpecialTokens: String?
    var decodedSkippingSpecialTokens: String?

    enum CodingKeys: String, CodingKey {
        case ids
        case idsWithSpecialTokens = "ids_with_special_tokens"
        case decoded
        case decodedWithSpecialTokens = "decoded_with_special_tokens"
        case decodedSkippingSpecialTokens = "decoded_skipping_special_tokens"
    }
}

struct ExpectedFile: Decodable {
    var cases: [ExpectedCase]
}

/// The texts every small fixture tokenizer encodes.
func fixtureTexts() throws -> [String] {
    try JSONDecoder().decode([String].self, from: Data(contentsOf: fixturesURL().appendingPathComponent("texts.json")))
}

/// Scalar-exact string comparison (Swift's `==` treats canonically equivalent strings as equal).
func sameScalars(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.elementsEqual(b.unicodeScalars)
}

/// A short, escaped rendering of a text for failure messages.
func preview(_ text: String) -> String {
    let escaped = text.unicodeScalars.prefix(80).map { $0.escaped(asASCII: false) }.joined()
    return "\"\(escaped)\"" + (text.unicodeScalars.count > 80 ? "…" : "")
}

/// Checks `tokenizer` against the expected ids and decodes for every text; returns the number of texts that matched.
@discardableResult
func checkCases(_ tokenizer: Tokenizer, texts: [String], expected: [ExpectedCase], name: String) -> Int {
    #expect(texts.count == expected.count, "\(name): \(expected.count) expected cases for \(texts.count) texts")
    var matched = 0
    for (text, want) in zip(texts, expected) {
        let ids = tokenizer.encode(text)
        let withSpecial = tokenizer.encode(text, addSpecialTokens: true)
        #expect(ids == want.ids, "\(name): ids of \(preview(text))")
        #expect(withSpecial == want.idsWithSpecialTokens, "\(name): ids with special tokens of \(preview(text))")
        let decoded = tokenizer.decode(want.ids)
        let decodedSpecial = tokenizer.decode(want.idsWithSpecialTokens)
        let decodedSkipping = tokenizer.decode(want.idsWithSpecialTokens, skipSpecialTokens: true)
        #expect(
            sameScalars(decoded, want.decoded ?? text), "\(name): decode of \(preview(text)) gave \(preview(decoded))")
        #expect(
            sameScalars(decodedSpecial, want.decodedWithSpecialTokens ?? text),
            "\(name): decode with special tokens of \(preview(text)) gave \(preview(decodedSpecial))")
        #expect(
            sameScalars(decodedSkipping, want.decodedSkippingSpecialTokens ?? text),
            "\(name): decode skipping special tokens of \(preview(text)) gave \(preview(decodedSkipping))")
        if ids == want.ids && withSpecial == want.idsWithSpecialTokens { matched += 1 }
    }
    return matched
}
