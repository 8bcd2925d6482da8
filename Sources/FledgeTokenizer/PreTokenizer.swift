// Pre-tokenizers cut normalized text into the words BPE encodes separately.
// Semantics ported from huggingface/tokenizers (v0.23) `tokenizers/src/pre_tokenizers/*.rs` and
// `NormalizedString::split` in `tokenizers/src/tokenizer/normalizer.rs`.

/// A piece of text on its way to the model.
struct Piece {
    /// The scalars of the piece (a slice of the text it was cut from, to spare copies).
    var scalars: ArraySlice<Unicode.Scalar>
    /// Whether the piece starts at offset 0 of the original text (Metaspace's `prepend_scheme: first`).
    var atStart: Bool
    /// Whether the piece still has to be written in the byte-level alphabet. `ByteLevel` defers that
    /// mapping to the model, whose cache is then keyed by the raw word; a later stage maps first.
    var needsByteLevel = false

    init(scalars: ArraySlice<Unicode.Scalar>, atStart: Bool, needsByteLevel: Bool = false) {
        self.scalars = scalars
        self.atStart = atStart
        self.needsByteLevel = needsByteLevel
    }

    /// The piece written in the byte-level alphabet if that is still pending.
    var mapped: Piece {
        needsByteLevel ? Piece(scalars: ArraySlice(ByteLevel.encode(scalars)), atStart: atStart) : self
    }
}

/// A pre-tokenizer of a tokenizer.json, or the one implied by a GGUF's `tokenizer.ggml.pre`.
indirect enum PreTokenizer {
    case sequence([PreTokenizer])
    /// Optional prefix space, optional GPT-2 regex split, then the byte-level alphabet.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(SplitPattern, SplitBehavior, invert: Bool)
    /// Numbers split out one scalar at a time (`individual`) or in runs.
    case digits(individual: Bool)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    case whitespaceSplit

    /// Builds the pre-tokenizer a tokenizer.json describes.
    /// - Throws: `TokenizerError.invalidPattern` for a regex that ICU rejects.
    init(_ json: PreTokenizerJSON) throws {
        switch json {
        case .sequence(let items): self = .sequence(try items.map(PreTokenizer.init))
        case .byteLevel(let addPrefixSpace, let useRegex):
            self = .byteLevel(addPrefixSpace: addPrefixSpace, useRegex: useRegex)
        case .split(let pattern, let behavior, let invert):
            self = .split(try SplitPattern(pattern), behavior, invert: invert)
        case .digits(let individual): self = .digits(individual: individual)
        case .metaspace(let replacement, let scheme, let split):
            self = .metaspace(replacement: replacement, prependScheme: scheme, split: split)
        case .whitespaceSplit: self = .whitespaceSplit
        }
    }

    /// Cuts every piece; empty pieces are dropped.
    func callAsFunction(_ pieces: [Piece]) -> [Piece] {
        if case .sequence = self {
        } else if pieces.contains(where: \.needsByteLevel) {
            return self(pieces.map(\.mapped))
        }
        switch self {
        case .sequence(let items):
            return items.reduce(pieces) { $1($0) }
        case .byteLevel(let addPrefixSpace, let useRegex):
            return pieces.flatMap { piece -> [Piece] in
                var piece = piece
                if addPrefixSpace && piece.scalars.first != " " { piece.scalars = [" "] + piece.scalars }
                let words = useRegex ? cut(piece, at: SplitPattern.gpt2.matches(in: piece.scalars), .isolated) : [piece]
                return words.map { Piece(scalars: $0.scalars, atStart: $0.atStart, needsByteLevel: true) }
            }
        case .split(let pattern, let behavior, let invert):
            return pieces.flatMap { cut($0, at: pattern.matches(in: $0.scalars), behavior, invert: invert) }
        case .digits(let individual):
            return pieces.flatMap { piece in
                cut(
                    piece, at: singleScalarMatches(piece.scalars) { $0.splitClass == .number },
                    individual ? .isolated : .contiguous)
            }
        case .metaspace(let replacement, let scheme, let split):
            return pieces.flatMap { applyMetaspace($0, replacement: replacement, scheme: scheme, split: split) }
        case .whitespaceSplit:
            return pieces.flatMap {
                cut($0, at: singleScalarMatches($0.scalars) { $0.properties.isWhitespace }, .removed)
            }
        }
    }
}

/// Replaces spaces by `replacement`, prepends it per the scheme and optionally splits before each.
private func applyMetaspace(_ piece: Piece, replacement: Unicode.Scalar, scheme: PrependScheme, split: Bool) -> [Piece]
{
    var piece = piece
    for i in piece.scalars.indices where piece.scalars[i] == " " { piece.scalars[i] = replacement }
    let prepend: Bool
    switch scheme {
    case .always: prepend = true
    case .first: prepend = piece.atStart
    case .never: prepend = false
    }
    if prepend && piece.scalars.first != replacement { piece.scalars = [replacement] + piece.scalars }
    guard split else { return [piece] }
    return cut(piece, at: singleScalarMatches(piece.scalars) { $0 == replacement }, .mergedWithNext)
}

/// One single-scalar match per scalar that satisfies `predicate`.
private func singleScalarMatches(
    _ scalars: ArraySlice<Unicode.Scalar>, _ predicate: (Unicode.Scalar) -> Bool
) -> [Range<Int>] {
    var out: [Range<Int>] = []
    for i in scalars.indices where predicate(scalars[i]) { out.append(i..<(i + 1)) }
    return out
}

/// Cuts `piece` around `matches` (indices of `piece.scalars`) as `NormalizedString::split` does for `behavior`.
func cut(_ piece: Piece, at matches: [Range<Int>], _ behavior: SplitBehavior, invert: Bool = false) -> [Piece] {
    let base = piece.scalars.startIndex
    let count = piece.scalars.endIndex
    if matches.isEmpty && !invert { return piece.scalars.isEmpty ? [] : [piece] }
    // Segments covering the whole piece, each flagged as a match or not.
    var segments: [(range: Range<Int>, isMatch: Bool)] = []
    segments.reserveCapacity(matches.count * 2 + 1)
    var previous = base
    for match in matches {
        if match.lowerBound > previous { segments.append((previous..<match.lowerBound, invert)) }
        if !match.isEmpty { segments.append((match, !invert)) }
        previous = match.upperBound
    }
    if previous < count { segments.append((previous..<count, invert)) }

    var kept: [Range<Int>] = []
    kept.reserveCapacity(segments.count)
    switch behavior {
    case .removed:
        kept = segments.filter { !$0.isMatch }.map(\.range)
    case .isolated:
        kept = segments.map(\.range)
    case .mergedWithPrevious:
        var previousMatch = false
        for (range, isMatch) in segments {
            if isMatch && !previousMatch, let last = kept.last {
                kept[kept.count - 1] = last.lowerBound..<range.upperBound
            } else {
                kept.append(range)
            }
            previousMatch = isMatch
        }
    case .mergedWithNext:
        var previousMatch = false
        for (range, isMatch) in segments.reversed() {
            if isMatch && !previousMatch, let last = kept.last {
                kept[kept.count - 1] = range.lowerBound..<last.upperBound
            } else {
                kept.append(range)
            }
            previousMatch = isMatch
        }
        kept.reverse()
    case .contiguous:
        var previousMatch = false
        for (index, (range, isMatch)) in segments.enumerated() {
            if index > 0 && isMatch == previousMatch, let last = kept.last {
                kept[kept.count - 1] = last.lowerBound..<range.upperBound
            } else {
                kept.append(range)
            }
            previousMatch = isMatch
        }
    }
    return kept.compactMap { range in
        range.isEmpty ? nil : Piece(scalars: piece.scalars[range], atStart: piece.atStart && range.lowerBound == base)
    }
}
