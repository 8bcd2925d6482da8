/// The tokenizer metadata of a GGUF file (`tokenizer.ggml.*`), as plain values read by another
/// module; `Tokenizer(vocabulary:)` turns it into a tokenizer.
public struct GGUFVocabulary: Sendable {
    /// `tokenizer.ggml.model`: `"gpt2"` (byte-level BPE) or `"llama"` (SentencePiece BPE).
    public var model: String
    /// `tokenizer.ggml.pre`: the pre-tokenizer llama.cpp uses, e.g. `"smollm"`, `"llama-bpe"`, `"qwen2"`.
    public var pre: String?
    /// `tokenizer.ggml.tokens`, indexed by id.
    public var tokens: [String]
    /// `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte.
    public var tokenTypes: [Int32]?
    /// `tokenizer.ggml.merges` as `"left right"` lines (byte-level BPE).
    public var merges: [String]?
    /// `tokenizer.ggml.scores` (SentencePiece: higher merges first).
    public var scores: [Float]?
    /// `tokenizer.ggml.bos_token_id`.
    public var bosTokenID: Int32?
    /// `tokenizer.ggml.eos_token_id`.
    public var eosTokenID: Int32?
    /// `tokenizer.ggml.unknown_token_id`.
    public var unknownTokenID: Int32?
    /// `tokenizer.ggml.padding_token_id`.
    public var paddingTokenID: Int32?
    /// `tokenizer.ggml.add_bos_token`.
    public var addBOS: Bool
    /// `tokenizer.ggml.add_eos_token`.
    public var addEOS: Bool
    /// `tokenizer.ggml.add_space_prefix` (SentencePiece; llama.cpp's default is true).
    public var addSpacePrefix: Bool

    /// A vocabulary from its metadata values.
    public init(
        model: String, pre: String? = nil, tokens: [String], tokenTypes: [Int32]? = nil, merges: [String]? = nil,
        scores: [Float]? = nil, bosTokenID: Int32? = nil, eosTokenID: Int32? = nil, unknownTokenID: Int32? = nil,
        paddingTokenID: Int32? = nil, addBOS: Bool = false, addEOS: Bool = false, addSpacePrefix: Bool = true
    ) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.scores = scores
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.unknownTokenID = unknownTokenID
        self.paddingTokenID = paddingTokenID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
    }

    /// GGUF token types (`llama_token_type` in llama.cpp).
    enum TokenType: Int32 {
        case normal = 1, unknown, control, userDefined, unused, byte
    }
}
