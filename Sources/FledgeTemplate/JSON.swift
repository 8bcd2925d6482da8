/// JSON in both directions with Python's conventions: an order-keeping parser (so a dict reads
/// back in file order, as `json.loads` does) and `json.dumps` as transformers' `tojson` filter
/// calls it (`ensure_ascii=False` by default, optional `indent`, `separators`, `sort_keys`).
enum JSON {
    struct Options {
        var ensureASCII = false
        var indent: String?
        var itemSeparator = ", "
        var keySeparator = ": "
        var sortKeys = false

        init() {}

        /// `tojson(ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
        init(_ arguments: CallArguments) {
            ensureASCII = arguments.value(0, "ensure_ascii")?.isTruthy ?? false
            switch arguments.value(1, "indent") {
            // Wider than a line of text is a stranger's width: capped (the output is bounded anyway).
            case .int(let width)?: indent = String(repeating: " ", count: min(max(width, 0), 1 << 16))
            case .string(let text)?: indent = text
            default: indent = nil
            }
            if indent != nil { itemSeparator = "," }
            if case .tuple(let pair)? = arguments.value(2, "separators"), pair.count == 2 {
                itemSeparator = pair[0].text
                keySeparator = pair[1].text
            } else if case .array(let pair)? = arguments.value(2, "separators"), pair.count == 2 {
                itemSeparator = pair[0].text
                keySeparator = pair[1].text
            }
            sortKeys = arguments.value(3, "sort_keys")?.isTruthy ?? false
        }
    }

    /// Python's `json.dumps(value, ...)`.
    static func dumps(_ value: TemplateValue, options: Options, _ location: TemplateLocation?) throws -> String {
        var out = ""
        try write(value, options, depth: 0, &out, location)
        return out
    }

    private static func write(
        _ value: TemplateValue, _ options: Options, depth: Int, _ out: inout String, _ location: TemplateLocation?
    ) throws {
        switch value {
        case .none: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .int(let number): out += String(number)
        case .double(let number):
            if number.isNaN {
                out += "NaN"
            } else if number.isInfinite {
                out += number < 0 ? "-Infinity" : "Infinity"
            } else {
                out += PythonText.repr(number)
            }
        case .string(let text): writeString(text, ensureASCII: options.ensureASCII, &out)
        case .array(let items), .tuple(let items):
            try writeContainer("[", "]", items.count, options, depth, &out) { index, out in
                try write(items[index], options, depth: depth + 1, &out, location)
            }
        case .object(let object):
            let keys =
                options.sortKeys
                ? object.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) } : object.keys
            try writeContainer("{", "}", keys.count, options, depth, &out) { index, out in
                writeString(keys[index], ensureASCII: options.ensureASCII, &out)
                out += options.keySeparator
                try write(object[keys[index]]!, options, depth: depth + 1, &out, location)
            }
        case .undefined(let message):
            throw TemplateError.runtime("Object of type Undefined is not JSON serializable (\(message))", location)
        case .namespace, .function:
            throw TemplateError.runtime("Object of type \(value.typeName) is not JSON serializable", location)
        }
    }

    private static func writeContainer(
        _ open: String, _ close: String, _ count: Int, _ options: Options, _ depth: Int, _ out: inout String,
        _ element: (Int, inout String) throws -> Void
    ) throws {
        out += open
        guard count > 0 else {
            out += close
            return
        }
        if let indent = options.indent {
            try Limits.checkLength(indent.utf8.count, times: depth + 1, nil)
        }
        let newline = options.indent.map { "\n" + String(repeating: $0, count: depth + 1) }
        for index in 0..<count {
            if index > 0 { out += options.itemSeparator }
            if let newline { out += newline }
            try element(index, &out)
            try Limits.checkLength(out.utf8.count, times: 1, nil)
        }
        if let indent = options.indent { out += "\n" + String(repeating: indent, count: depth) }
        out += close
    }

    private static let hexDigits = Array("0123456789abcdef".unicodeScalars)

    private static func writeString(_ text: String, ensureASCII: Bool, _ out: inout String) {
        out.unicodeScalars.append("\"")
        func escapeUnit(_ unit: UInt32) {
            out += "\\u"
            for shift in stride(from: 12, through: 0, by: -4) {
                out.unicodeScalars.append(hexDigits[Int((unit >> UInt32(shift)) & 0xF)])
            }
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    escapeUnit(scalar.value)
                } else if ensureASCII && scalar.value > 0x7E {
                    for unit in String(scalar).utf16 { escapeUnit(UInt32(unit)) }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.unicodeScalars.append("\"")
    }
}
