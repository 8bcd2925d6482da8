/// Byte constants of the JSON grammar.
enum Byte {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let comma = UInt8(ascii: ",")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")

    @inline(__always) static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}

/// The state of cutting array elements out of a byte stream: lines (LF, CR or CRLF), and for
/// the current element whether it is inside a string, after a backslash, its open brackets,
/// and whether it has broken the JSON grammar. It survives chunk boundaries.
///
/// Resynchronisation (docs/data-prepare.md, "Resynchronisation in JSON arrays"): a malformed
/// element costs only itself.
/// - An element that starts its line (pretty-printed, or one per line) ends, malformed, at a
///   line starting with a `{` at most as indented as its own (indented elements only) or a `]`
///   less indented; any grammar error there switches to resync mode.
/// - An element that does not start its line (a one-line array) is repaired: a `{` after a `,`
///   where an object key belongs (`"x"},{` missing the `}` in between) closes the object(s)
///   left open, and if that closes the element the next starts at that `{`; a closing bracket
///   of the wrong kind closes the brackets opened after its match.
/// - Resync mode, for what cannot be repaired (a line break inside a string, an unmatched
///   closing bracket, nesting deeper than `maxDepth`, any error in line mode): the element ends
///   at the next line starting with a `{` at most as indented as the element's own, or a `]`
///   less indented (the array's end).
/// Either way the element is reported as malformed (`problem`), never parsed.
struct ElementScanner {
    /// Brackets deeper than this make the element malformed.
    static let maxDepth = 512

    /// 1-based line of the byte being scanned.
    private(set) var line = 1
    /// File offset of the current line's first byte.
    private var lineStart = 0
    /// File offset of the last carriage return (a line feed right after it ends no line).
    private var lastCarriageReturn = -2
    /// Whether only whitespace has been seen on the current line (outside strings).
    private var blankSoFar = true

    private var containers: [Bool] = []  // true: object
    private var inString = false
    private var escaped = false
    private var expectKey = false
    /// Whether the last byte that is not whitespace was a `,`.
    private var afterComma = false
    private var column = 0
    /// Indentation of the first element that starts its line.
    private var firstColumn: Int?
    /// Whether the element's first byte is the first on its line that is not whitespace (a
    /// pretty-printed array, or one element per line): its boundaries are then lines.
    private var lineMode = false
    /// File offset of the first byte that is not whitespace skipped in resync mode.
    private(set) var skippedContentOffset: Int?
    /// Why the current element is malformed; nil while it is well formed.
    private(set) var problem: String?
    /// Whether the element could not be repaired and the scanner is looking for the next one.
    private(set) var resyncing = false

    /// Starts an element at file offset `offset`.
    mutating func begin(at offset: Int) {
        containers.removeAll(keepingCapacity: true)
        inString = false
        escaped = false
        expectKey = false
        afterComma = false
        problem = nil
        resyncing = false
        skippedContentOffset = nil
        lineMode = blankSoFar
        if lineMode && firstColumn == nil { firstColumn = offset - lineStart }
        // Elements of one array share an indentation: the first one's, when known, so that an
        // element whose start is damaged (`[[[  {`) still ends at the next element's line.
        column = firstColumn ?? (offset - lineStart)
    }

    /// Starts skipping, as after a malformed element, from a `]` at `offset` that is not known
    /// to end the array (bytes follow it); `column` stays the last element's.
    mutating func beginAfterStrayBracket(at offset: Int) {
        containers.removeAll(keepingCapacity: true)
        inString = false
        escaped = false
        expectKey = false
        problem = "a ']' at byte \(offset) (line \(line)) closes the array, but records follow it"
        resyncing = true
        skippedContentOffset = nil
        blankSoFar = false
    }

    /// Notes a byte between elements (whitespace or a comma) at file offset `offset`.
    mutating func skip(_ byte: UInt8, at offset: Int) {
        if byte == Byte.newline || byte == Byte.carriageReturn {
            newline(byte, at: offset)
        } else if !Byte.isWhitespace(byte) {
            blankSoFar = false
        }
    }

    @inline(__always) private mutating func newline(_ byte: UInt8, at offset: Int) {
        lineStart = offset + 1
        blankSoFar = true
        if byte == Byte.newline && lastCarriageReturn == offset - 1 { return }
        line += 1
        if byte == Byte.carriageReturn { lastCarriageReturn = offset }
    }

    private mutating func fail(_ message: String, at offset: Int) {
        if problem == nil { problem = "\(message) at byte \(offset) (line \(line))" }
        resyncing = true
    }

    /// Scans `p[from..<to]`, `p[i]` being the file's byte at offset `base + i`; returns the
    /// index just past the element's end (after its closing bracket, at the `,` / `]` that ends
    /// a bare value, or at the `{` that starts the next element after a malformed one), or nil
    /// if the element goes on past `to`.
    mutating func scan(_ p: UnsafePointer<UInt8>, from: Int, to: Int, base: Int) -> Int? {
        var i = from
        while i < to {
            let byte = p[i]
            if resyncing {
                if byte == Byte.newline || byte == Byte.carriageReturn {
                    newline(byte, at: base + i)
                } else if !Byte.isWhitespace(byte) {
                    if skippedContentOffset == nil { skippedContentOffset = base + i }
                    guard blankSoFar else {
                        i += 1
                        continue
                    }
                    blankSoFar = false
                    let indent = base + i - lineStart
                    if (byte == Byte.openBrace && indent <= column) || (byte == Byte.closeBracket && indent < column) {
                        return i
                    }
                }
                i += 1
                continue
            }
            if inString {
                if escaped {
                    escaped = false
                    i += 1
                    continue
                }
                // Fast path through the string's plain bytes.
                while i < to {
                    let b = p[i]
                    if b == Byte.quote || b == Byte.backslash || b == Byte.newline || b == Byte.carriageReturn { break }
                    i += 1
                }
                guard i < to else { return nil }
                if p[i] == Byte.backslash {
                    escaped = true
                } else if p[i] == Byte.quote {
                    inString = false
                } else {
                    inString = false
                    fail("a line break inside a string (a missing '\"'?)", at: base + i)
                    continue
                }
                i += 1
                continue
            }
            if lineMode && blankSoFar && column > 0 && !containers.isEmpty
                && ((byte == Byte.openBrace && base + i - lineStart <= column)
                    || (byte == Byte.closeBracket && base + i - lineStart < column))
            {
                // The next element's line (or the array's end) while this one is still open.
                if problem == nil { problem = "the record is not closed before line \(line)" }
                return i
            }
            switch byte {
            case Byte.quote:
                inString = true
                expectKey = false
            case Byte.openBrace, Byte.openBracket:
                if expectKey && containers.last == true {
                    // A value where a key belongs.
                    guard !lineMode, byte == Byte.openBrace, afterComma else {
                        fail("a '\(byte == Byte.openBrace ? "{" : "[")' where an object key belongs", at: base + i)
                        continue
                    }
                    // `"x"}, {` without the `}`: the object before it lacks its `}`.
                    if problem == nil { problem = "a '}' is missing before byte \(base + i) (line \(line))" }
                    containers.removeLast()
                    if containers.isEmpty { return i }
                    expectKey = containers.last == true
                    continue
                }
                guard containers.count < Self.maxDepth else {
                    fail("brackets nested deeper than \(Self.maxDepth)", at: base + i)
                    continue
                }
                containers.append(byte == Byte.openBrace)
                expectKey = byte == Byte.openBrace
            case Byte.closeBrace, Byte.closeBracket:
                let closesObject = byte == Byte.closeBrace
                expectKey = false
                if containers.isEmpty {
                    if !closesObject { return i }
                } else if containers.last == closesObject {
                    containers.removeLast()
                    if containers.isEmpty { return i + 1 }
                } else if !lineMode, let match = containers.lastIndex(of: closesObject) {
                    if problem == nil {
                        problem =
                            "a '\(containers.last == true ? "}" : "]")' is missing before byte \(base + i) "
                            + "(line \(line))"
                    }
                    containers.removeSubrange(match...)
                    if containers.isEmpty { return i + 1 }
                } else {
                    fail("an unmatched '\(closesObject ? "}" : "]")'", at: base + i)
                    continue
                }
            case Byte.comma:
                if containers.isEmpty { return i }
                expectKey = containers.last == true
                afterComma = true
                blankSoFar = false
                i += 1
                continue
            case Byte.newline, Byte.carriageReturn:
                newline(byte, at: base + i)
                i += 1
                continue
            case 0x20, 0x09:
                i += 1
                continue
            default:
                expectKey = false
            }
            afterComma = false
            blankSoFar = false
            i += 1
        }
        return nil
    }
}
