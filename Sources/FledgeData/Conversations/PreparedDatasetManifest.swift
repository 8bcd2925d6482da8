import Foundation

/// `manifest.json` of a prepared dataset folder: format `fledge-prepared-conversations`,
/// version 1. Written last, after `train.jsonl` and `eval.jsonl` are in place, so a folder
/// with a manifest is complete. Keys are snake_case and sorted; it holds no timestamps of
/// the run, so the same inputs and options give the same bytes. See `docs/data-prepare.md`.
public struct PreparedDatasetManifest: Codable, Equatable, Sendable {
    public static let formatName = "fledge-prepared-conversations"
    public static let formatVersion = 1

    /// One input file and what was read from it.
    public struct Input: Codable, Equatable, Sendable {
        /// As the caller named it, or as found under a named folder.
        public var path: String
        public var bytes: Int
        /// The file's modification time, ISO 8601 (UTC).
        public var modificationTime: String
        /// SHA-256 of the whole file; nil when reading stopped early (`max_conversations`)
        /// or digests were turned off.
        public var sha256: String?
        public var layout: ConversationFileLayout
        /// Records cut out of the file (complete ones, good or bad).
        public var records: Int
        public var truncation: TruncationWarning?

        enum CodingKeys: String, CodingKey {
            case path, bytes, sha256, layout, records, truncation
            case modificationTime = "modification_time"
        }
    }

    /// What happened to the records.
    public struct Counts: Codable, Equatable, Sendable {
        /// Records read from all inputs: `kept + duplicates + sum(skipped)`.
        public var recordsRead = 0
        /// Conversations written (`train + eval`).
        public var kept = 0
        /// Conversations whose normalised messages equal an earlier kept one.
        public var duplicates = 0
        /// Records skipped, by `ConversationSkipReason` (every reason present, 0 included).
        public var skipped: [String: Int] = Dictionary(
            uniqueKeysWithValues: ConversationSkipReason.allCases.map { ($0.rawValue, 0) })
        /// Turns changed by each `ConversationRepair` in kept conversations (0 included).
        public var repairs: [String: Int] = Dictionary(
            uniqueKeysWithValues: ConversationRepair.allCases.map { ($0.rawValue, 0) })
        /// Kept conversations with at least one repair.
        public var conversationsRepaired = 0
        /// Kept conversations whose own id was taken by an earlier one (given `ID-HASH`).
        public var idsRenamed = 0
        public var train = 0
        public var eval = 0
        /// Messages written, by role (`system`, `user`, `assistant`).
        public var messages: [String: Int] = Dictionary(
            uniqueKeysWithValues: ConversationRole.allCases.map { ($0.rawValue, 0) })
        /// Whether reading stopped at `max_conversations`.
        public var stoppedAtMaxConversations = false

        public init() {}

        /// Records skipped for any reason.
        public var skippedTotal: Int { skipped.values.reduce(0, +) }

        enum CodingKeys: String, CodingKey {
            case kept, duplicates, skipped, repairs, train, eval, messages
            case recordsRead = "records_read"
            case conversationsRepaired = "conversations_repaired"
            case idsRenamed = "ids_renamed"
            case stoppedAtMaxConversations = "stopped_at_max_conversations"
        }
    }

    /// One problem found in the inputs (`DataError` flattened).
    public struct Issue: Codable, Equatable, Sendable {
        public var code: DataError.Code
        public var message: String
        public var file: String?
        public var record: Int?
        public var line: Int?
        public var byteOffset: Int?

        public init(_ error: DataError) {
            code = error.code
            message = error.message
            file = error.location.file
            record = error.location.record
            line = error.location.line
            byteOffset = error.location.byteOffset
        }

        enum CodingKeys: String, CodingKey {
            case code, message, file, record, line
            case byteOffset = "byte_offset"
        }
    }

    public var format = formatName
    public var version = formatVersion
    /// Held-out fraction; a conversation goes to eval when its split hash (`DatasetSplit`) is below it.
    public var evalFraction: Double
    public var seed: UInt64
    public var maxConversations: Int?
    public var inputs: [Input] = []
    public var counts = Counts()
    /// Turns of every parsed record by role exactly as written (`gpt`, `human`, `tool`, ...).
    public var roles: [String: Int] = [:]
    /// The roles of `roles` that `RoleNormalisation` does not know, with their counts.
    public var unknownRoles: [String: Int] = [:]
    /// The first `issueLimit` problems, in input order.
    public var issues: [Issue] = []
    /// All problems found (skips of bad records, unknown roles' first use, truncations).
    public var issueCount = 0
    public var trainFile = PreparedDataset.trainFile
    public var evalFile = PreparedDataset.evalFile

    public init(evalFraction: Double, seed: UInt64, maxConversations: Int?) {
        self.evalFraction = evalFraction
        self.seed = seed
        self.maxConversations = maxConversations
    }

    enum CodingKeys: String, CodingKey {
        case format, version, seed, inputs, counts, roles, issues
        case evalFraction = "eval_fraction"
        case maxConversations = "max_conversations"
        case unknownRoles = "unknown_roles"
        case issueCount = "issue_count"
        case trainFile = "train_file"
        case evalFile = "eval_file"
    }

    /// Pretty, sorted-key JSON with a final newline.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }
}
