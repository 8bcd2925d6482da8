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

/// The state of cutting one array element out of a byte stream: inside a string or not,
/// after a backslash or not, and bracket depth. It survives chunk boundaries.
struct ElementScanner {
    private var depth = 0
    private var inString = false
    private var escaped = false

    /// Scans `p[from..<to]`; returns the index just past the element's end (after its
    /// closing bracket, or at the `,` / `]` that ends a bare value), or nil if the element
    /// goes on past `to`.
    mutating func scan(_ p: UnsafePointer<UInt8>, from: Int, to: Int) -> Int? {
        var i = from
        while i < to {
            if inString {
                if escaped {
                    escaped = false
                    i += 1
                    continue
                }
                // Fast path through the string's plain bytes.
                while i < to, p[i] != Byte.quote, p[i] != Byte.backslash { i += 1 }
                guard i < to else { return nil }
                if p[i] == Byte.backslash { escaped = true } else { inString = false }
                i += 1
                continue
            }
            switch p[i] {
            case Byte.quote:
                inString = true
            case Byte.openBrace, Byte.openBracket:
                depth += 1
            case Byte.closeBrace, Byte.closeBracket:
                if depth > 0 {
                    depth -= 1
                    if depth == 0 { return i + 1 }
                } else if p[i] == Byte.closeBracket {
                    return i
                }
            case Byte.comma:
                if depth == 0 { return i }
            default:
                break
            }
            i += 1
        }
        return nil
    }
}
