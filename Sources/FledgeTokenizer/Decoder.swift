import Foundation

// Decoders turn tokens back into text. Each stage maps a list of token strings to a list of
// strings (`decode_chain` in huggingface/tokenizers `tokenizers/src/decoders/*.rs`, v0.23); the
// final list is concatenated.

/// A decoder of a tokenizer.json, or the one implied by a GGUF vocabulary.
indirect enum TokenDecoder {
    case sequence([TokenDecoder])
    /// Byte-level alphabet → bytes → UTF-8 (invalid sequences become U+FFFD).
    case byteLevel
    /// `▁` → space; the first token loses its replacement scalars unless the scheme is `never`.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case replaceLiteral([Unicode.Scalar], with: [Unicode.Scalar])
    case replaceRegex(NSRegularExpression, with: String)
    /// Runs of `<0xXX>` tokens → their UTF-8 text, or one U+FFFD per byte when invalid.
    case byteFallback
    /// All tokens → one.
    case fuse
    /// Removes up to `start` leading and `stop` trailing `content` scalars from each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)

    /// Builds the decoder a tokenizer.json describes.
    /// - Throws: `TokenizerError.invalidPattern` for a regex that ICU rejects.
    init(_ json: DecoderJSON) throws {
        switch json {
        case .sequence(let items): self = .sequence(try items.map(TokenDecoder.init))
        case .byteLevel: self = .byteLevel
        case .metaspace(let replacement, let scheme): self = .metaspace(replacement: replacement, prependScheme: scheme)
        case .replace(.string(let pattern), let content):
            self = .replaceLiteral(Array(pattern.unicodeScalars), with: Array(content.unicodeScalars))
        case .replace(.regex(let source), let content):
            self = .replaceRegex(try SplitPattern.compile(source), with: content)
        case .byteFallback: self = .byteFallback
        case .fuse: self = .fuse
        case .strip(let content, let start, let stop): self = .strip(content: content, start: start, stop: stop)
        }
    }

    /// The decoded strings of `tokens` (concatenate them for the text).
    func callAsFunction(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let items):
            return items.reduce(tokens) { $1($0) }
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens { bytes.append(contentsOf: ByteLevel.bytes(ofToken: token)) }
            return [String(decoding: bytes, as: UTF8.self)]
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { index, token in
                var out = String.UnicodeScalarView()
                for scalar in token.unicodeScalars {
                    if scalar != replacement {
                        out.append(scalar)
                    } else if !(index == 0 && scheme != .never) {
                        out.append(" ")
                    }
                }
                return String(out)
            }
        case .replaceLiteral(let pattern, let content):
            return tokens.map { string(replacing(pattern, with: content, in: Array($0.unicodeScalars))) }
        case .replaceRegex(let regex, let content):
            return tokens.map {
                regex.stringByReplacingMatches(
                    in: $0, options: [], range: NSRange(location: 0, length: ($0 as NSString).length),
                    withTemplate: NSRegularExpression.escapedTemplate(for: content))
            }
        case .byteFallback:
            return decodeByteFallback(tokens)
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                let scalars = Array(token.unicodeScalars)
                var lower = 0
                while lower < min(start, scalars.count) && scalars[lower] == content { lower += 1 }
                var upper = scalars.count
                while scalars.count - upper < stop && upper > lower && scalars[upper - 1] == content { upper -= 1 }
                return string(scalars[lower..<upper])
            }
        }
    }
}

/// The byte of a `<0xXX>` token.
private func fallbackByte(_ token: String) -> UInt8? {
    let utf8 = Array(token.utf8)
    guard utf8.count == 6, utf8[0] == UInt8(ascii: "<"), utf8[1] == UInt8(ascii: "0"), utf8[2] == UInt8(ascii: "x"),
        utf8[5] == UInt8(ascii: ">")
    else { return nil }
    return UInt8(String(decoding: utf8[3..<5], as: UTF8.self), radix: 16)
}

private func decodeByteFallback(_ tokens: [String]) -> [String] {
    var out: [String] = []
    out.reserveCapacity(tokens.count)
    var pending: [UInt8] = []
    func flush() {
        guard !pending.isEmpty else { return }
        if let text = String(validating: pending, as: UTF8.self) {
            out.append(text)
        } else {
            out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
        }
        pending.removeAll()
    }
    for token in tokens {
        if let byte = fallbackByte(token) {
            pending.append(byte)
        } else {
            flush()
            out.append(token)
        }
    }
    flush()
    return out
}
