import Foundation

extension TemplateValue {
    /// Parses JSON text, keeping object keys in file order (as Python's `json.loads` does, which
    /// matters because `tojson` writes them back in that order). Integers stay `.int`; numbers with
    /// a fraction or exponent become `.double`.
    /// - Throws: `TemplateError.runtime` naming the byte offset of malformed input.
    public init(json: String) throws {
        var parser = JSONParser(bytes: Array(json.utf8))
        parser.skipWhitespace()
        self = try parser.parseValue()
        parser.skipWhitespace()
        guard parser.offset == parser.bytes.count else { throw parser.failure("trailing characters") }
    }

    /// Python's `json.dumps(self, ensure_ascii=False)` (and `indent` when given), as the `tojson`
    /// filter writes it.
    public func jsonString(indent: Int? = nil) throws -> String {
        var options = JSON.Options()
        if let indent {
            options.indent = String(repeating: " ", count: indent)
            options.itemSeparator = ","
        }
        return try JSON.dumps(self, options: options, nil)
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var offset = 0
    /// Open objects and arrays; deeper than `Limits.maxValueDepth` is an error, not a stack overflow.
    var depth = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    func failure(_ message: String) -> TemplateError {
        .runtime("invalid JSON at byte \(offset): \(message)", nil)
    }

    mutating func skipWhitespace() {
        while offset < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[offset]) { offset += 1 }
    }

    private mutating func expect(_ literal: String) throws {
        let expected = Array(literal.utf8)
        guard offset + expected.count <= bytes.count, Array(bytes[offset..<(offset + expected.count)]) == expected
        else {
            throw failure("expected \(literal)")
        }
        offset += expected.count
    }

    mutating func parseValue() throws -> TemplateValue {
        guard offset < bytes.count else { throw failure("unexpected end of input") }
        switch bytes[offset] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < 4 * Limits.maxValueDepth else {
                throw failure("objects and arrays nested deeper than \(4 * Limits.maxValueDepth)")
            }
            depth += 1
            defer { depth -= 1 }
            return bytes[offset] == UInt8(ascii: "{") ? try parseObject() : try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .none
        case UInt8(ascii: "N"): try expect("NaN"); return .double(.nan)
        case UInt8(ascii: "I"): try expect("Infinity"); return .double(.infinity)
        default: return try parseNumber()
        }
    }

    private mutating func parseObject() throws -> TemplateValue {
        offset += 1
        var object = TemplateObject()
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
            offset += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw failure("expected a key") }
            let key = try parseString()
            skipWhitespace()
            try expect(":")
            skipWhitespace()
            object[key] = try parseValue()
            skipWhitespace()
            guard offset < bytes.count else { throw failure("unterminated object") }
            offset += 1
            if bytes[offset - 1] == UInt8(ascii: "}") { return .object(object) }
            guard bytes[offset - 1] == UInt8(ascii: ",") else { throw failure("expected , or }") }
        }
    }

    private mutating func parseArray() throws -> TemplateValue {
        offset += 1
        var items: [TemplateValue] = []
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
            offset += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            guard offset < bytes.count else { throw failure("unterminated array") }
            offset += 1
            if bytes[offset - 1] == UInt8(ascii: "]") { return .array(items) }
            guard bytes[offset - 1] == UInt8(ascii: ",") else { throw failure("expected , or ]") }
        }
    }

    private mutating func parseNumber() throws -> TemplateValue {
        let start = offset
        var isInteger = true
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        if offset + 8 <= bytes.count, String(decoding: bytes[offset..<(offset + 8)], as: UTF8.self) == "Infinity" {
            offset += 8
            return .double(-.infinity)
        }
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                offset += 1
            } else if [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-")]
                .contains(byte)
            {
                isInteger = false
                offset += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        if isInteger, let value = Int(text) { return .int(value) }
        guard let value = Double(text) else { throw failure("bad number '\(text)'") }
        return .double(value)
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard offset + 4 <= bytes.count,
            let value = UInt32(String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self), radix: 16)
        else { throw failure("bad \\u escape") }
        offset += 4
        return value
    }

    private mutating func parseString() throws -> String {
        offset += 1
        var out = String.UnicodeScalarView()
        var runStart = offset
        func flush(_ end: Int) {
            out.append(contentsOf: String(decoding: bytes[runStart..<end], as: UTF8.self).unicodeScalars)
        }
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                flush(offset)
                offset += 1
                return String(out)
            }
            guard byte == UInt8(ascii: "\\") else {
                offset += 1
                continue
            }
            flush(offset)
            offset += 1
            guard offset < bytes.count else { break }
            let escape = bytes[offset]
            offset += 1
            switch escape {
            case UInt8(ascii: "n"): out.append("\n")
            case UInt8(ascii: "t"): out.append("\t")
            case UInt8(ascii: "r"): out.append("\r")
            case UInt8(ascii: "b"): out.append("\u{08}")
            case UInt8(ascii: "f"): out.append("\u{0C}")
            case UInt8(ascii: "u"):
                var value = try parseHex4()
                if (0xD800..<0xDC00).contains(value), offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"),
                    bytes[offset + 1] == UInt8(ascii: "u")
                {
                    offset += 2
                    let low = try parseHex4()
                    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                }
                out.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            default: out.append(Unicode.Scalar(escape))
            }
            runStart = offset
        }
        throw failure("unterminated string")
    }
}
