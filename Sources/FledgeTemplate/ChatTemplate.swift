import Foundation

/// A model's chat template: turns messages into the prompt text the model was trained on, exactly
/// as `tokenizer.apply_chat_template(messages, tokenize=False, ...)` does in transformers 5.x.
public struct ChatTemplate: Sendable {
    /// The template text.
    public let source: String
    private let template: Template

    /// - Throws: `TemplateError.syntax` if `source` does not parse.
    public init(source: String) throws {
        self.source = source
        template = try Template(source)
    }

    /// Reads a model directory's template: `chat_template.jinja` if present, else the
    /// `"chat_template"` of `tokenizer_config.json` (a string, or a list of `{name, template}`
    /// from which `"default"` is taken).
    /// - Throws: `TemplateError.missingTemplate` when neither file provides one,
    ///   `TemplateError.syntax` when the template does not parse.
    public static func load(modelDirectory: URL) throws -> ChatTemplate {
        let jinjaFile = modelDirectory.appendingPathComponent("chat_template.jinja")
        if FileManager.default.fileExists(atPath: jinjaFile.path) {
            let data = try readFile(jinjaFile)
            return try parse(String(decoding: data, as: UTF8.self), file: jinjaFile)
        }
        let configFile = modelDirectory.appendingPathComponent("tokenizer_config.json")
        guard FileManager.default.fileExists(atPath: configFile.path) else {
            throw TemplateError.missingTemplate(
                "neither chat_template.jinja nor tokenizer_config.json in \(modelDirectory.path)")
        }
        let config: TemplateValue
        do {
            config = try TemplateValue(json: String(decoding: try readFile(configFile), as: UTF8.self))
        } catch TemplateError.runtime(let message, let location) {
            throw TemplateError.runtime("\(configFile.path): \(message)", location)
        }
        guard case .object(let object) = config, let entry = object["chat_template"] else {
            throw TemplateError.missingTemplate(
                "tokenizer_config.json in \(modelDirectory.path) has no \"chat_template\"")
        }
        switch entry {
        case .string(let source):
            return try parse(source, file: configFile)
        case .array(let named):
            for case .object(let item) in named where item["name"] == .string("default") {
                if case .string(let source)? = item["template"] { return try parse(source, file: configFile) }
            }
            throw TemplateError.missingTemplate(
                "tokenizer_config.json lists named chat templates but none called \"default\"")
        default:
            throw TemplateError.missingTemplate(
                "\"chat_template\" in tokenizer_config.json is neither a string nor a list")
        }
    }

    /// Parses `source`, naming `file` in a syntax error.
    private static func parse(_ source: String, file: URL) throws -> ChatTemplate {
        do {
            return try ChatTemplate(source: source)
        } catch TemplateError.syntax(let message, let location) {
            throw TemplateError.syntax("\(file.path): \(message)", location)
        }
    }

    private static func readFile(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TemplateError.missingTemplate("cannot read \(url.path): \(error.localizedDescription)")
        }
    }

    /// Renders a plain role/content conversation.
    /// - Parameters:
    ///   - addGenerationPrompt: append the header that starts the assistant's reply.
    ///   - bosToken, eosToken: the tokenizer's special tokens, visible as `bos_token` / `eos_token`.
    ///   - extra: further template variables (`tools`, `enable_thinking`, `date_string`, …).
    /// - Throws: `TemplateError.raised` with the template's own message when it rejects the
    ///   conversation (for example Mistral's "roles must alternate"), `TemplateError.runtime` otherwise.
    public func render(
        messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String = "", eosToken: String = "",
        extra: [String: TemplateValue] = [:], now: Date = Date()
    ) throws -> String {
        let values = messages.map { TemplateValue.object(["role": .string($0.role), "content": .string($0.content)]) }
        return try render(
            messages: values, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken,
            extra: extra, now: now)
    }

    /// Renders messages given as template values, for messages with more than role and content
    /// (`tool_calls`, `reasoning_content`, structured `content`).
    ///
    /// Like transformers' `render_jinja_template`, a message carrying reasoning under
    /// `reasoning_content`, `thinking` or `reasoning` gets it under both `thinking` and
    /// `reasoning_content` (Python's `{"thinking": r, **message, "reasoning_content": r}`), and
    /// `tools` and `documents` default to none.
    public func render(
        messages: [TemplateValue], addGenerationPrompt: Bool, bosToken: String = "", eosToken: String = "",
        extra: [String: TemplateValue] = [:], now: Date = Date()
    ) throws -> String {
        var context: [String: TemplateValue] = [
            "messages": .array(messages.map(ChatTemplate.aliasReasoning)),
            "tools": .none,
            "documents": .none,
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
        ]
        for (key, value) in extra { context[key] = value }
        return try template.render(context, now: now)
    }

    /// transformers' `_alias_reasoning_fields` (chat_template_utils.py, 5.23.0).
    static func aliasReasoning(_ message: TemplateValue) -> TemplateValue {
        guard case .object(let object) = message else { return message }
        let fields = ["reasoning_content", "thinking", "reasoning"]
        guard
            let reasoning = fields.lazy.compactMap({ field -> TemplateValue? in
                guard let value = object[field], value != .none else { return nil }
                return value
            }).first
        else { return message }
        var aliased = TemplateObject()
        aliased["thinking"] = reasoning
        for (key, value) in object { aliased[key] = value }
        aliased["reasoning_content"] = reasoning
        return .object(aliased)
    }
}
