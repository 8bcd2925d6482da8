import FledgeTemplate
import Foundation

/// One line of a prepared dataset (`train.jsonl`, `eval.jsonl`), the unified format every
/// later stage reads:
///
/// ```json
/// {"id":"QWJhYvA_0","source":"data/ShareGPT.json:0",
///  "messages":[{"role":"user","content":"..."},{"role":"assistant","content":"..."}]}
/// ```
///
/// - `id`: stable across runs (see `ConversationIdentity`); unique within the dataset.
/// - `source`: `FILE:RECORD`, the input file as it was named and the 0-based record index in it.
/// - `messages`: `[system] user assistant (user assistant)* [user]`, roles `system`, `user`,
///   `assistant` only, contents exactly as in the input (see `RepairRules`).
///
/// Keys are written in this order, compact, UTF-8 unescaped, one conversation per line
/// ending in `\n`. The format is versioned by `manifest.json` (`PreparedDatasetManifest`).
public struct PreparedConversation: Codable, Equatable, Sendable {
    public var id: String
    public var source: String
    public var messages: [ChatMessage]

    public init(id: String, source: String, messages: [ChatMessage]) {
        self.id = id
        self.source = source
        self.messages = messages
    }

    enum CodingKeys: String, CodingKey {
        case id
        case source
        case messages
    }

    /// Appends this conversation's line (with its `\n`) to `buffer`.
    public func appendLine(to buffer: inout [UInt8]) {
        buffer.append(contentsOf: #"{"id":"#.utf8)
        JSONText.appendString(id, to: &buffer)
        buffer.append(contentsOf: #","source":"#.utf8)
        JSONText.appendString(source, to: &buffer)
        buffer.append(contentsOf: #","messages":["#.utf8)
        for (index, message) in messages.enumerated() {
            if index > 0 { buffer.append(Byte.comma) }
            buffer.append(contentsOf: #"{"role":"#.utf8)
            JSONText.appendString(message.role, to: &buffer)
            buffer.append(contentsOf: #","content":"#.utf8)
            JSONText.appendString(message.content, to: &buffer)
            buffer.append(Byte.closeBrace)
        }
        buffer.append(contentsOf: "]}\n".utf8)
    }
}

/// Reading a prepared dataset.
public enum PreparedDataset {
    public static let trainFile = "train.jsonl"
    public static let evalFile = "eval.jsonl"
    public static let manifestFile = "manifest.json"

    /// Calls `body` with each conversation of a prepared JSONL file, in order, streaming.
    /// - Throws: `DataError` when the file cannot be read or a line is not a prepared
    ///   conversation (with file, record and line).
    public static func forEachConversation(in file: URL, _ body: (PreparedConversation) throws -> Void) throws {
        let reader = try JSONStreamReader(path: file.path, computeDigest: false)
        let decoder = JSONDecoder()
        while let record = try reader.next() {
            let conversation: PreparedConversation
            do {
                conversation = try decoder.decode(PreparedConversation.self, from: Data(record.bytes))
            } catch {
                throw DataError(
                    .malformedRecord, "not a prepared conversation (\(error))",
                    at: .init(file: file.path, record: record.index, line: record.line, byteOffset: record.byteOffset),
                    hint: "prepared files are written by `fledge data prepare`; run it again")
            }
            try body(conversation)
        }
        if let truncation = reader.truncation {
            throw DataError(
                .truncatedFile, truncation.message, at: .init(file: file.path, byteOffset: truncation.byteOffset),
                hint: "run `fledge data prepare` again")
        }
    }

    /// Every conversation of a prepared JSONL file (small files and tests).
    public static func conversations(in file: URL) throws -> [PreparedConversation] {
        var all: [PreparedConversation] = []
        try forEachConversation(in: file) { all.append($0) }
        return all
    }

    /// The manifest of a prepared dataset folder.
    /// - Throws: `DataError` when it is missing, unreadable, or of another format or version.
    public static func manifest(in directory: URL) throws -> PreparedDatasetManifest {
        let url = directory.appendingPathComponent(manifestFile)
        let manifest: PreparedDatasetManifest
        do {
            manifest = try JSONDecoder().decode(PreparedDatasetManifest.self, from: Data(contentsOf: url))
        } catch {
            throw DataError(
                .unreadableInput, "cannot read the manifest (\(error))", at: .init(file: url.path),
                hint: "point at a folder written by `fledge data prepare`")
        }
        guard manifest.format == PreparedDatasetManifest.formatName,
            manifest.version == PreparedDatasetManifest.formatVersion
        else {
            throw DataError(
                .unsupportedLayout,
                "format \(manifest.format) v\(manifest.version), expected "
                    + "\(PreparedDatasetManifest.formatName) v\(PreparedDatasetManifest.formatVersion)",
                at: .init(file: url.path), hint: "prepare the data again with this version of fledge")
        }
        return manifest
    }
}

/// Compact JSON string encoding over UTF-8 bytes.
enum JSONText {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Appends `"text"` with `"`, `\` and control characters escaped (RFC 8259 §7);
    /// everything else, including non-ASCII, is copied as UTF-8.
    static func appendString(_ text: String, to buffer: inout [UInt8]) {
        buffer.append(Byte.quote)
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            let count = bytes.count
            var i = -1
            while true {
                // Index loop, not `enumerated()`: it stays fast in debug builds (tests).
                i += 1
                guard i < count else { break }
                let byte = bytes[i]
                guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                runStart = i + 1
                switch byte {
                case Byte.quote: buffer.append(contentsOf: #"\""#.utf8)
                case Byte.backslash: buffer.append(contentsOf: #"\\"#.utf8)
                case 0x0A: buffer.append(contentsOf: #"\n"#.utf8)
                case 0x0D: buffer.append(contentsOf: #"\r"#.utf8)
                case 0x09: buffer.append(contentsOf: #"\t"#.utf8)
                case 0x08: buffer.append(contentsOf: #"\b"#.utf8)
                case 0x0C: buffer.append(contentsOf: #"\f"#.utf8)
                default:
                    buffer.append(contentsOf: #"\u00"#.utf8)
                    buffer.append(hexDigits[Int(byte >> 4)])
                    buffer.append(hexDigits[Int(byte & 15)])
                }
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
        buffer.append(Byte.quote)
    }
}
