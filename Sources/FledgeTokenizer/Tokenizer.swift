import Foundation

/// A BPE tokenizer that encodes and decodes exactly as Hugging Face `tokenizers` does, built from
/// a `tokenizer.json` or from the vocabulary embedded in a GGUF file.
///
/// Pipeline of `encode`: added/special tokens are cut out of the raw text → each remaining
/// piece is normalized → pre-tokenized into words → each word is BPE-encoded (with a cache) →
/// the post-processor adds BOS/EOS when asked. Safe to use from several threads at once.
public final class Tokenizer: @unchecked Sendable {
    private let model: BPE
    private let normalizer: Normalizer?
    private let preTokenizer: PreTokenizer?
    private let postProcessor: PostProcessor?
    private let decoder: TokenDecoder?
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    /// Token strings by id (added tokens included); nil for unused ids.
    private let tokensByID: [String?]
    private let tokenIDs: [String: Int32]
    private let specialIDs: Set<Int32>

    /// The id of the beginning-of-sequence token, when known.
    public let bosTokenID: Int32?
    /// The id of the end-of-sequence token, when known.
    public let eosTokenID: Int32?
    /// The id of the padding token, when known.
    public let padTokenID: Int32?

    struct Parts {
        var model: BPE
        var normalizer: Normalizer?
        var preTokenizer: PreTokenizer?
        var postProcessor: PostProcessor?
        var decoder: TokenDecoder?
        var addedTokens: [AddedToken]
        var bosTokenID: Int32?
        var eosTokenID: Int32?
        var padTokenID: Int32?
    }

    init(parts: Parts) {
        model = parts.model
        normalizer = parts.normalizer
        preTokenizer = parts.preTokenizer
        postProcessor = parts.postProcessor
        decoder = parts.decoder
        let raw = parts.addedTokens.filter { !$0.normalized }
        let normalized = parts.addedTokens.filter(\.normalized)
        rawMatcher = AddedTokenMatcher(raw)
        normalizedMatcher = AddedTokenMatcher(
            normalized, patterns: normalized.map { parts.normalizer?($0.content) ?? $0.content })
        var ids = parts.model.vocabulary
        for token in parts.addedTokens { ids[string(token.content)] = token.id }
        tokenIDs = ids
        var byID = [String?](repeating: nil, count: Int((ids.values.max() ?? -1) + 1))
        for (token, id) in parts.model.vocabulary where id >= 0 { byID[Int(id)] = token }
        // tokenizers >= 0.23 answers a normalized added token's id with its normalized form
        // (huggingface/tokenizers#1995), so decoding follows the normalizer too.
        for token in parts.addedTokens where token.id >= 0 {
            let content = token.normalized ? parts.normalizer?(token.content) ?? token.content : token.content
            byID[Int(token.id)] = string(content)
        }
        tokensByID = byID
        specialIDs = Set(parts.addedTokens.filter(\.special).map(\.id))
        bosTokenID = parts.bosTokenID
        eosTokenID = parts.eosTokenID
        padTokenID = parts.padTokenID
    }

    /// The number of ids: one more than the largest id of the vocabulary and the added tokens.
    public var vocabularySize: Int { tokensByID.count }

    /// The id of a token string (vocabulary or added token), as stored (byte-level tokens are
    /// written in the byte-level alphabet, e.g. `Ġthe`).
    public func id(forToken token: String) -> Int32? { tokenIDs[token] }

    /// The token string of an id, or nil when the id is out of range.
    public func token(forID id: Int32) -> String? {
        id >= 0 && Int(id) < tokensByID.count ? tokensByID[Int(id)] : nil
    }

    /// Whether `id` is a special token (an added token marked special, or a GGUF control token).
    public func isSpecial(_ id: Int32) -> Bool { specialIDs.contains(id) }

    /// The ids of `text`. Added and special tokens written in the text (`<|im_start|>`) are
    /// matched as single tokens, as Hugging Face does by default.
    /// - Parameter addSpecialTokens: add the post-processor's tokens (e.g. BOS) around the ids.
    /// Complexity: O(n) in the text length for cached words.
    public func encode(_ text: String, addSpecialTokens: Bool = false) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        ids.reserveCapacity(scalars.count / 3)
        for segment in rawMatcher.split(scalars[...]) {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let range): encodeText(scalars[range], atStart: range.lowerBound == 0, into: &ids)
            }
        }
        if addSpecialTokens, let postProcessor { return postProcessor(ids) }
        return ids
    }

    /// Normalizes, cuts out normalized added tokens, pre-tokenizes and BPE-encodes a plain-text piece.
    private func encodeText(_ raw: ArraySlice<Unicode.Scalar>, atStart: Bool, into ids: inout [Int32]) {
        let text = normalizer.map { ArraySlice($0(Array(raw))) } ?? raw
        let segments = normalizedMatcher.split(text)
        for segment in segments {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let range):
                let piece = Piece(scalars: text[range], atStart: atStart && range.lowerBound == text.startIndex)
                let words = preTokenizer?([piece]) ?? [piece]
                for word in words { model.encode(word.scalars, byteLevel: word.needsByteLevel, into: &ids) }
            }
        }
    }

    /// The text of `ids`, through the decoder; unknown ids are skipped.
    /// - Parameter skipSpecialTokens: leave out special tokens (BOS, `<|im_end|>`, ...).
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        let tokens = ids.compactMap { id -> String? in
            if skipSpecialTokens && specialIDs.contains(id) { return nil }
            return token(forID: id)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder(tokens).joined()
    }
}

extension Tokenizer {
    /// A tokenizer from the contents of a Hugging Face `tokenizer.json`.
    /// - Parameter configJSON: optional `tokenizer_config.json` naming `bos_token`, `eos_token`, `pad_token`.
    /// - Throws: `TokenizerError` when the JSON is malformed or uses an unsupported stage.
    public convenience init(tokenizerJSON: Data, configJSON: Data? = nil) throws {
        self.init(parts: try Self.parts(tokenizerJSON: tokenizerJSON, configJSON: configJSON))
    }

    /// The pipeline a `tokenizer.json` describes.
    static func parts(tokenizerJSON: Data, configJSON: Data?) throws -> Parts {
        let json: TokenizerJSON
        do {
            json = try JSONDecoder().decode(TokenizerJSON.self, from: tokenizerJSON)
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError.malformed("tokenizer.json does not decode: \(error)")
        }
        try Self.checkIDs(
            json.model.vocab.values, json.addedTokens.map(\.id),
            entries: json.model.vocab.count + json.addedTokens.count)
        let model = try BPE(
            vocabulary: json.model.vocab, merges: json.model.merges, unknownToken: json.model.unknownToken,
            byteFallback: json.model.byteFallback, fuseUnknown: json.model.fuseUnknown,
            ignoreMerges: json.model.ignoreMerges)
        let config = try configJSON.map(SpecialTokenNames.init) ?? SpecialTokenNames()
        var ids = json.model.vocab
        for token in json.addedTokens { ids[token.content] = token.id }
        return Parts(
            model: model,
            normalizer: try json.normalizer.map(Normalizer.init),
            preTokenizer: try json.preTokenizer.map(PreTokenizer.init),
            postProcessor: try json.postProcessor.map(PostProcessor.init),
            decoder: try json.decoder.map(TokenDecoder.init),
            addedTokens: json.addedTokens.map(AddedToken.init),
            bosTokenID: config.bos.flatMap { ids[$0] },
            eosTokenID: config.eos.flatMap { ids[$0] },
            padTokenID: config.pad.flatMap { ids[$0] })
    }

    /// Ids are non-negative, and at most `2 × entries + 1024` (an id table is allocated up to
    /// the largest: a stranger's `2147483647` must not allocate 32 GB).
    static func checkIDs<S: Sequence>(_ vocabulary: S, _ added: [Int32], entries: Int) throws where S.Element == Int32 {
        let limit = 2 * entries + 1024
        for id in vocabulary where id < 0 || Int(id) > limit {
            throw TokenizerError.malformed(
                id < 0
                    ? "the vocabulary has a negative id \(id)"
                    : "the vocabulary has id \(id), far beyond its \(entries) entries (at most \(limit))")
        }
        for id in added where id < 0 || Int(id) > limit {
            throw TokenizerError.malformed(
                id < 0
                    ? "an added token has a negative id \(id)"
                    : "an added token has id \(id), far beyond the \(entries) entries (at most \(limit))")
        }
    }

    /// A tokenizer from a `tokenizer.json` file, or from a folder holding one (and optionally a
    /// `tokenizer_config.json`, which names the BOS, EOS and padding tokens).
    /// - Throws: `TokenizerError.malformed` when no file can be read, or as `init(tokenizerJSON:)`
    ///   (a malformed file is named in the message).
    public convenience init(contentsOf url: URL) throws {
        var isFolder: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder)
        guard exists else { throw TokenizerError.malformed("no file or folder at \(url.path)") }
        let file = isFolder.boolValue ? url.appendingPathComponent("tokenizer.json") : url
        let configURL = file.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw TokenizerError.malformed("cannot read \(file.path): \(error.localizedDescription)")
        }
        let parts: Parts
        do {
            parts = try Self.parts(tokenizerJSON: data, configJSON: try? Data(contentsOf: configURL))
        } catch TokenizerError.malformed(let detail) {
            // Name the file: the detail alone does not say which of a model's files is wrong.
            throw TokenizerError.malformed("\(file.path): \(detail)")
        }
        self.init(parts: parts)
    }
}

/// `bos_token`, `eos_token`, `pad_token` of a `tokenizer_config.json` (a string or `{"content": ...}`).
private struct SpecialTokenNames {
    var bos: String?
    var eos: String?
    var pad: String?

    init() {}

    init(_ data: Data) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError.malformed("tokenizer_config.json is not a JSON object")
        }
        func name(_ key: String) -> String? {
            if let text = object[key] as? String { return text }
            return (object[key] as? [String: Any])?["content"] as? String
        }
        bos = name("bos_token")
        eos = name("eos_token")
        pad = name("pad_token")
    }
}
