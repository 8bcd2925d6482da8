import Foundation
import FledgeTemplate

/// Reads prepared conversations: a unified JSONL file (`{"id", "messages": [{role, content}]}`
/// per line, as `fledge data prepare` writes) or a prepared folder (its `train.jsonl`).
public enum ConversationFile {
    /// The conversations of `url` (a `.jsonl` file, or a folder with `train.jsonl` / `split`.jsonl).
    /// Lines end in LF, CR or CRLF; blank lines are ignored.
    /// - Parameter allowEmpty: whether a file without a conversation is fine (an eval split
    ///   prepared with `--eval-fraction 0`); otherwise it is an error.
    /// - Throws: ``DataError`` naming the file and line of a malformed record, or
    ///   `.noConversations` for a file without one.
    public static func read(_ url: URL, split: String = "train", allowEmpty: Bool = false) throws -> [Conversation] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DataError(
                .invalidCache, "\(url.path): no such file or folder", hint: "prepare data with fledge data prepare")
        }
        let file = resolve(url, split: split)
        guard let data = try? Data(contentsOf: file) else {
            throw DataError(
                .invalidCache, "\(file.path): cannot read",
                hint: isDirectory.boolValue ? "is this a folder written by fledge data prepare?" : nil)
        }
        var conversations: [Conversation] = []
        let decoder = JSONDecoder()
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            let bytes = buffer.bindMemory(to: UInt8.self)
            var lineNumber = 0
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != 10, bytes[end] != 13 { end += 1 }
                lineNumber += 1
                let line = UnsafeBufferPointer(rebasing: bytes[start..<end])
                start = end + (end + 1 < bytes.count && bytes[end] == 13 && bytes[end + 1] == 10 ? 2 : 1)
                if line.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
                do {
                    conversations.append(try decoder.decode(Conversation.self, from: Data(buffer: line)))
                } catch {
                    throw DataError(
                        .invalidCache,
                        "\(file.path):\(lineNumber): not a prepared conversation "
                            + "({\"id\", \"messages\": [{\"role\", \"content\"}]})",
                        hint: "prepare raw ShareGPT/OpenAI files with fledge data prepare first")
                }
            }
        }
        if conversations.isEmpty && !allowEmpty {
            throw DataError(
                .noConversations, "\(file.path): no conversations (the file is empty)",
                hint: "prepare data with fledge data prepare and point at its folder or train.jsonl")
        }
        return conversations
    }

    /// The file ``read(_:split:)`` reads: `url` itself, or `split`.jsonl of a prepared folder.
    public static func resolve(_ url: URL, split: String = "train") -> URL {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        return isDirectory.boolValue ? url.appendingPathComponent("\(split).jsonl") : url
    }

    /// A fingerprint of the data ``read(_:split:)`` reads and of every tokenisation setting
    /// (those of ``ConversationTokenizer``): what feature caches and cached draft vocabularies
    /// are keyed by.
    public static func fingerprint(
        _ url: URL, split: String = "train", maxLength: Int, dropLong: Bool,
        systemPrompt: String?
    ) throws -> String {
        try Fingerprint.of(resolve(url, split: split))
            + "|max=\(maxLength)|drop=\(dropLong)|system=\(systemPrompt ?? "-")"
    }
}
