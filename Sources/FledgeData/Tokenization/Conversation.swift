import Foundation
import FledgeTemplate

/// A prepared conversation: its id and messages (one line of the unified JSONL that
/// ``ConversationFile`` reads and ``Regenerator`` reads and writes).
public struct Conversation: Sendable, Equatable, Codable {
    public var id: String
    public var messages: [ChatMessage]

    public init(id: String, messages: [ChatMessage]) {
        self.id = id
        self.messages = messages
    }
}
