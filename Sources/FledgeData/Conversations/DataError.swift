/// A problem with conversation data: thrown when the run cannot go on (a missing input, a
/// file in no supported layout, an output folder that cannot be written), and reported
/// through `ConversationPreparer`'s issue callback (and `manifest.json`) when one record or
/// the end of a file is bad and the run goes on without it.
///
/// NIO-style: a code, a message, where it happened, and a hint on how to fix it.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong. Raw values are the `code` strings of `manifest.json`'s issues.
    public enum Code: String, Codable, Sendable, CaseIterable {
        /// An input path that does not exist or cannot be opened or read.
        case unreadableInput = "unreadable_input"
        /// The inputs name no conversation file at all.
        case noInputs = "no_inputs"
        /// A file that is neither a JSON array nor JSON Lines.
        case unsupportedLayout = "unsupported_layout"
        /// A file that ends inside a record (or before its array's `]`).
        case truncatedFile = "truncated_file"
        /// One record that is not valid JSON.
        case malformedRecord = "malformed_record"
        /// One record whose bytes are not valid UTF-8.
        case invalidUTF8 = "invalid_utf8"
        /// Valid JSON that is not a conversation (no `conversations`/`messages` list, a turn
        /// without role or content, content that is not text).
        case notAConversation = "not_a_conversation"
        /// A turn whose role is not in the role table (`RoleNormalisation`).
        case unknownRole = "unknown_role"
        /// Inputs (or a prepared file) without a single usable conversation.
        case noConversations = "no_conversations"
        /// An option value outside its range.
        case invalidOption = "invalid_option"
        /// The output folder or one of its files cannot be written.
        case outputFailed = "output_failed"
        /// A feature cache or prepared-data file that cannot be used (wrong model, data, version).
        case invalidCache = "invalid_cache"
        /// A draft vocabulary (d2t / t2d) that is inconsistent or does not fit the target.
        case invalidVocabulary = "invalid_vocabulary"
    }

    /// Where in the input the problem is; every field is optional.
    public struct Location: Equatable, Sendable, Codable {
        /// The input file as the caller named it (or as found under a folder).
        public var file: String?
        /// 0-based index of the record in its file (elements of a JSON array, non-blank lines
        /// of JSON Lines).
        public var record: Int?
        /// 1-based line of the record's first byte.
        public var line: Int?
        /// Byte offset from the start of the file.
        public var byteOffset: Int?

        public init(file: String? = nil, record: Int? = nil, line: Int? = nil, byteOffset: Int? = nil) {
            self.file = file
            self.record = record
            self.line = line
            self.byteOffset = byteOffset
        }

        enum CodingKeys: String, CodingKey {
            case file
            case record
            case line
            case byteOffset = "byte_offset"
        }

        /// `file, record 12 (line 13, byte 4096)`.
        public var description: String {
            var parts: [String] = []
            if let record { parts.append("record \(record)") }
            var details: [String] = []
            if let line { details.append("line \(line)") }
            if let byteOffset { details.append("byte \(byteOffset)") }
            var text = file ?? "<input>"
            if !parts.isEmpty { text += ", " + parts.joined(separator: ", ") }
            if !details.isEmpty { text += " (" + details.joined(separator: ", ") + ")" }
            return text
        }
    }

    public var code: Code
    public var message: String
    public var location: Location
    public var hint: String?

    public init(_ code: Code, _ message: String, at location: Location = Location(), hint: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.hint = hint
    }

    public var description: String {
        let place = location == Location() ? "" : location.description + ": "
        return place + message + (hint.map { "\nhint: \($0)" } ?? "")
    }
}
