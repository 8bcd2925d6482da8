import Foundation

/// The three roles of the unified format.
public enum ConversationRole: String, Codable, Sendable, CaseIterable {
    case system
    case user
    case assistant
}

/// Maps the role names of ShareGPT, OpenAI and UltraChat files onto `ConversationRole`.
///
/// | written (any case, surrounding spaces ignored) | role |
/// |---|---|
/// | `human`, `user` | `user` |
/// | `gpt`, `chatgpt`, `bing`, `bard`, `assistant` | `assistant` |
/// | `system` | `system` |
///
/// This is SpecForge's `ROLE_MAPPING` (`scripts/prepare_data.py` at 86c17491) plus the
/// OpenAI names and `system`. Any other role (`tool`, `function`, ...) is unknown: the
/// conversation is skipped with reason `unknown_role` and the role is counted in the
/// manifest's `unknown_roles`. (speculators maps unknown roles to assistant; training a
/// draft on tool output as if the target had written it would teach it the wrong
/// distribution, so Fledge does not.)
public enum RoleNormalisation {
    /// The table above, keys lowercased.
    public static let table: [String: ConversationRole] = [
        "human": .user,
        "user": .user,
        "gpt": .assistant,
        "chatgpt": .assistant,
        "bing": .assistant,
        "bard": .assistant,
        "assistant": .assistant,
        "system": .system,
    ]

    /// The role `written` stands for, or nil if it is unknown.
    public static func role(for written: String) -> ConversationRole? {
        if let role = table[written] { return role }
        return table[written.trimmingCharacters(in: .whitespaces).lowercased()]
    }
}
