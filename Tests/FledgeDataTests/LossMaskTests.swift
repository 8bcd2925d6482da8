import Foundation
import Testing
@testable import FledgeData
import FledgeLlama
import FledgeTemplate
import FledgeTokenizer
import FledgeWeights

/// Render-boundary loss masks against the independent Python reference
/// (Scripts/reference/make_loss_mask_fixtures.py).
@Suite(
    .enabled(
        if: DataTestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"))
struct LossMaskTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var template: String
            var conversation: Int
            var messages: [ChatMessage]
            var ids: [Int32]
            var mask: [UInt8]
        }
        var bos_token: String
        var eos_token: String
        var extra_special_tokens: [String]
        var cases: [Case]
    }

    static func format(extraSpecialTokens: [String]) throws -> ChatFormat {
        let file = try GGUFFile(url: DataTestAssets.smolLM2)
        var vocabulary = try ChatFormat.vocabulary(gguf: file)
        vocabulary.tokens += extraSpecialTokens
        vocabulary.tokenTypes = (vocabulary.tokenTypes ?? []) + Array(repeating: 3, count: extraSpecialTokens.count)
        return ChatFormat(
            tokenizer: try Tokenizer(vocabulary: vocabulary), template: nil, bosToken: "<|im_start|>",
            eosToken: "<|im_end|>", url: file.url)
    }

    @Test func masksEqualThePythonReference() throws {
        let fixture = try JSONDecoder().decode(
            Fixture.self, from: Data(contentsOf: DataTestAssets.fixtures.appendingPathComponent("loss_masks.json")))
        let base = try Self.format(extraSpecialTokens: fixture.extra_special_tokens)
        let templates = DataTestAssets.packageRoot.appendingPathComponent(
            "Tests/FledgeTemplateTests/Fixtures/templates")
        #expect(fixture.cases.count == 20)
        for item in fixture.cases {
            let source = try String(
                contentsOf: templates.appendingPathComponent("\(item.template).jinja"), encoding: .utf8)
            let tokenizer = ConversationTokenizer(
                format: base.with(template: try ChatTemplate(source: source)), maxLength: 100_000)
            let sample = try tokenizer.tokenize(id: "x", messages: item.messages).get()
            #expect(sample.ids == item.ids, "\(item.template) #\(item.conversation): ids")
            #expect(sample.lossMask == item.mask, "\(item.template) #\(item.conversation): mask")
        }
    }

    @Test func maskCoversAssistantTextAndEndOfTurnOnly() throws {
        let format = try Self.format(extraSpecialTokens: [])
        let file = try GGUFFile(url: DataTestAssets.smolLM2)
        let smol = format.with(
            template: try ChatTemplate(source: try #require(file.metadata["tokenizer.chat_template"]?.string)))
        let messages = [
            ChatMessage(role: "user", content: "Hi"), ChatMessage(role: "assistant", content: "Hello there"),
            ChatMessage(role: "user", content: "Bye"), ChatMessage(role: "assistant", content: "Goodbye"),
        ]
        let sample = try ConversationTokenizer(format: smol).tokenize(id: "a", messages: messages).get()
        let masked = sample.ids.indices.filter { sample.lossMask[$0] == 1 }.map { sample.ids[$0] }
        // Each reply, its <|im_end|> and the newline the template closes the turn with.
        #expect(smol.tokenizer.decode(masked) == "Hello there<|im_end|>\nGoodbye<|im_end|>\n")
        // Truncation keeps the prefix; dropping refuses; a conversation without replies is skipped.
        let short = ConversationTokenizer(format: smol, maxLength: sample.ids.count - 3).tokenize(
            id: "a", messages: messages)
        #expect(try short.get().truncated && (try short.get().ids == Array(sample.ids.prefix(sample.ids.count - 3))))
        #expect(
            ConversationTokenizer(format: smol, maxLength: 10, dropLong: true).tokenize(id: "a", messages: messages)
                == .failure(.tooLong))
        #expect(
            ConversationTokenizer(format: smol).tokenize(id: "a", messages: [messages[0]]) == .failure(.noAssistantTurn)
        )
        // A truncation that cuts every reply leaves nothing to learn.
        #expect(
            ConversationTokenizer(format: smol, maxLength: 5).tokenize(id: "a", messages: messages)
                == .failure(.emptyMask))
        // A system prompt override replaces SmolLM2's default system message.
        let custom = try ConversationTokenizer(format: smol, systemPrompt: "Be brief.").tokenize(
            id: "a", messages: messages
        ).get()
        #expect(smol.tokenizer.decode(custom.ids).contains("<|im_start|>system\nBe brief.<|im_end|>"))
        #expect(custom.maskedCount == sample.maskedCount)
    }
}
