import Foundation
import Testing

@testable import FledgeTemplate

/// Every real chat template rendered like transformers' `apply_chat_template`, compared byte for
/// byte with Python Jinja2 (fixtures from `Scripts/reference/make_template_fixtures.py`).
@Suite struct ChatTemplateFixtureTests {
    static let templateNames = [
        "smollm2-135m-instruct", "llama-3.1-8b-instruct", "llama-3.2-3b-instruct", "qwen2.5-instruct", "qwen3",
        "mistral-7b-instruct-v0.1", "mistral-7b-instruct-v0.3", "minicpm-2b-sft",
    ]

    @Test(arguments: templateNames)
    func rendersLikePythonJinja(templateName: String) throws {
        let template = try ChatTemplate(source: try TemplateFixtures.template(named: templateName))
        let cases = try TemplateFixtures.cases("chat_cases.json").filter { $0.string("template") == templateName }
        #expect(cases.count >= 12, "too few fixture cases for \(templateName)")
        for fixture in cases {
            let name = fixture.string("name") ?? "?"
            let outcome = Result { try render(fixture, with: template) }
            if let expected = fixture.string("expected") {
                switch outcome {
                case .success(let actual):
                    let difference = TemplateFixtures.firstDifference(actual, expected)
                    #expect(difference == nil, "\(name): \(difference ?? "")")
                case .failure(let error):
                    Issue.record("\(name): expected output, got error \(error)")
                }
            } else if case .object(let error)? = fixture["error"] {
                switch outcome {
                case .success(let actual):
                    Issue.record("\(name): expected an error, rendered \(actual.debugDescription)")
                case .failure(let thrown):
                    if error.string("kind") == "raise_exception" {
                        #expect(thrown as? TemplateError == .raised(error.string("message") ?? ""), "\(name)")
                    }
                }
            } else {
                Issue.record("\(name): fixture has neither expected nor error")
            }
        }
    }

    /// Plain role/content conversations go through the `ChatMessage` API, others through values.
    private func render(_ fixture: TemplateObject, with template: ChatTemplate) throws -> String {
        guard case .array(let messages)? = fixture["messages"], case .object(let extraObject)? = fixture["extra"] else {
            throw FixtureFailure("malformed case \(fixture.string("name") ?? "?")")
        }
        let extra = Dictionary(uniqueKeysWithValues: extraObject.map { ($0.key, $0.value) })
        let addGenerationPrompt = fixture["add_generation_prompt"] == .bool(true)
        let bos = fixture.string("bos_token") ?? ""
        let eos = fixture.string("eos_token") ?? ""
        let plain: [ChatMessage]? =
            messages.allSatisfy { message in
                guard case .object(let object) = message else { return false }
                return object.keys == ["role", "content"] && object.string("content") != nil
            }
            ? messages.compactMap { message in
                guard case .object(let object) = message else { return nil }
                return ChatMessage(role: object.string("role") ?? "", content: object.string("content") ?? "")
            } : nil
        if let plain {
            return try template.render(
                messages: plain, addGenerationPrompt: addGenerationPrompt, bosToken: bos, eosToken: eos, extra: extra,
                now: TemplateFixtures.fixedNow)
        }
        return try template.render(
            messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bos, eosToken: eos, extra: extra,
            now: TemplateFixtures.fixedNow)
    }

    @Test func everyFixtureTemplateIsCovered() throws {
        let names = Set(try TemplateFixtures.cases("chat_cases.json").compactMap { $0.string("template") })
        #expect(names == Set(Self.templateNames))
    }

    @Test func smolLM2AddsItsDefaultSystemPrompt() throws {
        let template = try ChatTemplate(source: try TemplateFixtures.template(named: "smollm2-135m-instruct"))
        let text = try template.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        #expect(
            text
                == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, "
                + "trained by Hugging Face<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func mistralRejectsNonAlternatingRolesWithTheTemplatesMessage() throws {
        let template = try ChatTemplate(source: try TemplateFixtures.template(named: "mistral-7b-instruct-v0.1"))
        let messages = [ChatMessage(role: "user", content: "a"), ChatMessage(role: "user", content: "b")]
        #expect(
            throws: TemplateError.raised(
                "After the optional system message, conversation roles must alternate user/assistant/user/assistant/..."
            )
        ) {
            try template.render(messages: messages, addGenerationPrompt: true)
        }
    }

    @Test func sharedTemplateRendersConcurrently() throws {
        let template = try ChatTemplate(source: try TemplateFixtures.template(named: "qwen3"))
        let expected = try template.render(
            messages: [ChatMessage(role: "user", content: "0")], addGenerationPrompt: true)
        var results = [String](repeating: "", count: 64)
        results.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: 64) { index in
                let text = try? template.render(
                    messages: [ChatMessage(role: "user", content: "\(index % 2 == 0 ? 0 : index)")],
                    addGenerationPrompt: true)
                (base + index).pointee = text ?? "failed"
            }
        }
        for (index, text) in results.enumerated() {
            #expect(
                text
                    == (index % 2 == 0
                        ? expected : expected.replacingOccurrences(of: "user\n0", with: "user\n\(index)")))
        }
    }
}
