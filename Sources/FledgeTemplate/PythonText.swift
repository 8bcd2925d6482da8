import Foundation

/// Python's text conventions, which Jinja2 inherits: `repr()` of strings and floats, `str.isspace`,
/// string-literal escapes. Strings are handled as Unicode scalars (Python code points), never as
/// Swift `Character`s, so lengths, slices and comparisons match CPython.
enum PythonText {
    /// Python's `str.isspace()` for one code point.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0: return true
        default: return scalar.value > 0xFF && scalar.properties.isWhitespace
        }
    }

    /// Decodes the body of a string literal like `value.encode("ascii", "backslashreplace")
    /// .decode("unicode-escape")` in Jinja2's lexer. Unknown escapes keep their backslash.
    static func unescape(_ body: [Unicode.Scalar], at location: TemplateLocation) throws -> String {
        var out = String.UnicodeScalarView()
        var index = 0
        func hex(_ count: Int) throws -> Unicode.Scalar {
            guard index + count <= body.count,
                body[index..<(index + count)].allSatisfy({ $0.properties.isASCIIHexDigit }),
                let value = UInt32(String(String.UnicodeScalarView(body[index..<(index + count)])), radix: 16),
                let scalar = Unicode.Scalar(value)
            else { throw TemplateError.syntax("truncated \\x, \\u or \\U escape in string", location) }
            index += count
            return scalar
        }
        while index < body.count {
            let scalar = body[index]
            index += 1
            guard scalar == "\\", index < body.count else {
                out.append(scalar)
                continue
            }
            let escape = body[index]
            index += 1
            switch escape {
            case "\n": break
            case "\\", "'", "\"": out.append(escape)
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "x": out.append(try hex(2))
            case "u": out.append(try hex(4))
            case "U": out.append(try hex(8))
            case "0"..."7":
                var value = escape.value - 48
                var digits = 1
                while digits < 3, index < body.count, ("0"..."7").contains(body[index]) {
                    value = value * 8 + body[index].value - 48
                    index += 1
                    digits += 1
                }
                out.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            case "N":
                guard index < body.count, body[index] == "{", let close = body[index...].firstIndex(of: "}") else {
                    throw TemplateError.syntax("malformed \\N character escape in string", location)
                }
                let name = String(String.UnicodeScalarView(body[(index + 1)..<close]))
                guard let named = namedScalar(name) else {
                    throw TemplateError.syntax("unknown Unicode character name '\(name)' in string", location)
                }
                out.append(named)
                index = close + 1
            default:
                out.append("\\")
                out.append(escape)
            }
        }
        return String(out)
    }

    private static func namedScalar(_ name: String) -> Unicode.Scalar? {
        let transformed = "\\N{\(name.uppercased())}".applyingTransform(StringTransform("Name-Any"), reverse: false)
        guard let transformed, transformed.unicodeScalars.count == 1 else { return nil }
        return transformed.unicodeScalars.first
    }

    /// Python's `repr(str)`: single quotes unless the text holds `'` and no `"`.
    static func repr(_ text: String) -> String {
        let useDouble = text.unicodeScalars.contains("'") && !text.unicodeScalars.contains("\"")
        let quote: Unicode.Scalar = useDouble ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case quote: out.append("\\"); out.append(quote)
            default:
                if isPrintable(scalar) {
                    out.append(scalar)
                } else if scalar.value < 0x100 {
                    out.append(contentsOf: String(format: "\\x%02x", scalar.value).unicodeScalars)
                } else if scalar.value < 0x10000 {
                    out.append(contentsOf: String(format: "\\u%04x", scalar.value).unicodeScalars)
                } else {
                    out.append(contentsOf: String(format: "\\U%08x", scalar.value).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }

    /// Python's `str.isprintable()` for one code point: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs
    /// (except the ASCII space).
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator,
            .spaceSeparator:
            return false
        default: return true
        }
    }

    /// Python's `repr(float)`: shortest round-trip digits, fixed notation for exponents in
    /// [-4, 16), otherwise `1e+16` style; always shows a fractional part in fixed notation.
    static func repr(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        let (negative, digits, exponent) = shortestDigits(value)
        let sign = negative ? "-" : ""
        if exponent >= -4 && exponent < 16 {
            if exponent < 0 {
                return sign + "0." + String(repeating: "0", count: -exponent - 1) + digits
            }
            if digits.count <= exponent + 1 {
                return sign + digits + String(repeating: "0", count: exponent + 1 - digits.count) + ".0"
            }
            let split = digits.index(digits.startIndex, offsetBy: exponent + 1)
            return sign + digits[..<split] + "." + digits[split...]
        }
        let mantissa = digits.count == 1 ? digits : String(digits.prefix(1)) + "." + digits.dropFirst()
        let exponentText = String(format: "%@%02d", exponent < 0 ? "-" : "+", abs(exponent))
        return sign + mantissa + "e" + exponentText
    }

    /// Shortest round-trip decimal digits (no leading/trailing zeros) and the decimal exponent of the
    /// first digit, taken from Swift's own shortest representation.
    private static func shortestDigits(_ value: Double) -> (Bool, String, Int) {
        var text = "\(abs(value))"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let integerPart = String(parts[0])
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = integerPart + fraction
        var pointExponent = integerPart.count - 1 + exponent
        while digits.hasPrefix("0") && digits.count > 1 {
            digits.removeFirst()
            pointExponent -= 1
        }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        return (value < 0, digits, pointExponent)
    }
}
