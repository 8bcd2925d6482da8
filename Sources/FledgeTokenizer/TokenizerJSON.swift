import Foundation

// A `Decodable` mirror of the parts of Hugging Face's `tokenizer.json` that FledgeTokenizer
// runs. Each polymorphic stage is an enum decoded from its `"type"` string; a type this module
// does not implement throws `TokenizerError.unsupported` while decoding, never later.
// Format: huggingface/tokenizers `tokenizers/src/tokenizer/serialization.rs` and the
// `#[serde(tag = "type")]` structs of `normalizers/`, `pre_tokenizers/`, `decoders/`, `processors/`.

/// The root object of a `tokenizer.json`.
struct TokenizerJSON: Decodable {
    var addedTokens: [AddedTokenJSON]
    var normalizer: NormalizerJSON?
    var preTokenizer: PreTokenizerJSON?
    var postProcessor: PostProcessorJSON?
    var decoder: DecoderJSON?
    var model: ModelJSON

    enum CodingKeys: String, CodingKey {
        case addedTokens = "added_tokens"
        case normalizer
        case preTokenizer = "pre_tokenizer"
        case postProcessor = "post_processor"
        case decoder
        case model
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        addedTokens = try container.decodeIfPresent([AddedTokenJSON].self, forKey: .addedTokens) ?? []
        normalizer = try container.decodeIfPresent(NormalizerJSON.self, forKey: .normalizer)
        preTokenizer = try container.decodeIfPresent(PreTokenizerJSON.self, forKey: .preTokenizer)
        postProcessor = try container.decodeIfPresent(PostProcessorJSON.self, forKey: .postProcessor)
        self.decoder = try container.decodeIfPresent(DecoderJSON.self, forKey: .decoder)
        model = try container.decode(ModelJSON.self, forKey: .model)
    }
}

/// One entry of `added_tokens`.
struct AddedTokenJSON: Decodable {
    var id: Int32
    var content: String
    var singleWord: Bool
    var lstrip: Bool
    var rstrip: Bool
    var normalized: Bool
    var special: Bool

    enum CodingKeys: String, CodingKey {
        case id, content, lstrip, rstrip, normalized, special
        case singleWord = "single_word"
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(Int32.self, forKey: .id)
        content = try container.decode(String.self, forKey: .content)
        singleWord = try container.decodeIfPresent(Bool.self, forKey: .singleWord) ?? false
        lstrip = try container.decodeIfPresent(Bool.self, forKey: .lstrip) ?? false
        rstrip = try container.decodeIfPresent(Bool.self, forKey: .rstrip) ?? false
        special = try container.decodeIfPresent(Bool.self, forKey: .special) ?? false
        normalized = try container.decodeIfPresent(Bool.self, forKey: .normalized) ?? !special
    }

    init(id: Int32, content: String, special: Bool, normalized: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.normalized = normalized
        singleWord = false
        lstrip = false
        rstrip = false
    }
}

/// A `{"String": ...}` or `{"Regex": ...}` pattern of `Split`, `Replace`.
enum PatternJSON: Decodable, Equatable {
    case string(String)
    case regex(String)

    enum CodingKeys: String, CodingKey {
        case string = "String"
        case regex = "Regex"
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let value = try container.decodeIfPresent(String.self, forKey: .string) {
            self = .string(value)
        } else if let value = try container.decodeIfPresent(String.self, forKey: .regex) {
            self = .regex(value)
        } else {
            throw TokenizerError.malformed("a pattern is neither {\"String\": ...} nor {\"Regex\": ...}")
        }
    }
}

/// The `"type"` key shared by every stage.
private enum TypeKey: String, CodingKey {
    case type
}

private func stageType(_ decoder: Decoder, stage: String) throws -> String {
    let container = try decoder.container(keyedBy: TypeKey.self)
    guard let type = try container.decodeIfPresent(String.self, forKey: .type) else {
        throw TokenizerError.malformed("a \(stage) has no \"type\"")
    }
    return type
}

/// A normalizer (`tokenizers/src/normalizers`).
indirect enum NormalizerJSON: Decodable {
    case sequence([NormalizerJSON])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case prepend(String)
    case replace(PatternJSON, String)
    case strip(left: Bool, right: Bool)

    enum CodingKeys: String, CodingKey {
        case normalizers, prepend, pattern, content
        case stripLeft = "strip_left"
        case stripRight = "strip_right"
    }

    init(from decoder: Decoder) throws {
        let type = try stageType(decoder, stage: "normalizer")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch type {
        case "Sequence": self = .sequence(try container.decode([NormalizerJSON].self, forKey: .normalizers))
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "Lowercase": self = .lowercase
        case "Prepend": self = .prepend(try container.decode(String.self, forKey: .prepend))
        case "Replace":
            self = .replace(
                try container.decode(PatternJSON.self, forKey: .pattern),
                try container.decode(String.self, forKey: .content))
        case "Strip":
            self = .strip(
                left: try container.decodeIfPresent(Bool.self, forKey: .stripLeft) ?? true,
                right: try container.decodeIfPresent(Bool.self, forKey: .stripRight) ?? true)
        default: throw TokenizerError.unsupported(stage: "normalizer", type: type)
        }
    }
}

/// How `Metaspace` adds its replacement in front of a piece.
enum PrependScheme: String, Decodable {
    case always, first, never
}

/// A pre-tokenizer (`tokenizers/src/pre_tokenizers`).
indirect enum PreTokenizerJSON: Decodable {
    case sequence([PreTokenizerJSON])
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(pattern: PatternJSON, behavior: SplitBehavior, invert: Bool)
    case digits(individualDigits: Bool)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    case whitespaceSplit

    enum CodingKeys: String, CodingKey {
        case pretokenizers, pattern, behavior, invert, replacement, split
        case addPrefixSpace = "add_prefix_space"
        case useRegex = "use_regex"
        case individualDigits = "individual_digits"
        case prependScheme = "prepend_scheme"
    }

    init(from decoder: Decoder) throws {
        let type = try stageType(decoder, stage: "pre-tokenizer")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch type {
        case "Sequence": self = .sequence(try container.decode([PreTokenizerJSON].self, forKey: .pretokenizers))
        case "ByteLevel":
            self = .byteLevel(
                addPrefixSpace: try container.decodeIfPresent(Bool.self, forKey: .addPrefixSpace) ?? true,
                useRegex: try container.decodeIfPresent(Bool.self, forKey: .useRegex) ?? true)
        case "Split":
            self = .split(
                pattern: try container.decode(PatternJSON.self, forKey: .pattern),
                behavior: try container.decode(SplitBehavior.self, forKey: .behavior),
                invert: try container.decodeIfPresent(Bool.self, forKey: .invert) ?? false)
        case "Digits":
            self = .digits(
                individualDigits: try container.decodeIfPresent(Bool.self, forKey: .individualDigits) ?? false)
        case "Metaspace":
            let (replacement, scheme) = try metaspaceOptions(container, stage: "pre-tokenizer")
            self = .metaspace(
                replacement: replacement, prependScheme: scheme,
                split: try container.decodeIfPresent(Bool.self, forKey: .split) ?? true)
        case "WhitespaceSplit": self = .whitespaceSplit
        default: throw TokenizerError.unsupported(stage: "pre-tokenizer", type: type)
        }
    }
}

/// Reads `replacement` and `prepend_scheme` (or the older `add_prefix_space`) of a Metaspace stage.
private func metaspaceOptions<Key: CodingKey>(
    _ container: KeyedDecodingContainer<Key>, stage: String
) throws -> (Unicode.Scalar, PrependScheme) {
    let replacementKey = Key(stringValue: "replacement")!
    let schemeKey = Key(stringValue: "prepend_scheme")!
    let prefixKey = Key(stringValue: "add_prefix_space")!
    let text = try container.decode(String.self, forKey: replacementKey)
    guard text.unicodeScalars.count == 1, let replacement = text.unicodeScalars.first else {
        throw TokenizerError.malformed("a Metaspace \(stage) replacement must be one character, not \"\(text)\"")
    }
    if let scheme = try container.decodeIfPresent(PrependScheme.self, forKey: schemeKey) {
        return (replacement, scheme)
    }
    let addPrefixSpace = try container.decodeIfPresent(Bool.self, forKey: prefixKey) ?? true
    return (replacement, addPrefixSpace ? .always : .never)
}

/// What `Split` does with the pieces its pattern matches (`SplitDelimiterBehavior`).
enum SplitBehavior: String, Decodable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

/// A decoder (`tokenizers/src/decoders`).
indirect enum DecoderJSON: Decodable {
    case sequence([DecoderJSON])
    case byteLevel
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case replace(PatternJSON, String)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)

    enum CodingKeys: String, CodingKey {
        case decoders, pattern, content, start, stop, replacement
        case prependScheme = "prepend_scheme"
        case addPrefixSpace = "add_prefix_space"
    }

    init(from decoder: Decoder) throws {
        let type = try stageType(decoder, stage: "decoder")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch type {
        case "Sequence": self = .sequence(try container.decode([DecoderJSON].self, forKey: .decoders))
        case "ByteLevel": self = .byteLevel
        case "Metaspace":
            let (replacement, scheme) = try metaspaceOptions(container, stage: "decoder")
            self = .metaspace(replacement: replacement, prependScheme: scheme)
        case "Replace":
            self = .replace(
                try container.decode(PatternJSON.self, forKey: .pattern),
                try container.decode(String.self, forKey: .content))
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Strip":
            let content = try container.decode(String.self, forKey: .content)
            guard content.unicodeScalars.count == 1, let scalar = content.unicodeScalars.first else {
                throw TokenizerError.malformed("a Strip decoder content must be one character, not \"\(content)\"")
            }
            self = .strip(
                content: scalar,
                start: try container.decodeIfPresent(Int.self, forKey: .start) ?? 0,
                stop: try container.decodeIfPresent(Int.self, forKey: .stop) ?? 0)
        default: throw TokenizerError.unsupported(stage: "decoder", type: type)
        }
    }
}

/// One item of a `TemplateProcessing` template.
enum TemplatePieceJSON: Decodable {
    case sequence(String)
    case specialToken(String)

    private struct Named: Decodable { var id: String }
    enum CodingKeys: String, CodingKey {
        case sequence = "Sequence"
        case specialToken = "SpecialToken"
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let named = try container.decodeIfPresent(Named.self, forKey: .sequence) {
            self = .sequence(named.id)
        } else if let named = try container.decodeIfPresent(Named.self, forKey: .specialToken) {
            self = .specialToken(named.id)
        } else {
            throw TokenizerError.malformed("a template piece is neither Sequence nor SpecialToken")
        }
    }
}

/// A post-processor (`tokenizers/src/processors`); only single sequences are supported.
indirect enum PostProcessorJSON: Decodable {
    case sequence([PostProcessorJSON])
    case byteLevel
    case template(single: [TemplatePieceJSON], specialTokens: [String: [Int32]])
    case wrap(cls: Int32, sep: Int32)

    private struct SpecialTokenJSON: Decodable { var ids: [Int32] }
    private struct NamedID: Decodable {
        var id: Int32
        init(from decoder: Decoder) throws {
            var container = try decoder.unkeyedContainer()
            _ = try container.decode(String.self)
            id = try container.decode(Int32.self)
        }
    }
    enum CodingKeys: String, CodingKey {
        case processors, single, cls, sep
        case specialTokens = "special_tokens"
    }

    init(from decoder: Decoder) throws {
        let type = try stageType(decoder, stage: "post-processor")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch type {
        case "Sequence": self = .sequence(try container.decode([PostProcessorJSON].self, forKey: .processors))
        case "ByteLevel": self = .byteLevel
        case "TemplateProcessing":
            let special = try container.decodeIfPresent([String: SpecialTokenJSON].self, forKey: .specialTokens) ?? [:]
            self = .template(
                single: try container.decode([TemplatePieceJSON].self, forKey: .single),
                specialTokens: special.mapValues(\.ids))
        case "RobertaProcessing", "BertProcessing":
            self = .wrap(
                cls: try container.decode(NamedID.self, forKey: .cls).id,
                sep: try container.decode(NamedID.self, forKey: .sep).id)
        default: throw TokenizerError.unsupported(stage: "post-processor", type: type)
        }
    }
}

/// The `model` object; only `BPE` is supported.
struct ModelJSON: Decodable {
    var vocab: [String: Int32]
    var merges: [(String, String)]
    var unknownToken: String?
    var byteFallback: Bool
    var fuseUnknown: Bool
    var ignoreMerges: Bool

    enum CodingKeys: String, CodingKey {
        case type, vocab, merges, dropout
        case unknownToken = "unk_token"
        case byteFallback = "byte_fallback"
        case fuseUnknown = "fuse_unk"
        case ignoreMerges = "ignore_merges"
        case continuingSubwordPrefix = "continuing_subword_prefix"
        case endOfWordSuffix = "end_of_word_suffix"
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decodeIfPresent(String.self, forKey: .type) ?? "BPE"
        guard type == "BPE" else { throw TokenizerError.unsupported(stage: "model", type: type) }
        vocab = try container.decode([String: Int32].self, forKey: .vocab)
        if let pairs = try? container.decode([[String]].self, forKey: .merges) {
            merges = try pairs.map { pair in
                guard pair.count == 2 else { throw TokenizerError.malformed("a merge is not a pair: \(pair)") }
                return (pair[0], pair[1])
            }
        } else {
            let lines = try container.decodeIfPresent([String].self, forKey: .merges) ?? []
            merges = try lines.map(ModelJSON.splitMerge)
        }
        unknownToken = try container.decodeIfPresent(String.self, forKey: .unknownToken)
        byteFallback = try container.decodeIfPresent(Bool.self, forKey: .byteFallback) ?? false
        fuseUnknown = try container.decodeIfPresent(Bool.self, forKey: .fuseUnknown) ?? false
        ignoreMerges = try container.decodeIfPresent(Bool.self, forKey: .ignoreMerges) ?? false
        if let dropout = try container.decodeIfPresent(Double.self, forKey: .dropout), dropout > 0 {
            throw TokenizerError.unsupported(stage: "model", type: "BPE with dropout \(dropout)")
        }
        for key in [CodingKeys.continuingSubwordPrefix, .endOfWordSuffix] {
            if let affix = try container.decodeIfPresent(String.self, forKey: key), !affix.isEmpty {
                throw TokenizerError.unsupported(stage: "model", type: "BPE with \(key.stringValue) \"\(affix)\"")
            }
        }
    }

    /// Splits a `"left right"` merge line at its first space (`tokenizers/src/models/bpe/serialization.rs`).
    static func splitMerge(_ line: String) throws -> (String, String) {
        let scalars = line.unicodeScalars
        guard let space = scalars.firstIndex(of: " ") else {
            throw TokenizerError.malformed("merge \"\(line)\" has no space")
        }
        return (String(scalars[..<space]), String(scalars[scalars.index(after: space)...]))
    }
}
