import Foundation

// Normalizers rewrite text before it is split (`tokenizers/src/normalizers/*.rs`, v0.23).
// Unicode normal forms come from Foundation (ICU), lowercasing from the standard library; both
// follow the full Unicode mappings as Rust's `unicode-normalization` and `to_lowercase` do.

/// A normalizer of a tokenizer.json.
indirect enum Normalizer {
    case sequence([Normalizer])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    /// Prepends a string to non-empty text (Llama-2's `▁`).
    case prepend([Unicode.Scalar])
    case replaceLiteral([Unicode.Scalar], with: [Unicode.Scalar])
    case replaceRegex(NSRegularExpression, with: String)
    /// Removes leading and/or trailing White_Space scalars.
    case strip(left: Bool, right: Bool)

    /// Builds the normalizer a tokenizer.json describes.
    /// - Throws: `TokenizerError.invalidPattern` for a regex that ICU rejects.
    init(_ json: NormalizerJSON) throws {
        switch json {
        case .sequence(let items): self = .sequence(try items.map(Normalizer.init))
        case .nfc: self = .nfc
        case .nfd: self = .nfd
        case .nfkc: self = .nfkc
        case .nfkd: self = .nfkd
        case .lowercase: self = .lowercase
        case .prepend(let text): self = .prepend(Array(text.unicodeScalars))
        case .replace(.string(let pattern), let content):
            self = .replaceLiteral(Array(pattern.unicodeScalars), with: Array(content.unicodeScalars))
        case .replace(.regex(let source), let content):
            self = .replaceRegex(try SplitPattern.compile(source), with: content)
        case .strip(let left, let right): self = .strip(left: left, right: right)
        }
    }

    /// The normalized form of `scalars`.
    func callAsFunction(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case .sequence(let items):
            return items.reduce(scalars) { $1($0) }
        case .nfc: return Array(string(scalars).precomposedStringWithCanonicalMapping.unicodeScalars)
        case .nfd: return Array(string(scalars).decomposedStringWithCanonicalMapping.unicodeScalars)
        case .nfkc: return Array(string(scalars).precomposedStringWithCompatibilityMapping.unicodeScalars)
        case .nfkd: return Array(string(scalars).decomposedStringWithCompatibilityMapping.unicodeScalars)
        case .lowercase: return Array(string(scalars).lowercased().unicodeScalars)
        case .prepend(let prefix): return scalars.isEmpty ? scalars : prefix + scalars
        case .replaceLiteral(let pattern, let content): return replacing(pattern, with: content, in: scalars)
        case .replaceRegex(let regex, let content):
            let text = string(scalars)
            let replaced = regex.stringByReplacingMatches(
                in: text, options: [], range: NSRange(location: 0, length: (text as NSString).length),
                withTemplate: NSRegularExpression.escapedTemplate(for: content))
            return Array(replaced.unicodeScalars)
        case .strip(let left, let right):
            var lower = 0
            var upper = scalars.count
            if left { while lower < upper && scalars[lower].properties.isWhitespace { lower += 1 } }
            if right { while upper > lower && scalars[upper - 1].properties.isWhitespace { upper -= 1 } }
            return Array(scalars[lower..<upper])
        }
    }
}

/// A String of exactly these scalars.
func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)
}

/// `scalars` with every non-overlapping occurrence of `pattern` (left to right) replaced by `content`.
func replacing(
    _ pattern: [Unicode.Scalar], with content: [Unicode.Scalar], in scalars: [Unicode.Scalar]
) -> [Unicode.Scalar] {
    guard !pattern.isEmpty, scalars.count >= pattern.count else { return scalars }
    if pattern.count == 1 && content.count == 1 {
        return scalars.map { $0 == pattern[0] ? content[0] : $0 }
    }
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(scalars.count)
    var i = 0
    while i < scalars.count {
        if i + pattern.count <= scalars.count && scalars[i] == pattern[0]
            && scalars[i..<(i + pattern.count)].elementsEqual(pattern)
        {
            out.append(contentsOf: content)
            i += pattern.count
        } else {
            out.append(scalars[i])
            i += 1
        }
    }
    return out
}
