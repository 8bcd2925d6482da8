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

    /// A matcher for `tokens`, looking for `patterns[i]` (defaults to the tokens' contents).
    init(_ tokens: [AddedToken], patterns: [[Unicode.Scalar]]? = nil) {
        self.tokens = tokens
        self.patterns = patterns ?? tokens.map(\.content)
        for (index, pattern) in self.patterns.enumerated() {
            guard let first = pattern.first else { continue }
            byFirstScalar[first, default: []].append(index)
        }
        for key in byFirstScalar.keys {
            byFirstScalar[key]!.sort { self.patterns[$0].count > self.patterns[$1].count }
        }
    }

    var isEmpty: Bool { byFirstScalar.isEmpty }

    /// The leftmost-longest match starting at or after `from`, as (token index, range).
    private func nextMatch(in text: [Unicode.Scalar], from: Int) -> (Int, Range<Int>)? {
        var i = from
        while i < text.count {
            if let candidates = byFirstScalar[text[i]] {
                for index in candidates {
                    let pattern = patterns[index]
                    if i + pattern.count <= text.count && text[i..<(i + pattern.count)].elementsEqual(pattern) {
                        return (index, i..<(i + pattern.count))
                    }
                }
            }
            i += 1
        }
        return nil
    }

    /// Cuts `text` into plain-text ranges and added tokens; the segments cover all of `text`.
    func split(_ text: [Unicode.Scalar]) -> [TextSegment] {
        guard !isEmpty, !text.isEmpty else { return text.isEmpty ? [] : [.text(0..<text.count)] }
        var segments: [TextSegment] = []
        var startOffset = 0
        var searchFrom = 0
        while let (index, range) = nextMatch(in: text, from: searchFrom) {
            searchFrom = range.upperBound
            let token = tokens[index]
            var start = range.lowerBound
            var stop = range.upperBound
            if token.singleWord {
                let startSpace = start == 0 || !isWordScalar(text[start - 1])
                let stopSpace = stop == text.count || !isWordScalar(text[stop])
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var newStart = start
                while newStart > 0 && text[newStart - 1].properties.isWhitespace { newStart -= 1 }
                start = max(newStart, startOffset)
            }
            if token.rstrip {
                while stop < text.count && text[stop].properties.isWhitespace { stop += 1 }
                searchFrom = stop
            }
            if startOffset < start { segments.append(.text(startOffset..<start)) }
            segments.append(.token(token.id))
            startOffset = stop
        }
        if startOffset < text.count { segments.append(.text(startOffset..<text.count)) }
        return segments
    }
}

/// Rust's `char::is_alphanumeric() || c == '_'` (`ends_with_word` / `starts_with_word`).
private func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
    scalar == "_" || scalar.properties.isAlphabetic || scalar.splitClass == .number
}
