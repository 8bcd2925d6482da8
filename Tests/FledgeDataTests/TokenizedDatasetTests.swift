import Foundation
import Testing

@testable import FledgeData
import FledgeTemplate

/// `TokenizedDataset.make(_:tokenizer:maxSamples:)`: the first N samples of the whole set,
/// without tokenizing the rest (cache build --max-samples).
@Suite struct TokenizedDatasetTests {
    /// 40 conversations; every fifth has no assistant turn and is skipped, every seventh is
    /// longer than the tokenizer's limit and truncated.
    func conversations() -> [Conversation] {
        (0..<40).map { i in
            var messages = [ChatMessage(role: "user", content: "question \(i)?")]
            if i % 5 != 3 {
                let words = i % 7 == 2 ? 80 : 2
                messages.append(ChatMessage(role: "assistant", content: String(repeating: "word ", count: words)))
            }
            return Conversation(id: "c\(i)", messages: messages)
        }
    }

    @Test(arguments: [1, 5, 17, 32, 100])
    func theFirstSamplesOfTheWholeSet(_ n: Int) throws {
        let target = try TinyTarget.make()
        let tokenizer = ConversationTokenizer(format: target.format, maxLength: 48)
        let whole = TokenizedDataset.make(conversations(), tokenizer: tokenizer)
        #expect(whole.samples.count == 32 && whole.skipped.values.reduce(0, +) == 8 && whole.truncated > 0)
        let first = TokenizedDataset.make(conversations(), tokenizer: tokenizer, maxSamples: n)
        let expected = Array(whole.samples.prefix(n))
        #expect(first.samples.map(\.id) == expected.map(\.id))
        #expect(first.samples.map(\.ids) == expected.map(\.ids))
        #expect(first.truncated == expected.filter(\.truncated).count)
        if n >= 32 { #expect(first.skipped == whole.skipped) }
    }
}
