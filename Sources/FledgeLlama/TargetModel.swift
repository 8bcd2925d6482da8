import Foundation
import FledgeTemplate
import FledgeTokenizer
import FledgeWeights

/// A target model with its tokenizer and chat template, loaded from a Hugging Face folder
/// (`config.json`, safetensors, `tokenizer.json`, `tokenizer_config.json` or
/// `chat_template.jinja`) or from one `.gguf` file (tokenizer and template in its metadata).
public final class TargetModel: @unchecked Sendable {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    public let chatTemplate: ChatTemplate?
    /// The strings the chat template sees as `bos_token` / `eos_token`.
    public let bosToken: String
    public let eosToken: String
    /// Where the model came from (a folder or a .gguf file).
    public let url: URL

    init(model: LlamaModel, tokenizer: Tokenizer, chatTemplate: ChatTemplate?, bosToken: String, eosToken: String, url: URL) {
        self.model = model
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.url = url
    }

    /// Loads everything at `url`.
    /// - Throws: an error naming the file that is missing or malformed.
    public static func load(from url: URL) throws -> TargetModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw LlamaError("\(url.path): no such file or folder", hint: "pass a Hugging Face model folder or a .gguf file")
        }
        if !isDirectory.boolValue {
            let file = try GGUFFile(url: url)
            let vocabulary = try Self.vocabulary(gguf: file)
            let tokenizer = try Tokenizer(vocabulary: vocabulary)
            let template = try file.metadata["tokenizer.chat_template"]?.string.map { try ChatTemplate(source: $0) }
            let token = { (id: Int32?) in id.flatMap { Int($0) < vocabulary.tokens.count ? vocabulary.tokens[Int($0)] : nil } ?? "" }
            return TargetModel(model: try LlamaModel.loadGGUF(file), tokenizer: tokenizer, chatTemplate: template,
                               bosToken: token(vocabulary.bosTokenID), eosToken: token(vocabulary.eosTokenID), url: url)
        }
        let model = try LlamaModel.loadHuggingFace(directory: url)
        let tokenizer = try Tokenizer(contentsOf: url)
        let template = try? ChatTemplate.load(modelDirectory: url)
        let config = (try? Data(contentsOf: url.appendingPathComponent("tokenizer_config.json")))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        func special(_ key: String) -> String {
            if let text = config[key] as? String { return text }
            if let object = config[key] as? [String: Any], let text = object["content"] as? String { return text }
            return ""
        }
        return TargetModel(model: model, tokenizer: tokenizer, chatTemplate: template, bosToken: special("bos_token"),
                           eosToken: special("eos_token"), url: url)
    }

    /// The tokenizer description stored in GGUF metadata (`tokenizer.ggml.*`).
    public static func vocabulary(gguf file: GGUFFile) throws -> GGUFVocabulary {
        let m = file.metadata
        guard let model = m["tokenizer.ggml.model"]?.string, let tokens = m["tokenizer.ggml.tokens"]?.array?.compactMap(\.string) else {
            throw LlamaError("\(file.url.path): no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens) in the metadata")
        }
        let id = { (key: String) in m[key]?.int.map { Int32($0) } }
        return GGUFVocabulary(
            model: model, pre: m["tokenizer.ggml.pre"]?.string, tokens: tokens,
            tokenTypes: m["tokenizer.ggml.token_type"]?.array?.compactMap { $0.int.map { Int32($0) } },
            merges: m["tokenizer.ggml.merges"]?.array?.compactMap(\.string),
            scores: m["tokenizer.ggml.scores"]?.array?.compactMap { $0.double.map { Float($0) } },
            bosTokenID: id("tokenizer.ggml.bos_token_id"), eosTokenID: id("tokenizer.ggml.eos_token_id"),
            unknownTokenID: id("tokenizer.ggml.unknown_token_id"), paddingTokenID: id("tokenizer.ggml.padding_token_id"),
            addBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? false, addEOS: m["tokenizer.ggml.add_eos_token"]?.bool ?? false)
    }

    /// Renders `messages` with the chat template.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        guard let chatTemplate else {
            throw LlamaError("\(url.path): the model has no chat template", hint: "use a chat/instruct model, or plain text")
        }
        return try chatTemplate.render(messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken)
    }

    /// Token ids of the rendered chat (special tokens in the text become their ids).
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> [Int32] {
        tokenizer.encode(try render(messages, addGenerationPrompt: addGenerationPrompt), addSpecialTokens: false)
    }

    /// Tokens that end an answer: the configured end-of-sequence ids and the tokenizer's EOS.
    public var stopTokens: Set<Int32> {
        var stops = Set(model.configuration.eosTokenIDs.map { Int32($0) })
        if let eos = tokenizer.eosTokenID { stops.insert(eos) }
        if let id = tokenizer.id(forToken: eosToken) { stops.insert(id) }
        return stops
    }
}
