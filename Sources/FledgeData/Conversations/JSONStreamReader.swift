import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a conversation file lays out its records.
public enum ConversationFileLayout: String, Codable, Sendable {
    /// One JSON array of records (`[ {...}, {...} ]`), pretty-printed or not.
    case jsonArray = "json_array"
    /// JSON Lines: one record per line; blank lines are ignored.
    case jsonLines = "jsonl"
    /// No bytes other than whitespace (and a UTF-8 byte-order mark).
    case empty
}

/// One top-level JSON value cut out of a file, not yet parsed.
public struct RawJSONRecord: Sendable {
    /// 0-based index in its file: array elements, or non-blank lines of JSON Lines.
    public var index: Int
    /// Offset of the record's first byte in the file.
    public var byteOffset: Int
    /// 1-based line of the record's first byte (lines end in LF, CR or CRLF).
    public var line: Int?
    /// The record's bytes (for JSON Lines without the line break; for a malformed array
    /// element, those read before the scanner gave up on it).
    public var bytes: [UInt8]
    /// Why the reader already knows the record is not valid JSON (an array element that broke
    /// the grammar, see `ElementScanner`); nil otherwise.
    public var problem: String?

    public init(index: Int, byteOffset: Int, line: Int?, bytes: [UInt8], problem: String? = nil) {
        self.index = index
        self.byteOffset = byteOffset
        self.line = line
        self.bytes = bytes
        self.problem = problem
    }
}

/// A file that ends inside a record: what was recovered and what was dropped.
public struct TruncationWarning: Codable, Equatable, Sendable {
    public var file: String
    /// Offset where the incomplete record starts (the file's size when only a JSON array's
    /// closing `]` is missing): every record before it was read.
    public var byteOffset: Int
    /// Bytes from `byteOffset` to the end of the file, dropped.
    public var droppedBytes: Int
    /// Complete records read before the incomplete one.
    public var recordsRecovered: Int

    enum CodingKeys: String, CodingKey {
        case file
        case byteOffset = "byte_offset"
        case droppedBytes = "dropped_bytes"
        case recordsRecovered = "records_recovered"
    }

    public var message: String {
        if droppedBytes == 0 {
            return "the file ends before the JSON array's closing ']' (after \(recordsRecovered) records)"
        }
        return "the file is truncated: the record starting at byte \(byteOffset) is incomplete; "
            + "\(recordsRecovered) complete records were read and the last \(droppedBytes) bytes dropped"
    }
}

/// Reads one top-level JSON value at a time from a JSON array file or a JSON Lines file,
/// in fixed-size chunks, so memory is one chunk plus the largest record whatever the file
/// size.
///
/// The layout is chosen from the first byte that is not whitespace (after an optional UTF-8
/// byte-order mark): `[` is a JSON array, `{` is JSON Lines. Array elements are cut by a
/// byte scanner (`ElementScanner`) that tracks strings (with `\` escapes) and brackets, so
/// brackets and commas inside strings never end a record; an element that breaks the JSON
/// grammar is cut at the next element boundary and yielded with its `problem`, and reading
/// goes on with the next one. A record that is cut out but does not parse is the caller's to
/// report. JSON Lines end in LF, CR or CRLF. A file that ends inside a record sets `truncation`
/// instead of throwing: every complete record before it is yielded.
///
/// Complexity: O(file size), one pass, no backtracking. Memory: `chunkSize` + largest record.
public final class JSONStreamReader {
    /// 1 MiB.
    public static let defaultChunkSize = 1 << 20

    /// The file as the caller named it.
    public let path: String
    public let fileSize: Int
    public private(set) var layout: ConversationFileLayout = .empty
    /// Bytes read from the file so far.
    public private(set) var bytesRead = 0
    /// Records yielded so far.
    public private(set) var recordCount = 0
    /// Set when the file ends inside a record (or before an array's `]`).
    public private(set) var truncation: TruncationWarning?
    /// Offset of the first byte that is not whitespace after a JSON array's closing `]`
    /// (those bytes are ignored).
    public private(set) var trailingDataOffset: Int?
    /// Whether the end of the file has been reached.
    public private(set) var isFinished = false

    private let descriptor: Int32
    private let chunk: UnsafeMutableRawBufferPointer
    private var chunkStart = 0
    private var chunkCount = 0
    private var position = 0
    private var line = 1
    private var scanner = ElementScanner()
    /// Index in the chunk of the next LF / CR at or after `position` (`chunkCount`: none), or -1.
    private var nextLineFeed = -1
    private var nextCarriageReturn = -1
    private var hasher: SHA256Hasher?
    private var digest: String?

    /// Opens `path` and detects its layout.
    /// - Parameters:
    ///   - chunkSize: bytes per `read` (tests use tiny chunks to cross every boundary).
    ///   - computeDigest: hash every byte read, for `sha256` (about 0.3 s per 100 MB in a release build).
    /// - Throws: `DataError` `.unreadableInput` when the file cannot be opened or read,
    ///   `.unsupportedLayout` when it starts with neither `[` nor `{`.
    public init(path: String, chunkSize: Int = defaultChunkSize, computeDigest: Bool = true) throws {
        precondition(chunkSize > 0, "chunk size must be positive")
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw DataError(
                .unreadableInput, "cannot open the file (\(String(cString: strerror(errno))))", at: .init(file: path),
                hint: "check the path and its permissions")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw DataError(
                .unreadableInput, "not a regular file", at: .init(file: path),
                hint: "pass conversation files or folders of them")
        }
        descriptor = fd
        fileSize = Int(info.st_size)
        chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        hasher = computeDigest ? SHA256Hasher() : nil
        try detectLayout()
    }

    deinit {
        close(descriptor)
        chunk.deallocate()
    }

    /// SHA-256 of the whole file (hex), once it has been read to the end with
    /// `computeDigest`; nil if reading stopped early.
    public var sha256: String? { digest }

    /// The next record, or nil at the end of the file (then see `truncation`).
    /// - Throws: `DataError.unreadableInput` when a read fails.
    public func next() throws -> RawJSONRecord? {
        guard !isFinished else { return nil }
        switch layout {
        case .jsonArray: return try nextArrayElement()
        case .jsonLines: return try nextLine()
        case .empty:
            try finish()
            return nil
        }
    }

    // MARK: - Layout

    private func detectLayout() throws {
        if try peekByte() == 0xEF {
            // UTF-8 byte-order mark EF BB BF.
            for expected: UInt8 in [0xEF, 0xBB, 0xBF] {
                guard try peekByte() == expected else { throw unsupported(at: chunkStart + position) }
                position += 1
            }
        }
        try skipWhitespace()
        guard let first = try peekByte() else {
            layout = .empty
            return
        }
        switch first {
        case Byte.openBracket:
            layout = .jsonArray
            scanner.skip(first, at: chunkStart + position)
            position += 1
        case Byte.openBrace:
            layout = .jsonLines
        default:
            throw unsupported(at: chunkStart + position)
        }
    }

    private func unsupported(at offset: Int) -> DataError {
        DataError(
            .unsupportedLayout, "neither a JSON array (starting with '[') nor JSON Lines (lines starting with '{')",
            at: .init(file: path, byteOffset: offset),
            hint: "pass ShareGPT / OpenAI conversation files (.json arrays or .jsonl), or leave this file out")
    }

    // MARK: - JSON arrays

    private func nextArrayElement() throws -> RawJSONRecord? {
        while true {
            guard let byte = try peekByte() else {
                truncation = TruncationWarning(
                    file: path, byteOffset: fileSize, droppedBytes: 0, recordsRecovered: recordCount)
                try finish()
                return nil
            }
            if Byte.isWhitespace(byte) || byte == Byte.comma {
                scanner.skip(byte, at: chunkStart + position)
                position += 1
            } else if byte == Byte.closeBracket {
                return try afterClosingBracket()
            } else {
                break
            }
        }
        let start = chunkStart + position
        let startLine = scanner.line
        var bytes: [UInt8] = []
        scanner.begin(at: start)
        var segmentStart = position
        while true {
            if position == chunkCount {
                if !scanner.resyncing {
                    bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[segmentStart..<chunkCount]))
                }
                guard try refill() else {
                    if let problem = scanner.problem {
                        // A malformed element that runs to the end of the file.
                        try finish()
                        return yield(
                            RawJSONRecord(
                                index: recordCount, byteOffset: start, line: startLine, bytes: bytes,
                                problem: problem))
                    }
                    truncation = TruncationWarning(
                        file: path, byteOffset: start, droppedBytes: fileSize - start, recordsRecovered: recordCount)
                    try finish()
                    return nil
                }
                segmentStart = 0
            }
            let base = chunk.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let wasResyncing = scanner.resyncing
            if let end = scanner.scan(base, from: position, to: chunkCount, base: chunkStart) {
                if !wasResyncing {
                    bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[segmentStart..<end]))
                }
                position = end
                while let last = bytes.last, Byte.isWhitespace(last) { bytes.removeLast() }
                return yield(
                    RawJSONRecord(
                        index: recordCount, byteOffset: start, line: startLine, bytes: bytes,
                        problem: scanner.problem))
            }
            if scanner.resyncing && !wasResyncing {
                bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[segmentStart..<chunkCount]))
                segmentStart = chunkCount
            }
            position = chunkCount
        }
    }

    /// At a `]` between elements: the array's end if no element follows (bytes after it other
    /// than whitespace are noted in `trailingDataOffset`); else a stray bracket, yielded as a
    /// malformed record that runs to where the next element starts (`ElementScanner`'s resync).
    private func afterClosingBracket() throws -> RawJSONRecord? {
        let offset = chunkStart + position
        let startLine = scanner.line
        position += 1
        scanner.beginAfterStrayBracket(at: offset)
        while true {
            if position == chunkCount {
                guard try refill() else { break }
            }
            let base = chunk.baseAddress!.assumingMemoryBound(to: UInt8.self)
            if let end = scanner.scan(base, from: position, to: chunkCount, base: chunkStart) {
                position = end
                return yield(
                    RawJSONRecord(
                        index: recordCount, byteOffset: offset, line: startLine, bytes: [],
                        problem: scanner.problem))
            }
            position = chunkCount
        }
        trailingDataOffset = scanner.skippedContentOffset
        try finish()
        return nil
    }

    // MARK: - JSON Lines

    private func nextLine() throws -> RawJSONRecord? {
        while true {
            let start = chunkStart + position
            let lineNumber = line
            var bytes: [UInt8] = []
            var foundNewline = false
            while true {
                if position == chunkCount {
                    guard try refill() else { break }
                }
                let base = chunk.baseAddress! + position
                if let end = nextLineBreak() {
                    bytes.append(contentsOf: UnsafeRawBufferPointer(start: base, count: end - position))
                    position = end + 1
                    if chunk[end] == Byte.carriageReturn, try peekByte() == Byte.newline { position += 1 }
                    foundNewline = true
                    break
                }
                bytes.append(contentsOf: UnsafeRawBufferPointer(start: base, count: chunkCount - position))
                position = chunkCount
            }
            line += 1
            if bytes.last == Byte.carriageReturn { bytes.removeLast() }
            if bytes.allSatisfy(Byte.isWhitespace) {
                if foundNewline { continue }
                try finish()
                return nil
            }
            if !foundNewline && !Self.isStructurallyComplete(bytes) {
                truncation = TruncationWarning(
                    file: path, byteOffset: start, droppedBytes: fileSize - start, recordsRecovered: recordCount)
                try finish()
                return nil
            }
            return yield(RawJSONRecord(index: recordCount, byteOffset: start, line: lineNumber, bytes: bytes))
        }
    }

    /// Index in the chunk of the first LF or CR at or after `position`, or nil; each is searched
    /// with `memchr` once per occurrence, not once per line.
    private func nextLineBreak() -> Int? {
        let base = chunk.baseAddress!
        func find(_ byte: UInt8) -> Int {
            guard let found = memchr(base + position, Int32(byte), chunkCount - position) else { return chunkCount }
            return UnsafeRawPointer(found) - UnsafeRawPointer(base)
        }
        if nextLineFeed < position { nextLineFeed = find(Byte.newline) }
        if nextCarriageReturn < position { nextCarriageReturn = find(Byte.carriageReturn) }
        let end = min(nextLineFeed, nextCarriageReturn)
        return end < chunkCount ? end : nil
    }

    /// Whether `bytes` is one bracketed value whose strings and brackets are all closed (a
    /// last line without a newline that is not is a truncated record, not a malformed one).
    static func isStructurallyComplete(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.firstIndex(where: { !Byte.isWhitespace($0) }),
            bytes[first] == Byte.openBrace || bytes[first] == Byte.openBracket
        else { return true }
        var scanner = ElementScanner()
        return bytes.withUnsafeBufferPointer { buffer in
            scanner.begin(at: first)
            guard let end = scanner.scan(buffer.baseAddress!, from: first, to: buffer.count, base: 0) else {
                return false
            }
            return buffer[end...].allSatisfy(Byte.isWhitespace)
        }
    }

    // MARK: - Reading

    private func yield(_ record: RawJSONRecord) -> RawJSONRecord {
        recordCount += 1
        return record
    }

    private func peekByte() throws -> UInt8? {
        if position == chunkCount {
            guard try refill() else { return nil }
        }
        return chunk[position]
    }

    private func skipWhitespace() throws {
        while let byte = try peekByte(), Byte.isWhitespace(byte) {
            scanner.skip(byte, at: chunkStart + position)
            position += 1
        }
        line = scanner.line
    }

    /// Replaces the chunk with the next bytes of the file; false at the end.
    private func refill() throws -> Bool {
        chunkStart += chunkCount
        chunkCount = 0
        position = 0
        nextLineFeed = -1
        nextCarriageReturn = -1
        while chunkCount < chunk.count {
            let count = read(descriptor, chunk.baseAddress! + chunkCount, chunk.count - chunkCount)
            if count < 0 {
                if errno == EINTR { continue }
                throw DataError(
                    .unreadableInput, "read failed (\(String(cString: strerror(errno))))",
                    at: .init(file: path, byteOffset: chunkStart + chunkCount), hint: "check the disk and the file")
            }
            if count == 0 { break }
            chunkCount += count
        }
        bytesRead += chunkCount
        hasher?.update(UnsafeRawBufferPointer(rebasing: chunk[0..<chunkCount]))
        return chunkCount > 0
    }

    private func finish() throws {
        guard !isFinished else { return }
        while try refill() {}
        isFinished = true
        if var hasher { digest = SHA256Hasher.hexString(hasher.finalize()) }
        hasher = nil
    }
}
