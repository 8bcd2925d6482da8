import Foundation
import Testing

@testable import FledgeTemplate

/// `ChatTemplate.load(modelDirectory:)` reads `chat_template.jinja` or `tokenizer_config.json`.
@Suite struct ChatTemplateLoadingTests {
    private func directory(_ files: [String: String]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        for (name, text) in files {
            try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return url
    }

    private let user = [ChatMessage(role: "user", content: "hi")]

    @Test func prefersChatTemplateJinja() throws {
        let url = try directory([
            "chat_template.jinja": "J{{ messages[0].content }}",
            "tokenizer_config.json": #"{"chat_template": "C{{ messages[0].content }}"}"#,
        ])
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try ChatTemplate.load(modelDirectory: url).render(messages: user, addGenerationPrompt: false) == "Jhi")
    }

    @Test func readsTheStringFromTokenizerConfig() throws {
        let url = try directory([
            "tokenizer_config.json":
                #"{"bos_token": "<s>", "chat_template": "{{ bos_token }}C\n{{ messages[0].content }}"}"#
        ])
        defer { try? FileManager.default.removeItem(at: url) }
        let text = try ChatTemplate.load(modelDirectory: url).render(
            messages: user, addGenerationPrompt: false, bosToken: "<s>")
        #expect(text == "<s>C\nhi")
    }

    @Test func takesTheDefaultOfNamedTemplates() throws {
        let config =
            #"{"chat_template": [{"name": "tool_use", "template": "T"}, "#
            + #"{"name": "default", "template": "D{{ add_generation_prompt }}"}]}"#
        let url = try directory(["tokenizer_config.json": config])
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try ChatTemplate.load(modelDirectory: url).render(messages: user, addGenerationPrompt: true) == "DTrue")
    }

    @Test func missingTemplateThrows() throws {
        let url = try directory(["tokenizer_config.json": #"{"bos_token": "<s>"}"#])
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: TemplateError.self) { try ChatTemplate.load(modelDirectory: url) }
        let empty = try directory([:])
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(throws: TemplateError.self) { try ChatTemplate.load(modelDirectory: empty) }
    }

    @Test func reasoningFieldsAreAliasedLikeTransformers() throws {
        let template = try ChatTemplate(source: "{% for m in messages %}{{ m|tojson }}{% endfor %}")
        let message: TemplateValue = ["role": "assistant", "content": "x", "reasoning": "r"]
        let text = try template.render(messages: [message], addGenerationPrompt: false)
        #expect(
            text
                == #"{"thinking": "r", "role": "assistant", "content": "x", "#
                + #""reasoning": "r", "reasoning_content": "r"}"#
        )
    }
}
