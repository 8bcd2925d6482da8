import FledgeTemplate

/// Why a record produced no conversation. Raw values are the keys of `manifest.json`'s
/// `skipped` counts.
public enum ConversationSkipReason: String, Error, Codable, Sendable, CaseIterable, Comparable {
    /// The record's bytes are not valid UTF-8.
    case invalidUTF8 = "invalid_utf8"
    /// The record is not valid JSON.
    case malformedJSON = "malformed_json"
    /// Valid JSON, but not a conversation (see `ConversationRecord`).
    case notAConversation = "not_a_conversation"
    /// A turn has a role outside `RoleNormalisation.table`.
    case unknownRole = "unknown_role"
    /// No turn with content (an empty list, or only empty turns).
    case emptyConversation = "empty_conversation"
    /// After the repairs, no user turn is followed by an assistant turn.
    case noUserAssistantPair = "no_user_assistant_pair"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A change the repair rules made to a kept conversation. Raw values are the keys of
/// `manifest.json`'s `repairs` counts (each counts turns).
public enum ConversationRepair: String, Codable, Sendable, CaseIterable, Comparable {
    /// A turn whose content is empty or only whitespace was dropped.
    case emptyTurnDropped = "empty_turn_dropped"
    /// A system turn after the first turn was dropped.
    case laterSystemDropped = "later_system_dropped"
    /// An assistant turn before the first user turn was dropped.
    case leadingAssistantDropped = "leading_assistant_dropped"
    /// A turn with the same role as the turn before it was appended to that turn.
    case sameRoleMerged = "same_role_merged"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A conversation after the repair rules, with the repairs made (turns per kind).
public struct RepairedConversation: Equatable, Sendable {
    public var messages: [ChatMessage]
    public var repairs: [ConversationRepair: Int]
}

/// The repair rules: what turns a conversation with normalised roles into
/// `[system] user assistant (user assistant)* [user]`, or says why it cannot be.
///
/// In this order:
/// 1. **Empty turns** (content empty or only whitespace) are dropped. If no turn is left,
///    the conversation is skipped: `empty_conversation`.
/// 2. **System** is kept only as the first turn; later system turns are dropped.
/// 3. **Leading assistant turns** (before the first user turn) are dropped, as the official
///    EAGLE-3 loader does: the draft is trained on answers to a prompt.
/// 4. **Consecutive turns of the same role are merged** into one, contents joined by a blank
///    line (`"\n\n"`). SpecForge instead truncates at the first violation; in ShareGPT a
///    repeated role is almost always one message split in two, so merging keeps the answer
///    whole instead of dropping the rest of the conversation.
/// 5. A conversation without a user turn followed by an assistant turn is skipped:
///    `no_user_assistant_pair`. A trailing user turn is kept (it is harmless for training,
///    and regeneration answers it).
///
/// Contents are never trimmed or otherwise changed: whitespace changes token ids.
public enum RepairRules {
    /// The repaired conversation and the repairs made, or why it is skipped.
    public static func apply(
        _ turns: [(role: ConversationRole, content: String)]
    )
        -> Result<RepairedConversation, ConversationSkipReason>
    {
        var repairs: [ConversationRepair: Int] = [:]
        var kept: [(role: ConversationRole, content: String)] = []
        kept.reserveCapacity(turns.count)
        for turn in turns {
            if isBlank(turn.content) {
                repairs[.emptyTurnDropped, default: 0] += 1
            } else {
                kept.append(turn)
            }
        }
        guard !kept.isEmpty else { return .failure(.emptyConversation) }

        var messages: [ChatMessage] = []
        messages.reserveCapacity(kept.count)
        var seenUser = false
        for (position, turn) in kept.enumerated() {
            switch turn.role {
            case .system where position > 0:
                repairs[.laterSystemDropped, default: 0] += 1
            case .assistant where !seenUser:
                repairs[.leadingAssistantDropped, default: 0] += 1
            default:
                if turn.role == .user { seenUser = true }
                if let last = messages.last, last.role == turn.role.rawValue {
                    messages[messages.count - 1].content += "\n\n" + turn.content
                    repairs[.sameRoleMerged, default: 0] += 1
                } else {
                    messages.append(ChatMessage(role: turn.role.rawValue, content: turn.content))
                }
            }
        }
        guard messages.contains(where: { $0.role == ConversationRole.assistant.rawValue }) else {
            return .failure(.noUserAssistantPair)
        }
        return .success(RepairedConversation(messages: messages, repairs: repairs))
    }

    /// Whether `text` is empty or only Unicode whitespace and newlines.
    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0.properties.isWhitespace }
    }
}
