import Foundation
import Testing

@testable import FledgeTokenizer

/// The native scanners of the GPT-2, Llama-3 and Qwen2 split regexes against ICU running the same regex.
@Suite("native split scanners against ICU")
struct SplitPatternTests {
    static let sources = [SplitPattern.gpt2Source, SplitPattern.llama3Source, SplitPattern.qwen2Source]

    /// Random strings over an alphabet of every class the patterns distinguish.
    static func randomTexts(count: Int, seed: UInt64) -> [[Unicode.Scalar]] {
        let alphabet: [Unicode.Scalar] = [
            "a", "Z", "s", "t", "r", "e", "v", "l", "m", "d", "S", "T", "R", "E", "L", "D", "é", "ß", "Ω", "你", "ǅ",
            "0", "7", "²", "½", "Ⅻ", "٣", " ", " ", " ", "\t", "\n", "\r", "\u{0B}", "\u{85}", "\u{A0}", "\u{3000}",
            "\u{2028}", "\u{1C}", "'", "'", "!", ".", "-", "_", "😀", "\u{301}", "\u{200B}", "$", "<", "|",
        ]
        var state = seed
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        return (0..<count).map { _ in (0..<(1 + next() % 40)).map { _ in alphabet[next() % alphabet.count] } }
    }

    @Test("native matches equal NSRegularExpression", arguments: sources)
    func matchesICU(source: String) throws {
        let native = try SplitPattern(.regex(source))
        if case .regex = native { Issue.record("\(source) has no native scanner") }
        let icu = SplitPattern.regex(try SplitPattern.compile(source))
        var texts = Self.randomTexts(count: 3000, seed: 42)
        texts += try fixtureTexts().map { Array($0.unicodeScalars) }
        for text in texts {
            let want = icu.matches(in: text[...])
            let got = native.matches(in: text[...])
            #expect(got == want, "\(preview(string(text))): \(got) vs ICU \(want)")
        }
    }

    @Test("matches are offsets of the slice they were cut from")
    func sliceOffsets() throws {
        let text = Array("xx hello world".unicodeScalars)
        #expect(SplitPattern.gpt2.matches(in: text[2...]) == [2..<8, 8..<14])
        let literal = try SplitPattern(.string("lo"))
        #expect(literal.matches(in: text[5...]) == [6..<8])
    }

    private struct BehaviourCase: Decodable {
        var pattern: PatternJSON
        var behavior: SplitBehavior
        var invert: Bool
        var text: String
        var pieces: [String]
    }

    @Test("Split behaviours cut as tokenizers' NormalizedString::split (split-behaviours.json)")
    func behaviours() throws {
        let cases = try JSONDecoder().decode(
            [BehaviourCase].self, from: Data(contentsOf: fixturesURL().appendingPathComponent("split-behaviours.json")))
        #expect(cases.count == 80)
        for item in cases {
            let splitter = PreTokenizer.split(try SplitPattern(item.pattern), item.behavior, invert: item.invert)
            let pieces = splitter([Piece(scalars: Array(item.text.unicodeScalars)[...], atStart: true)])
            #expect(
                pieces.map { string($0.scalars) } == item.pieces,
                "\(item.behavior) invert \(item.invert) on \(preview(item.text))")
        }
    }
}
