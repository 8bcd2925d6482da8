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
/// Resynchronisation (docs/data-prepare.md, "Bad input"): a malformed element costs only
/// itself.
/// - A `{` or `[` where an object key belongs (`"x"},{` missing the `}` in between) closes the
///   object(s) left open: if that closes the element, the next element starts at that `{`.
/// - A closing bracket of the wrong kind closes the brackets opened after its match (missing
///   closers).
/// - Anything else that cannot be repaired (a line break inside a string, an unmatched closing
///   bracket, nesting deeper than `maxDepth`) switches to resync mode: the element ends at the
///   next line whose first byte that is not whitespace is a `{` at most as indented as the
///   element's own `{` (or a `]` less indented, the array's end).
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
    private var column = 0
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
        problem = nil
        resyncing = false
        column = offset - lineStart
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
                } else if blankSoFar && !Byte.isWhitespace(byte) {
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
            switch byte {
            case Byte.quote:
                inString = true
                expectKey = false
            case Byte.openBrace, Byte.openBracket:
                if expectKey && containers.last == true {
                    // A value where a key belongs: the object before it lacks its `}`.
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
                } else if let match = containers.lastIndex(of: closesObject) {
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
            blankSoFar = false
            i += 1
        }
        return nil
    }
}
