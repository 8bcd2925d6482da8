import FledgeTemplate

/// Stable ids and de-duplication for one preparation run.
///
/// - **Content digest**: the 128-bit `ContentHasher` over the normalised messages (for each:
///   the role, a 0 byte, the content's UTF-8 length as 8 bytes and the content), so it does not
///   depend on the input format, key order or escapes.
/// - **Duplicates**: a conversation whose digest equals an earlier kept one's is dropped and
///   counted (`duplicates`); the first one is kept. The first 128 bits are remembered, 16 bytes
///   per kept conversation.
/// - **Ids**: the record's own id when it has one that no earlier kept conversation uses;
///   `ID-HASH` when its id is taken (ShareGPT reuses ids across different conversations);
///   `HASH` when it has none. `HASH` is the first 64 bits of the digest as 16 hex digits. Ids therefore
///   stay the same when more files are appended to the inputs.
struct ConversationIdentity {
    private var seenContent = Set<ContentKey>()
    private var usedIDs = Set<String>()

    struct ContentKey: Hashable {
        var high: UInt64
        var low: UInt64
    }

    /// The content digest of `messages` as this type defines it.
    static func digest(_ messages: [ChatMessage]) -> ContentKey {
        var hasher = ContentHasher()
        for message in messages {
            var role = message.role
            var content = message.content
            role.withUTF8 { hasher.update(UnsafeRawBufferPointer($0)) }
            content.withUTF8 { bytes in
                var separator: (UInt8, UInt64) = (0, UInt64(bytes.count).bigEndian)
                withUnsafeBytes(of: &separator.0) { hasher.update($0) }
                withUnsafeBytes(of: &separator.1) { hasher.update($0) }
                hasher.update(UnsafeRawBufferPointer(bytes))
            }
        }
        let (high, low) = hasher.finalize()
        return ContentKey(high: high, low: low)
    }

    /// 16 lowercase hex digits of the digest's first 64 bits.
    static func hexID(_ key: ContentKey) -> String {
        let digits = String(key.high, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Records `messages`; nil if they duplicate an earlier conversation, else its id and
    /// whether its own id had to be renamed.
    mutating func admit(_ messages: [ChatMessage], recordID: String?) -> (id: String, renamed: Bool)? {
        let key = Self.digest(messages)
        guard seenContent.insert(key).inserted else { return nil }
        let hash = Self.hexID(key)
        var renamed = false
        var id: String
        if let recordID {
            id = recordID
            if usedIDs.contains(id) {
                id = "\(recordID)-\(hash)"
                renamed = true
            }
        } else {
            id = hash
        }
        var suffix = 2
        let base = id
        while !usedIDs.insert(id).inserted {
            id = "\(base)-\(suffix)"
            suffix += 1
        }
        return (id, renamed)
    }

    private static func word(_ bytes: [UInt8], _ start: Int) -> UInt64 {
        bytes[start..<start + 8].reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// The deterministic train/eval split: a conversation goes to eval iff
/// `u < evalFraction`, with `u` the first 8 bytes of SHA-256(`"fledge-split:SEED:ID"`)
/// read big-endian, divided by 2^64. It depends only on the id and the seed, so adding data
/// never moves a conversation from one side to the other.
public enum DatasetSplit {
    /// Whether the conversation with `id` is held out for evaluation.
    public static func isEval(id: String, seed: UInt64, evalFraction: Double) -> Bool {
        guard evalFraction > 0 else { return false }
        var hasher = SHA256Hasher()
        hasher.update(Array("fledge-split:\(seed):\(id)".utf8))
        let digest = hasher.finalize()
        let u = digest[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        return Double(u) / 18_446_744_073_709_551_616.0 < evalFraction
    }
}
