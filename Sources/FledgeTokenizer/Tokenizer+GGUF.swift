// Building a tokenizer from GGUF metadata so that it encodes as Hugging Face `tokenizers` does
// on the model's own tokenizer.json, which is what llama.cpp reproduces:
// - `gpt2` vocabularies are byte-level BPE with the file's merges; `tokenizer.ggml.pre` picks the
//   split regexes as `llm_tokenizer_bpe` in ggml-org/llama.cpp `src/llama-vocab.cpp` does.
// - `llama` vocabularies are SentencePiece BPE (`llm_tokenizer_spm`): a space is prepended to each
//   text piece and spaces become `▁`; the pair whose concatenation has the highest score merges
//   first (leftmost among equal scores); unknown scalars fall back to `<0xXX>` tokens.
// Control (and unknown) tokens are special; user-defined tokens are added tokens that are not.

extension Tokenizer {
    /// A tokenizer from the vocabulary embedded in a GGUF file.
    /// - Throws: `TokenizerError.unsupported` for another `tokenizer.ggml.model` or an unknown
    ///   `tokenizer.ggml.pre`; `TokenizerError.invalidVocabulary` for inconsistent arrays.
    public convenience init(vocabulary: GGUFVocabulary) throws {
        let types = vocabulary.tokenTypes ?? []
        guard vocabulary.tokens.count <= Int(Int32.max) else {
            throw TokenizerError.invalidVocabulary("\(vocabulary.tokens.count) tokens")
        }
        let named: [(String, Int32?)] = [
            ("bos", vocabulary.bosTokenID), ("eos", vocabulary.eosTokenID), ("unknown", vocabulary.unknownTokenID),
            ("padding", vocabulary.paddingTokenID),
        ]
        for case (let role, let id?) in named where id < 0 || Int(id) >= vocabulary.tokens.count {
            throw TokenizerError.invalidVocabulary(
                "the \(role) token id \(id) is outside the \(vocabulary.tokens.count)-token vocabulary")
        }
        guard types.isEmpty || types.count == vocabulary.tokens.count else {
            throw TokenizerError.invalidVocabulary(
                "\(types.count) token types for \(vocabulary.tokens.count) tokens")
        }
        for (name, id) in [
            ("bos_token_id", vocabulary.bosTokenID), ("eos_token_id", vocabulary.eosTokenID),
            ("unknown_token_id", vocabulary.unknownTokenID), ("padding_token_id", vocabulary.paddingTokenID),
        ] {
            if let id, id < 0 || Int(id) >= vocabulary.tokens.count {
                throw TokenizerError.invalidVocabulary(
                    "tokenizer.ggml.\(name) \(id) is outside the \(vocabulary.tokens.count) tokens")
            }
        }
        func type(_ id: Int) -> GGUFVocabulary.TokenType {
            id < types.count ? GGUFVocabulary.TokenType(rawValue: types[id]) ?? .normal : .normal
        }
        let byteLevel: Bool
        switch vocabulary.model {
        case "gpt2": byteLevel = true
        case "llama": byteLevel = false
        default: throw TokenizerError.unsupported(stage: "GGUF tokenizer.ggml.model", type: vocabulary.model)
        }
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(vocabulary.tokens.count)
        var added: [AddedToken] = []
        for (id, token) in vocabulary.tokens.enumerated() {
            let kind = type(id)
            let spelled = byteLevel ? Self.byteLevelSpelling(token) : token
            ids[spelled] = Int32(id)
            if kind == .control || kind == .userDefined || (!byteLevel && kind == .unknown) {
                added.append(AddedToken(AddedTokenJSON(id: Int32(id), content: token, special: kind != .userDefined)))
            }
        }
        let model: BPE
        let parts: Parts
        var suffix: [Int32] = []
        var prefix: [Int32] = []
        if vocabulary.addBOS, let bos = vocabulary.bosTokenID { prefix = [bos] }
        if vocabulary.addEOS, let eos = vocabulary.eosTokenID { suffix = [eos] }
        if byteLevel {
            guard let merges = vocabulary.merges else {
                throw TokenizerError.invalidVocabulary("a gpt2 vocabulary without tokenizer.ggml.merges")
            }
            let (preTokenizer, ignoreMerges) = try Self.preTokenizer(forGGUFPre: vocabulary.pre)
            model = try BPE(
                vocabulary: ids, merges: try merges.map(ModelJSON.splitMerge), unknownToken: nil,
                byteFallback: false, fuseUnknown: false, ignoreMerges: ignoreMerges)
            parts = Parts(
                model: model, normalizer: nil, preTokenizer: preTokenizer,
                postProcessor: .wrap(prefix: prefix, suffix: suffix), decoder: .byteLevel, addedTokens: added,
                bosTokenID: vocabulary.bosTokenID, eosTokenID: vocabulary.eosTokenID,
                padTokenID: vocabulary.paddingTokenID)
        } else {
            guard let scores = vocabulary.scores, scores.count == vocabulary.tokens.count else {
                throw TokenizerError.invalidVocabulary("a llama vocabulary needs one score per token")
            }
            let unknownID =
                vocabulary.unknownTokenID
                ?? (0..<vocabulary.tokens.count).first { type($0) == .unknown }.map(Int32.init)
            model = try BPE(
                vocabulary: ids,
                mergeTable: Self.sentencePieceMerges(tokens: vocabulary.tokens, scores: scores, ids: ids),
                unknownToken: unknownID.map { vocabulary.tokens[Int($0)] }, byteFallback: true, fuseUnknown: true,
                ignoreMerges: false)
            let space: [Unicode.Scalar] = ["\u{2581}"]
            var normalizer: [Normalizer] = [.replaceLiteral([" "], with: space)]
            var decoder: [TokenDecoder] = [.replaceLiteral(space, with: [" "]), .byteFallback, .fuse]
            if vocabulary.addSpacePrefix {
                normalizer.insert(.prepend(space), at: 0)
                decoder.append(.strip(content: " ", start: 1, stop: 0))
            }
            parts = Parts(
                model: model, normalizer: .sequence(normalizer), preTokenizer: nil,
                postProcessor: .wrap(prefix: prefix, suffix: suffix), decoder: .sequence(decoder), addedTokens: added,
                bosTokenID: vocabulary.bosTokenID, eosTokenID: vocabulary.eosTokenID,
                padTokenID: vocabulary.paddingTokenID)
        }
        self.init(parts: parts)
    }

    /// A token as a byte-level vocabulary spells it: unchanged when it is written in the
    /// byte-level alphabet, else its UTF-8 bytes in that alphabet (as transformers' GGUF loader).
    static func byteLevelSpelling(_ token: String) -> String {
        if token.unicodeScalars.allSatisfy({ ByteLevel.byte(for: $0) != nil }) { return token }
        return string(ByteLevel.encode(token.unicodeScalars))
    }

    /// The pre-tokenizer equivalent to llama.cpp's regexes for a `tokenizer.ggml.pre` value, and
    /// whether merges are ignored for words already in the vocabulary (Llama-3).
    static func preTokenizer(forGGUFPre pre: String?) throws -> (PreTokenizer, Bool) {
        let byteLevel = PreTokenizer.byteLevel(addPrefixSpace: false, useRegex: false)
        switch pre ?? "default" {
        case "default", "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "jina-v2-code",
            "mpt", "olmo", "jais", "trillion", "granite-docling":
            return (.byteLevel(addPrefixSpace: false, useRegex: true), false)
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            return (.sequence([.digits(individual: true), .byteLevel(addPrefixSpace: false, useRegex: true)]), false)
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "dbrx",
            "smaug-bpe", "chatglm-bpe":
            return (.sequence([.split(.llama3(maxDigits: 3), .isolated, invert: false), byteLevel]), true)
        case "qwen2", "deepseek-r1-qwen", "stablelm2", "hunyuan", "megrez", "kormo", "f2llmv2", "grok-2":
            return (.sequence([.split(.llama3(maxDigits: 1), .isolated, invert: false), byteLevel]), false)
        case let other:
            throw TokenizerError.unsupported(stage: "GGUF tokenizer.ggml.pre", type: other)
        }
    }

    /// SentencePiece merges: every split of a token into two tokens, ranked by the token's score
    /// (higher first; equal scores share a rank, so the leftmost pair wins as in llama.cpp).
    /// Tokens longer than `maxMergedLength` scalars are not split (that is quadratic in their
    /// length; real vocabularies have none): encoding never produces them, decoding still does.
    static let maxMergedLength = 256

    static func sentencePieceMerges(tokens: [String], scores: [Float], ids: [String: Int32]) -> [UInt64: UInt64] {
        var candidates: [(key: UInt64, score: Float, merged: Int32)] = []
        for (id, token) in tokens.enumerated() {
            let scalars = Array(token.unicodeScalars)
            guard scalars.count >= 2, scalars.count <= maxMergedLength, ids[token] == Int32(id) else { continue }
            for cut in 1..<scalars.count {
                guard let left = ids[string(scalars[..<cut])], let right = ids[string(scalars[cut...])] else {
                    continue
                }
                candidates.append((BPE.pairKey(left, right), scores[id], Int32(id)))
            }
        }
        let ranks = Dictionary(
            Set(candidates.map(\.score)).sorted(by: >).enumerated().map { ($1, UInt64($0)) },
            uniquingKeysWith: { first, _ in first })
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(candidates.count)
        for candidate in candidates {
            table[candidate.key] = ranks[candidate.score]! << 32 | UInt64(UInt32(bitPattern: candidate.merged))
        }
        return table
    }
}
