import Foundation

/// The one error type of FledgeTokenizer: a malformed or unsupported tokenizer description.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The file cannot be read or parsed as JSON of the expected shape.
    case malformed(String)
    /// A `"type"` (normalizer, pre-tokenizer, model, decoder, post-processor) this module does not implement.
    case unsupported(stage: String, type: String)
    /// A GGUF vocabulary that is inconsistent or of an unknown kind.
    case invalidVocabulary(String)
    /// A regular expression that ICU rejects.
    case invalidPattern(String)

    public var description: String {
        switch self {
        case .malformed(let detail):
            return "malformed tokenizer: \(detail). Hint: pass a Hugging Face tokenizer.json (or a folder holding one)."
        case .unsupported(let stage, let type):
            return "unsupported \(stage) type \"\(type)\". Hint: FledgeTokenizer implements the byte-level BPE "
                + "(GPT-2, Llama-3, Qwen2, SmolLM) and SentencePiece-style BPE (Llama-2, Mistral) pipelines; "
                + "add the stage in Sources/FledgeTokenizer or convert the tokenizer."
        case .invalidVocabulary(let detail):
            return "invalid GGUF vocabulary: \(detail). Hint: check the tokenizer.ggml.* metadata of the GGUF file."
        case .invalidPattern(let pattern):
            return
                "invalid regular expression \(pattern). Hint: the pattern must be valid for ICU (NSRegularExpression)."
        }
    }
}
