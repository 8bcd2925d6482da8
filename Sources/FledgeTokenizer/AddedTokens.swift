// Added and special tokens are cut out of the text before anything else, so `<|im_start|>` is
// always one id. Ported from `AddedVocabulary::find_matches` and `extract_and_normalize` in
// huggingface/tokenizers `tokenizers/src/tokenizer/added_vocabulary.rs` (v0.23): tokens with
// `normalized: false` are matched in the raw text, the others in the normalized text; matching is
// leftmost-longest; `single_word` tokens must not touch a word character; `lstrip`/`rstrip`
// swallow the whitespace beside the token.

/// One added token.
struct AddedToken {
    var id: Int32
    var content: [Unicode.Scalar]
    var special: Bool
    var singleWord: Bool
    var lstrip: Bool
    var rstrip: Bool
    var normalized: Bool

    init(_ json: AddedTokenJSON) {
        id = json.id
        content = Array(json.content.unicodeScalars)
        special = json.special
        singleWord = json.singleWord
        lstrip = json.lstrip
        rstrip = json.rstrip
        normalized = json.normalized
    }
}

/// A part of a text: plain text (a range of its scalars) or an added token.
enum TextSegment: Equatable {
    case text(Range<Int>)
    case token(Int32)
}

/// Finds a set of added tokens in text.
struct AddedTokenMatcher {
    private var tokens: [AddedToken]
    /// Contents to look for (the tokens' own, or normalized), same order as `tokens`.
    private var patterns: [[Unicode.Scalar]]
    /// Indices into `tokens` by first scalar, longest pattern first.
    private var byFirstScalar: [Unicode.Scalar: [Int]] = [:]
    /// Whether some pattern starts with each ASCII scalar, and whether any starts with another scalar
    /// (a cheap filter before the dictionary).
    private var asciiFirst = [Bool](repeating: false, count: 128)
    private var anyNonASCIIFirst = false

    /// A matcher for `tokens`, looking for `patterns[i]` (defaults to the tokens' contents).
    init(_ tokens: [AddedToken], patterns: [[Unicode.Scalar]]? = nil) {
        self.tokens = tokens
        self.patterns = patterns ?? tokens.map(\.content)
        for (index, pattern) in self.patterns.enumerated() {
            guard let first = pattern.first else { continue }
            byFirstScalar[first, default: []].append(index)
            if first.value < 128 { asciiFirst[Int(first.value)] = true } else { anyNonASCIIFirst = true }
        }
        for key in byFirstScalar.keys {
            byFirstScalar[key]!.sort { self.patterns[$0].count > self.patterns[$1].count }
        }
    }

    var isEmpty: Bool { byFirstScalar.isEmpty }

    /// The leftmost-longest match starting at or after `from`, as (token index, range).
    private func nextMatch(in text: ArraySlice<Unicode.Scalar>, from: Int) -> (Int, Range<Int>)? {
        var i = from
        while i < text.endIndex {
            let value = text[i].value
            let possible = value < 128 ? asciiFirst[Int(value)] : anyNonASCIIFirst
            if possible, let candidates = byFirstScalar[text[i]] {
                for index in candidates {
                    let pattern = patterns[index]
                    if i + pattern.count <= text.endIndex && text[i..<(i + pattern.count)].elementsEqual(pattern) {
                        return (index, i..<(i + pattern.count))
                    }
                }
            }
            i += 1
        }
        return nil
    }

    /// Cuts `text` into plain-text ranges (indices of `text`) and added tokens; the segments cover all of `text`.
    func split(_ text: ArraySlice<Unicode.Scalar>) -> [TextSegment] {
        guard !isEmpty, !text.isEmpty else { return text.isEmpty ? [] : [.text(text.indices)] }
        var segments: [TextSegment] = []
        var startOffset = text.startIndex
        var searchFrom = text.startIndex
        while let (index, range) = nextMatch(in: text, from: searchFrom) {
            searchFrom = range.upperBound
            let token = tokens[index]
            var start = range.lowerBound
            var stop = range.upperBound
            if token.singleWord {
                let startSpace = start == text.startIndex || !isWordScalar(text[start - 1])
                let stopSpace = stop == text.endIndex || !isWordScalar(text[stop])
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var newStart = start
                while newStart > text.startIndex && text[newStart - 1].properties.isWhitespace { newStart -= 1 }
                start = max(newStart, startOffset)
            }
            if token.rstrip {
                while stop < text.endIndex && text[stop].properties.isWhitespace { stop += 1 }
                searchFrom = stop
            }
            if startOffset < start { segments.append(.text(startOffset..<start)) }
            segments.append(.token(token.id))
            startOffset = stop
        }
        if startOffset < text.endIndex { segments.append(.text(startOffset..<text.endIndex)) }
        return segments
    }
}

/// Rust's `char::is_alphanumeric() || c == '_'` (`ends_with_word` / `starts_with_word`).
private func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
    scalar == "_" || scalar.properties.isAlphabetic || scalar.splitClass == .number
}
