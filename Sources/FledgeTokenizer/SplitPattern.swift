import Foundation

// The regular expressions that split text before BPE. The three used by the models Fledge
// targets are scanned natively (NSRegularExpression bridging costs more than the BPE itself);
// any other pattern runs on ICU through NSRegularExpression. Tests compare every native scanner
// with ICU on the same pattern and with the `tokenizers` library on whole texts.
//
// Character classes follow Oniguruma as `tokenizers` uses it: \p{L} = general categories
// Lu Ll Lt Lm Lo, \p{N} = Nd Nl No, \s = the White_Space property.

/// The class of a scalar as the split regexes see it.
enum ScalarClass: UInt8 {
    case other = 0, letter, number, whitespace
}

private func classify(_ scalar: Unicode.Scalar) -> ScalarClass {
    let properties = scalar.properties
    if properties.isWhitespace { return .whitespace }
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return .other
    }
}

extension Unicode.Scalar {
    /// The split-regex class of this scalar (letter, number, whitespace or other).
    @inline(__always)
    var splitClass: ScalarClass {
        let v = value
        guard v < 128 else { return classify(self) }
        if (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A { return .letter }  // A-Z a-z
        if v >= 0x30 && v <= 0x39 { return .number }
        if v == 0x20 || (v >= 0x09 && v <= 0x0D) { return .whitespace }
        return .other
    }
}

/// A pattern that finds the pieces `Split` (or `ByteLevel` with `use_regex`) cuts out.
enum SplitPattern {
    /// A literal string (`{"String": ...}`).
    case literal([Unicode.Scalar])
    /// GPT-2's `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// Llama-3's pattern (`maxDigits` 3) and Qwen2's (`maxDigits` 1):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|`
    /// `\s*[\r\n]+|\s+(?!\S)|\s+`.
    case llama3(maxDigits: Int)
    /// Any other regular expression, run by ICU.
    case regex(NSRegularExpression)

    static let gpt2Source = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Source =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"#
        + #"\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Source =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"#
        + #"\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The pattern of a tokenizer.json `Split`; known regexes get a native scanner.
    /// - Throws: `TokenizerError.invalidPattern` when ICU rejects the regex.
    init(_ pattern: PatternJSON) throws {
        switch pattern {
        case .string(let text): self = .literal(Array(text.unicodeScalars))
        case .regex(let source):
            switch source {
            case SplitPattern.gpt2Source: self = .gpt2
            case SplitPattern.llama3Source: self = .llama3(maxDigits: 3)
            case SplitPattern.qwen2Source: self = .llama3(maxDigits: 1)
            default: self = .regex(try SplitPattern.compile(source))
            }
        }
    }

    /// Compiles `source` with ICU.
    static func compile(_ source: String) throws -> NSRegularExpression {
        do {
            return try NSRegularExpression(pattern: source, options: [])
        } catch {
            throw TokenizerError.invalidPattern(source)
        }
    }

    /// The non-overlapping matches in `text`, left to right, as index ranges of `text`.
    func matches(in text: ArraySlice<Unicode.Scalar>) -> [Range<Int>] {
        switch self {
        case .literal(let needle): return literalMatches(needle, in: text)
        case .gpt2: return gpt2Matches(in: text)
        case .llama3(let maxDigits): return llama3Matches(in: text, maxDigits: maxDigits)
        case .regex(let regex): return regexMatches(regex, in: text)
        }
    }
}

// MARK: - Scanners

private func literalMatches(_ needle: [Unicode.Scalar], in text: ArraySlice<Unicode.Scalar>) -> [Range<Int>] {
    guard !needle.isEmpty, text.count >= needle.count else { return [] }
    var out: [Range<Int>] = []
    var i = text.startIndex
    while i + needle.count <= text.endIndex {
        if text[i] == needle[0] && text[i..<(i + needle.count)].elementsEqual(needle) {
            out.append(i..<(i + needle.count))
            i += needle.count
        } else {
            i += 1
        }
    }
    return out
}

/// The length of a contraction (`'s 't 're 've 'm 'll 'd`) at `i`, or 0.
@inline(__always)
private func contractionLength(_ text: ArraySlice<Unicode.Scalar>, at i: Int, ignoringCase: Bool) -> Int {
    guard text[i] == "'", i + 1 < text.endIndex else { return 0 }
    func lower(_ scalar: Unicode.Scalar) -> UInt32 {
        guard ignoringCase else { return scalar.value }
        if scalar.value == 0x17F { return 0x73 }  // ſ folds to s under (?i)
        return (0x41...0x5A).contains(scalar.value) ? scalar.value + 32 : scalar.value
    }
    let a = lower(text[i + 1])
    switch a {
    case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
    case 0x72, 0x76, 0x6C:  // r v l
        guard i + 2 < text.endIndex else { return 0 }
        let b = lower(text[i + 2])
        if (a == 0x72 || a == 0x76) && b == 0x65 { return 3 }  // re ve
        if a == 0x6C && b == 0x6C { return 3 }  // ll
        return 0
    default: return 0
    }
}

/// The end of the run of scalars of class `kind` starting at `i`.
@inline(__always)
private func runEnd(_ text: ArraySlice<Unicode.Scalar>, from i: Int, of kind: ScalarClass, limit: Int = .max) -> Int {
    var j = i
    while j < text.endIndex && j - i < limit && text[j].splitClass == kind { j += 1 }
    return j
}

/// `\s+(?!\S)|\s+` at a whitespace scalar `i`: the run, less its last scalar when a non-space follows.
@inline(__always)
private func whitespaceMatchEnd(_ text: ArraySlice<Unicode.Scalar>, from i: Int) -> Int {
    let end = runEnd(text, from: i, of: .whitespace)
    if end == text.endIndex || end - i == 1 { return end }
    return end - 1
}

private func gpt2Matches(in text: ArraySlice<Unicode.Scalar>) -> [Range<Int>] {
    var out: [Range<Int>] = []
    out.reserveCapacity(text.count / 3)
    var i = text.startIndex
    while i < text.endIndex {
        let contraction = contractionLength(text, at: i, ignoringCase: false)
        if contraction > 0 {
            out.append(i..<(i + contraction))
            i += contraction
            continue
        }
        var head = i
        if text[i] == " " && i + 1 < text.endIndex && text[i + 1].splitClass != .whitespace { head = i + 1 }
        let kind = text[head].splitClass
        let end = kind == .whitespace ? whitespaceMatchEnd(text, from: i) : runEnd(text, from: head, of: kind)
        out.append(i..<end)
        i = end
    }
    return out
}

private func isNewline(_ scalar: Unicode.Scalar) -> Bool { scalar == "\n" || scalar == "\r" }

private func llama3Matches(in text: ArraySlice<Unicode.Scalar>, maxDigits: Int) -> [Range<Int>] {
    var out: [Range<Int>] = []
    out.reserveCapacity(text.count / 3)
    var i = text.startIndex
    while i < text.endIndex {
        let end = llama3MatchEnd(text, at: i, maxDigits: maxDigits)
        out.append(i..<end)
        i = end
    }
    return out
}

/// The end of the Llama-3/Qwen2 match that starts at `i` (the pattern always matches one scalar at least).
private func llama3MatchEnd(_ text: ArraySlice<Unicode.Scalar>, at i: Int, maxDigits: Int) -> Int {
    let contraction = contractionLength(text, at: i, ignoringCase: true)
    if contraction > 0 { return i + contraction }
    let scalar = text[i]
    let kind = scalar.splitClass
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if kind == .letter { return runEnd(text, from: i, of: .letter) }
    if kind != .number && !isNewline(scalar) && i + 1 < text.endIndex && text[i + 1].splitClass == .letter {
        return runEnd(text, from: i + 1, of: .letter)
    }
    // \p{N}{1,3}
    if kind == .number { return runEnd(text, from: i, of: .number, limit: maxDigits) }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    var head = i
    if scalar == " " && i + 1 < text.endIndex && text[i + 1].splitClass == .other { head = i + 1 }
    if text[head].splitClass == .other {
        var end = runEnd(text, from: head, of: .other)
        while end < text.endIndex && isNewline(text[end]) { end += 1 }
        return end
    }
    // \s*[\r\n]+ : up to the last newline of the whitespace run
    let runEnd = runEnd(text, from: i, of: .whitespace)
    var lastNewline = -1
    for j in i..<runEnd where isNewline(text[j]) { lastNewline = j }
    if lastNewline >= 0 { return lastNewline + 1 }
    // \s+(?!\S)|\s+
    return whitespaceMatchEnd(text, from: i)
}

private func regexMatches(_ regex: NSRegularExpression, in text: ArraySlice<Unicode.Scalar>) -> [Range<Int>] {
    var string = String.UnicodeScalarView()
    string.append(contentsOf: text)
    let ns = String(string) as NSString
    // UTF-16 offset → scalar index (offsets inside a surrogate pair never occur at match bounds).
    var scalarAt = [Int](repeating: 0, count: ns.length + 1)
    var utf16 = 0
    for (k, scalar) in text.enumerated() {
        let width = scalar.value > 0xFFFF ? 2 : 1
        for w in 0..<width { scalarAt[utf16 + w] = text.startIndex + k }
        utf16 += width
    }
    scalarAt[utf16] = text.endIndex
    return regex.matches(in: String(string), options: [], range: NSRange(location: 0, length: ns.length)).compactMap {
        let range = $0.range
        guard range.length > 0 else { return nil }
        return scalarAt[range.location]..<scalarAt[range.location + range.length]
    }
}
