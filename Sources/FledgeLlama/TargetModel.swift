import Foundation
import FledgeTemplate
import FledgeTokenizer
import FledgeWeights

/// A target model with its tokenizer and chat template.
public final class TargetModel: @unchecked Sendable {
    public let model: LlamaModel
    public let format: ChatFormat

    public init(model: LlamaModel, format: ChatFormat) {
        self.model = model
        self.format = format
    }

    /// Loads the model, tokenizer and chat template at `url` (a folder or a .gguf file).
    public static func load(from url: URL, storage: LlamaModel.WeightStorage = .float32) throws -> TargetModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw LlamaError(
                "\(url.path): no such file or folder", hint: "pass a Hugging Face model folder or a .gguf file")
        }
        if !isDirectory.boolValue {
            let file = try GGUFFile(url: url)
            return TargetModel(
                model: try LlamaModel.loadGGUF(file, storage: storage), format: try ChatFormat.load(gguf: file))
        }
        return TargetModel(
            model: try LlamaModel.loadHuggingFace(directory: url, storage: storage),
            format: try ChatFormat.load(from: url))
    }

    public var tokenizer: Tokenizer { format.tokenizer }

    /// Renders `messages` with the chat template.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        try format.render(messages, addGenerationPrompt: addGenerationPrompt)
    }

    /// Token ids of the rendered chat.
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> [Int32] {
        try format.encodeChat(messages, addGenerationPrompt: addGenerationPrompt)
    }

    /// Tokens that end an answer: the configured end-of-sequence ids and the tokenizer's EOS.
    public var stopTokens: Set<Int32> {
        var stops = Set(model.configuration.eosTokenIDs.map { Int32($0) })
        if let eos = tokenizer.eosTokenID { stops.insert(eos) }
        if let id = tokenizer.id(forToken: format.eosToken) { stops.insert(id) }
        return stops
    }
}
