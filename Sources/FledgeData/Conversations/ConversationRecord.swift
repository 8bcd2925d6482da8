import Foundation
import FledgeTemplate

/// One conversation as found in an input record, before roles are normalised and the
/// repair rules run.
///
/// Accepted record shapes (keys are case-sensitive):
/// - ShareGPT: `{"id": ..., "conversations": [{"from": ..., "value": ...}]}`
/// - OpenAI / UltraChat / SpecForge: `{"id" | "prompt_id": ..., "messages" | "conversations":
///   [{"role": ..., "content": ...}]}`
///
/// `id` may be a string or a number. `content` may be a string, `null` (an empty turn) or a
/// list of `{"type": "text", "text": ...}` parts, joined without a separator; any other part
/// type makes the record `not_a_conversation`. Other keys are ignored.
public struct ConversationRecord: Equatable, Sendable {
    /// One turn with its role exactly as written in the file.
    public struct Turn: Equatable, Sendable {
        public var role: String
        public var content: String

        public init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    /// The record's own id (`id`, else `prompt_id`), if any and not empty.
    public var id: String?
    public var turns: [Turn]

    public init(id: String?, turns: [Turn]) {
        self.id = id
        self.turns = turns
    }

    /// Parses one record's bytes.
    /// - Throws: `DataError` `.invalidUTF8` (with the offset of the first bad byte inside the
    ///   record), `.malformedRecord` (not JSON) or `.notAConversation`; the location holds
    ///   only the byte offset within the record, the caller adds file and record index.
    public static func parse(_ bytes: [UInt8]) throws -> ConversationRecord {
        if let bad = UTF8Validation.firstInvalidByte(bytes) {
            throw DataError(
                .invalidUTF8, "byte \(bad) of the record (0x\(String(bytes[bad], radix: 16))) is not valid UTF-8",
                hint: "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            throw DataError(
                .malformedRecord, "not valid JSON (\(Self.describe(error)))", hint: "fix or remove this record")
        }
        guard let dictionary = object as? [String: Any] else {
            throw notAConversation("the record is not a JSON object")
        }
        guard let list = dictionary["conversations"] ?? dictionary["messages"] else {
            throw notAConversation("no \"conversations\" or \"messages\" list")
        }
        guard let items = list as? [Any] else { throw notAConversation("\"conversations\"/\"messages\" is not a list") }
        var turns: [Turn] = []
        turns.reserveCapacity(items.count)
        for (position, item) in items.enumerated() {
            turns.append(try turn(item, position: position))
        }
        return ConversationRecord(id: identifier(dictionary["id"] ?? dictionary["prompt_id"]), turns: turns)
    }

    private static func turn(_ item: Any, position: Int) throws -> Turn {
        guard let fields = item as? [String: Any] else { throw notAConversation("turn \(position) is not an object") }
        guard let role = (fields["from"] ?? fields["role"]) as? String else {
            throw notAConversation("turn \(position) has no string \"from\" or \"role\"")
        }
        guard let rawContent = fields["value"] ?? fields["content"] else {
            throw notAConversation("turn \(position) has no \"value\" or \"content\"")
        }
        guard let content = text(of: rawContent) else {
            throw notAConversation("turn \(position): content is neither text, null nor a list of text parts")
        }
        return Turn(role: role, content: content)
    }

    private static func text(of value: Any) -> String? {
        if let string = value as? String { return string }
        if value is NSNull { return "" }
        guard let parts = value as? [Any] else { return nil }
        var text = ""
        for part in parts {
            guard let fields = part as? [String: Any], fields["type"] as? String == "text",
                let piece = fields["text"] as? String
            else { return nil }
            text += piece
        }
        return text
    }

    private static func identifier(_ value: Any?) -> String? {
        switch value {
        case let string as String:
            return string.isEmpty ? nil : string
        case let number as NSNumber:
            return number.stringValue
        default:
            return nil
        }
    }

    private static func notAConversation(_ message: String) -> DataError {
        DataError(
            .notAConversation, message,
            hint:
                "records need \"conversations\" [{\"from\", \"value\"}] (ShareGPT) "
                + "or \"messages\" [{\"role\", \"content\"}] (OpenAI)"
        )
    }

    private static func describe(_ error: Error) -> String {
        let nsError = error as NSError
        return (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
    }
}

extension ConversationRecord {
    /// The turns as chat messages: roles in the table of ``RoleNormalisation`` normalised,
    /// others kept as written (for rendering a record with a chat template as it is).
    public var chatMessages: [ChatMessage] {
        turns.map { ChatMessage(role: RoleNormalisation.role(for: $0.role)?.rawValue ?? $0.role, content: $0.content) }
    }
}

/// UTF-8 validation over bytes (RFC 3629: no overlong forms, no surrogates, ≤ U+10FFFF).
enum UTF8Validation {
    /// Index of the first byte that starts no valid UTF-8 sequence, or nil if all are valid.
    static func firstInvalidByte(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { p in
            let n = p.count
            var i = 0
            while i < n {
                let b0 = p[i]
                if b0 < 0x80 {
                    i += 1
                    continue
                }
                let length: Int
                var low: UInt8 = 0x80
                var high: UInt8 = 0xBF
                switch b0 {
                case 0xC2...0xDF: length = 2
                case 0xE0: length = 3; low = 0xA0
                case 0xE1...0xEC, 0xEE...0xEF: length = 3
                case 0xED: length = 3; high = 0x9F
                case 0xF0: length = 4; low = 0x90
                case 0xF1...0xF3: length = 4
                case 0xF4: length = 4; high = 0x8F
                default: return i
                }
                guard i + length <= n else { return i }
                guard p[i + 1] >= low, p[i + 1] <= high else { return i }
                for k in 2..<max(length, 2) where p[i + k] < 0x80 || p[i + k] > 0xBF { return i }
                i += length
            }
            return nil
        }
    }
}
