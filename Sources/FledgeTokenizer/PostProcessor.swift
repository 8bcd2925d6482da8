// Post-processors add the special tokens of `encode(_:addSpecialTokens: true)` for a single
// sequence (`tokenizers/src/processors/*.rs`, v0.23). Pairs of sequences are not supported.

/// A post-processor of a tokenizer.json, or the BOS/EOS rule of a GGUF vocabulary.
indirect enum PostProcessor {
    case sequence([PostProcessor])
    /// Ids `prefix + sequence + suffix` (TemplateProcessing's single template, Roberta, Bert, GGUF BOS/EOS).
    case wrap(prefix: [Int32], suffix: [Int32])
    /// ByteLevel only trims offsets, which Fledge does not track.
    case identity

    /// Builds the post-processor a tokenizer.json describes.
    /// - Throws: `TokenizerError.malformed` when a template names an undefined special token.
    init(_ json: PostProcessorJSON) throws {
        switch json {
        case .sequence(let items): self = .sequence(try items.map(PostProcessor.init))
        case .byteLevel: self = .identity
        case .wrap(let cls, let sep): self = .wrap(prefix: [cls], suffix: [sep])
        case .template(let single, let specialTokens):
            var prefix: [Int32] = []
            var suffix: [Int32] = []
            var seenSequence = false
            for piece in single {
                switch piece {
                case .sequence:
                    guard !seenSequence else {
                        throw TokenizerError.unsupported(stage: "post-processor", type: "template with two sequences")
                    }
                    seenSequence = true
                case .specialToken(let name):
                    guard let ids = specialTokens[name] else {
                        throw TokenizerError.malformed(
                            "the template uses \"\(name)\", which special_tokens does not define")
                    }
                    if seenSequence { suffix += ids } else { prefix += ids }
                }
            }
            self = .wrap(prefix: prefix, suffix: suffix)
        }
    }

    /// `ids` with the special tokens added.
    func callAsFunction(_ ids: [Int32]) -> [Int32] {
        switch self {
        case .sequence(let items): return items.reduce(ids) { $1($0) }
        case .wrap(let prefix, let suffix): return prefix + ids + suffix
        case .identity: return ids
        }
    }
}
