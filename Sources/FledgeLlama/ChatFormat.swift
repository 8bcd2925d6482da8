import Foundation
import FledgeTemplate
import FledgeTokenizer
import FledgeWeights

/// A model's tokenizer and chat template, loaded without its weights: from a Hugging Face
/// folder (`tokenizer.json`, `tokenizer_config.json` or `chat_template.jinja`) or from the
/// metadata of a `.gguf` file.
public struct ChatFormat: @unchecked Sendable {
    public let tokenizer: Tokenizer
    public let template: ChatTemplate?
    /// The strings the chat template sees as `bos_token` / `eos_token`.
    public let bosToken: String
    public let eosToken: String
    /// Where it came from.
    public let url: URL

    public init(tokenizer: Tokenizer, template: ChatTemplate?, bosToken: String, eosToken: String, url: URL) {
        self.tokenizer = tokenizer
        self.template = template
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.url = url
    }

    /// Loads the tokenizer and template at `url` (a folder or a .gguf file).
    public static func load(from url: URL) throws -> ChatFormat {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw LlamaError(
                "\(url.path): no such file or folder", hint: "pass a Hugging Face model folder or a .gguf file")
        }
        if !isDirectory.boolValue { return try load(gguf: try GGUFFile(url: url)) }
        let tokenizer = try Tokenizer(contentsOf: url)
        let template = try? ChatTemplate.load(modelDirectory: url)
        let config =
            (try? Data(contentsOf: url.appendingPathComponent("tokenizer_config.json")))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        func special(_ key: String) -> String {
            if let text = config[key] as? String { return text }
            if let object = config[key] as? [String: Any], let text = object["content"] as? String { return text }
            return ""
        }
        return ChatFormat(
            tokenizer: tokenizer, template: template, bosToken: special("bos_token"), eosToken: special("eos_token"),
            url: url)
    }

    /// The tokenizer and template in a GGUF file's metadata.
    public static func load(gguf file: GGUFFile) throws -> ChatFormat {
        let vocabulary = try vocabulary(gguf: file)
        let tokenizer: Tokenizer
        do {
            tokenizer = try Tokenizer(vocabulary: vocabulary)
        } catch let error as TokenizerError {
            throw LlamaError("\(file.url.path): \(error)")
        }
        let template: ChatTemplate?
        do {
            template = try file.metadata["tokenizer.chat_template"]?.string.map { try ChatTemplate(source: $0) }
        } catch {
            throw LlamaError("\(file.url.path): tokenizer.chat_template: \(error)")
        }
        let token = { (id: Int32?) in
            id.flatMap { Int($0) < vocabulary.tokens.count ? vocabulary.tokens[Int($0)] : nil } ?? ""
        }
        return ChatFormat(
            tokenizer: tokenizer, template: template,
            bosToken: token(vocabulary.bosTokenID), eosToken: token(vocabulary.eosTokenID), url: file.url)
    }

    /// The tokenizer description stored in GGUF metadata (`tokenizer.ggml.*`); arrays must hold
    /// values of the right type and token ids must lie within the vocabulary.
    public static func vocabulary(gguf file: GGUFFile) throws -> GGUFVocabulary {
        let m = file.metadata
        let path = file.url.path
        guard let model = m["tokenizer.ggml.model"]?.string, let tokenValues = m["tokenizer.ggml.tokens"]?.array else {
            throw LlamaError("\(path): no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens) in the metadata")
        }
        func array<T>(_ key: String, _ values: [GGUFValue]?, _ convert: (GGUFValue) -> T?) throws -> [T]? {
            guard let values else {
                if m[key] != nil { throw LlamaError("\(path): metadata \(key) is not an array") }
                return nil
            }
            var result: [T] = []
            result.reserveCapacity(values.count)
            for (index, value) in values.enumerated() {
                guard let item = convert(value) else {
                    throw LlamaError("\(path): metadata \(key)[\(index)] is \(value), of the wrong type")
                }
                result.append(item)
            }
            return result
        }
        let tokens = try array("tokenizer.ggml.tokens", tokenValues, \.string) ?? []
        guard !tokens.isEmpty, tokens.count <= Int(Int32.max) else {
            throw LlamaError("\(path): metadata tokenizer.ggml.tokens holds \(tokens.count) tokens")
        }
        func id(_ key: String) throws -> Int32? {
            guard let value = m[key] else { return nil }
            guard let id = value.int, id >= 0, id < tokens.count else {
                throw LlamaError(
                    "\(path): metadata \(key) is \(value), not a token id of the \(tokens.count)-token vocabulary")
            }
            return Int32(id)
        }
        return GGUFVocabulary(
            model: model, pre: m["tokenizer.ggml.pre"]?.string, tokens: tokens,
            tokenTypes: try array("tokenizer.ggml.token_type", m["tokenizer.ggml.token_type"]?.array) {
                $0.int.flatMap { Int32(exactly: $0) }
            },
            merges: try array("tokenizer.ggml.merges", m["tokenizer.ggml.merges"]?.array, \.string),
            scores: try array("tokenizer.ggml.scores", m["tokenizer.ggml.scores"]?.array) {
                $0.double.map { Float($0) }
            },
            bosTokenID: try id("tokenizer.ggml.bos_token_id"), eosTokenID: try id("tokenizer.ggml.eos_token_id"),
            unknownTokenID: try id("tokenizer.ggml.unknown_token_id"),
            paddingTokenID: try id("tokenizer.ggml.padding_token_id"),
            addBOS: m["tokenizer.ggml.add_bos_token"]?.bool ?? false,
            addEOS: m["tokenizer.ggml.add_eos_token"]?.bool ?? false)
    }

    /// The same tokenizer with another chat template (e.g. a `--chat-template` override).
    public func with(template: ChatTemplate?) -> ChatFormat {
        ChatFormat(tokenizer: tokenizer, template: template, bosToken: bosToken, eosToken: eosToken, url: url)
    }

    /// Renders `messages` with the chat template.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        guard let template else {
            throw LlamaError(
                "\(url.path): the model has no chat template", hint: "use a chat/instruct model, or plain text")
        }
        return try template.render(
            messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken)
    }

    /// Token ids of the rendered chat (special tokens in the text become their ids).
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> [Int32] {
        tokenizer.encode(try render(messages, addGenerationPrompt: addGenerationPrompt), addSpecialTokens: false)
    }
}
