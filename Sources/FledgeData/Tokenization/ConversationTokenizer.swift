import Foundation
import FledgeLlama
import FledgeTemplate
import FledgeTokenizer

/// Why a conversation produced no sample.
public enum TokenizationSkip: String, Error, Sendable, Codable, CaseIterable {
    /// Longer than `maxLength` with `dropLong`.
    case tooLong = "too_long"
    /// No assistant turn (nothing to learn).
    case noAssistantTurn = "no_assistant_turn"
    /// The template renders a turn differently once later turns follow (e.g. Qwen3 strips
    /// earlier reasoning), so the render-boundary mask is undefined.
    case inconsistentTemplate = "inconsistent_template"
    /// The chat template raised an exception (e.g. roles that do not alternate).
    case templateError = "template_error"
    /// The loss mask is all zero after truncation.
    case emptyMask = "empty_mask"
}

/// Turns conversations into token ids and the template-agnostic render-boundary loss mask
/// (docs/design.md §6.3, §5.8; as speculators' `_render_boundary_rows`).
///
/// For every assistant turn j the conversation is rendered up to turn j with the generation
/// prompt (`A`) and up to and including turn j without it (`B`); tokens of `B` past the
/// longest common token prefix of `A` and `B` are the assistant's: its reply, its end-of-turn
/// token and whatever the template closes the turn with. `B` must be a token prefix of the
/// whole rendered conversation, which is tokenised once; all assistant turns are masked in
/// that one sample. Works with any chat template.
public struct ConversationTokenizer: @unchecked Sendable {
    public let format: ChatFormat
    /// Longest sample in tokens (truncated, or dropped when `dropLong`).
    public var maxLength: Int
    public var dropLong: Bool
    /// Replaces the conversation's system message (or adds one) when set.
    public var systemPrompt: String?

    public init(format: ChatFormat, maxLength: Int = 2048, dropLong: Bool = false, systemPrompt: String? = nil) {
        self.format = format
        self.maxLength = maxLength
        self.dropLong = dropLong
        self.systemPrompt = systemPrompt
    }

    /// The sample of `messages`, or why there is none.
    public func tokenize(id: String, messages: [ChatMessage]) -> Result<TokenizedSample, TokenizationSkip> {
        var messages = messages
        if let systemPrompt {
            if messages.first?.role == "system" { messages.removeFirst() }
            messages.insert(ChatMessage(role: "system", content: systemPrompt), at: 0)
        }
        guard messages.contains(where: { $0.role == "assistant" }) else { return .failure(.noAssistantTurn) }
        let ids: [Int32]
        do {
            ids = encode(try format.render(messages, addGenerationPrompt: false))
        } catch {
            return .failure(.templateError)
        }
        var mask = [UInt8](repeating: 0, count: ids.count)
        for (index, message) in messages.enumerated() where message.role == "assistant" {
            let before: [Int32]
            let through: [Int32]
            do {
                before = encode(try format.render(Array(messages[..<index]), addGenerationPrompt: true))
                through = encode(try format.render(Array(messages[...index]), addGenerationPrompt: false))
            } catch {
                return .failure(.templateError)
            }
            guard through.count <= ids.count, ids[..<through.count].elementsEqual(through) else {
                return .failure(.inconsistentTemplate)
            }
            var start = 0
            while start < min(before.count, through.count), before[start] == through[start] { start += 1 }
            for position in start..<through.count { mask[position] = 1 }
        }
        var sample = TokenizedSample(id: id, ids: ids, lossMask: mask)
        if ids.count > maxLength {
            if dropLong { return .failure(.tooLong) }
            sample = TokenizedSample(
                id: id, ids: Array(ids.prefix(maxLength)), lossMask: Array(mask.prefix(maxLength)), truncated: true)
        }
        guard sample.maskedCount > 0 else { return .failure(.emptyMask) }
        return .success(sample)
    }

    private func encode(_ text: String) -> [Int32] { format.tokenizer.encode(text, addSpecialTokens: false) }
}
