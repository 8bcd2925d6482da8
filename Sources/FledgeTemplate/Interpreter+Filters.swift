import Foundation

/// Jinja's built-in filters that chat templates use (pallets/jinja `src/jinja2/filters.py`,
/// 3.1.6), plus transformers' `tojson` (`json.dumps(x, ensure_ascii=False, indent=…)`).
extension Interpreter {
    // swift-format-ignore: the filter table is one switch by design.
    func applyFilter(
        _ name: String, _ value: TemplateValue, _ arguments: CallArguments, _ location: TemplateLocation
    )
        throws -> TemplateValue
    {
        let argument = { (position: Int, name: String) in arguments.value(position, name) }
        switch name {
        case "trim":
            let characters: String? = if case .string(let text)? = argument(0, "chars") { text } else { nil }
            return .string(PythonString.strip(value.text, characters, leading: true, trailing: true))
        case "length", "count":
            return .int(try value.length(location))
        case "string":
            return .string(value.text)
        case "default", "d":
            let fallback = argument(0, "default_value") ?? .string("")
            let useTruthiness = argument(1, "boolean")?.isTruthy ?? false
            return value.isUndefined || (useTruthiness && !value.isTruthy) ? fallback : value
        case "tojson":
            return .string(try JSON.dumps(value, options: JSON.Options(arguments), location))
        case "join":
            var items = try value.iterated(location)
            if let attribute = argument(1, "attribute") {
                items = try items.map { try lookup(attribute, in: $0, location) }
            }
            let pieces = items.map(\.text)
            let separator = argument(0, "d")?.text ?? ""
            try Limits.checkJoin(pieces, separator, location)
            return .string(pieces.joined(separator: separator))
        case "upper": return .string(value.text.uppercased())
        case "lower": return .string(value.text.lowercased())
        case "capitalize": return .string(PythonString.capitalize(value.text))
        case "title": return .string(titleFilter(value.text))
        case "replace":
            let count: Int = if case .int(let limit)? = argument(2, "count") { limit } else { -1 }
            let old = argument(0, "old")?.text ?? ""
            let new = argument(1, "new")?.text ?? ""
            try Limits.checkLength(new.utf8.count, times: value.text.unicodeScalars.count + 1, location)
            return .string(PythonString.replace(value.text, old, new, count: count))
        case "first":
            return try value.iterated(location).first ?? .undefined("no first item, sequence was empty")
        case "last":
            return try value.iterated(location).last ?? .undefined("no last item, sequence was empty")
        case "list":
            return .array(try value.iterated(location))
        case "reverse":
            if case .string(let text) = value {
                return .string(String(String.UnicodeScalarView(text.unicodeScalars.reversed())))
            }
            return .array(try value.iterated(location).reversed())
        case "items":
            guard case .object(let object) = value else {
                if value.isUndefined { return .array([]) }
                throw TemplateError.runtime("can only get item pairs from a mapping", location)
            }
            return .array(object.map { .tuple([.string($0.key), $0.value]) })
        case "dictsort":
            guard case .object(let object) = value else {
                throw TemplateError.runtime("dictsort filter only works on dicts", location)
            }
            let sorted = try object.map { TemplateValue.tuple([.string($0.key), $0.value]) }.sortedStable {
                try ignoringCase($0.firstItem).pythonLess(ignoringCase($1.firstItem), location)
            }
            return .array(argument(1, "by")?.text == "value" ? try sortPairsByValue(object, location) : sorted)
        case "sort":
            return .array(try sortFilter(value, arguments, location))
        case "unique":
            var seen: [TemplateValue] = []
            for item in try value.iterated(location) {
                let key = ignoringCase(item)
                if !seen.contains(where: { ignoringCase($0).pythonEquals(key) }) { seen.append(item) }
            }
            return .array(seen)
        case "min", "max":
            let items = try sortFilter(value, CallArguments(keyword: arguments.keyword), location)
            return (name == "min" ? items.first : items.last) ?? .undefined("no \(name) item, sequence was empty")
        case "sum":
            var total = argument(1, "start") ?? .int(0)
            for var item in try value.iterated(location) {
                if let attribute = argument(0, "attribute") { item = try lookup(attribute, in: item, location) }
                total = try TemplateValue.binary(.add, total, item, location)
            }
            return total
        case "map":
            return .array(try mapFilter(value, arguments, location))
        case "select", "reject", "selectattr", "rejectattr":
            return .array(try selectFilter(name, value, arguments, location))
        case "int":
            return intFilter(value, fallback: argument(0, "default") ?? .int(0))
        case "float":
            return floatFilter(value) ?? argument(0, "default") ?? .double(0)
        case "abs":
            switch value {
            case .int(let number): return .int(abs(number))
            case .double(let number): return .double(abs(number))
            case .bool(let flag): return .int(flag ? 1 : 0)
            default: throw TemplateError.runtime("bad operand type for abs(): '\(value.typeName)'", location)
            }
        case "round":
            return try roundFilter(value, arguments, location)
        case "indent":
            return .string(try indentFilter(value.text, arguments, location))
        case "safe":
            return value
        case "e", "escape":
            return .string(htmlEscape(value.text))
        case "attr":
            return try attribute(argument(0, "name")?.text ?? "", of: value, location)
        case "wordcount":
            return .int(PythonString.split(value.text, nil, maxSplit: -1).count)
        case "center":
            let width: Int = if case .int(let number)? = argument(0, "width") { number } else { 80 }
            let text = value.text
            let padding = width > text.unicodeScalars.count ? width - text.unicodeScalars.count : 0
            try Limits.checkLength(padding, times: 1, location)
            let left = padding / 2 + (padding & width & 1)
            return .string(String(repeating: " ", count: left) + text + String(repeating: " ", count: padding - left))
        default:
            throw TemplateError.runtime("no filter named '\(name)'", location)
        }
    }

    /// `make_attrgetter`: dotted path, integer parts as indices, looked up with `getitem`.
    func lookup(
        _ attribute: TemplateValue, in value: TemplateValue, _ location: TemplateLocation
    ) throws -> TemplateValue {
        if case .int = attribute { return try item(attribute, of: value, location) }
        var current = value
        for part in attribute.text.split(separator: ".", omittingEmptySubsequences: false) {
            let key: TemplateValue = Int(part).map(TemplateValue.int) ?? .string(String(part))
            current = try item(key, of: current, location)
        }
        return current
    }

    private func ignoringCase(_ value: TemplateValue) -> TemplateValue {
        if case .string(let text) = value { return .string(text.lowercased()) }
        return value
    }

    private func sortPairsByValue(_ object: TemplateObject, _ location: TemplateLocation) throws -> [TemplateValue] {
        try object.map { TemplateValue.tuple([.string($0.key), $0.value]) }.sortedStable {
            guard case .tuple(let a) = $0, case .tuple(let b) = $1 else { return false }
            return try ignoringCase(a[1]).pythonLess(ignoringCase(b[1]), location)
        }
    }

    private func sortFilter(
        _ value: TemplateValue, _ arguments: CallArguments, _ location: TemplateLocation
    ) throws
        -> [TemplateValue]
    {
        let reverse = arguments.value(0, "reverse")?.isTruthy ?? false
        let caseSensitive = arguments.value(1, "case_sensitive")?.isTruthy ?? false
        let attribute = arguments.value(2, "attribute")
        let key = { (item: TemplateValue) throws -> TemplateValue in
            let extracted = try attribute.map { try self.lookup($0, in: item, location) } ?? item
            return caseSensitive ? extracted : self.ignoringCase(extracted)
        }
        let keyed = try value.iterated(location).map { (try key($0), $0) }
        // Python's sort is stable, and reverse=True keeps equal items in their original order.
        return try keyed.sortedStable { a, b in
            reverse ? try b.0.pythonLess(a.0, location) : try a.0.pythonLess(b.0, location)
        }.map(\.1)
    }

    private func mapFilter(
        _ value: TemplateValue, _ arguments: CallArguments, _ location: TemplateLocation
    ) throws
        -> [TemplateValue]
    {
        let items = try value.iterated(location)
        if arguments.positional.isEmpty, let attribute = arguments.value(0, "attribute") {
            let fallback = arguments.keyword.first { $0.0 == "default" }?.1
            return try items.map { item in
                let found = try lookup(attribute, in: item, location)
                if found.isUndefined, let fallback { return fallback }
                return found
            }
        }
        guard case .string(let filter)? = arguments.positional.first else {
            throw TemplateError.runtime("map requires a filter argument", location)
        }
        let rest = CallArguments(positional: Array(arguments.positional.dropFirst()), keyword: arguments.keyword)
        return try items.map { try applyFilter(filter, $0, rest, location) }
    }

    private func selectFilter(
        _ name: String, _ value: TemplateValue, _ arguments: CallArguments, _ location: TemplateLocation
    )
        throws -> [TemplateValue]
    {
        guard value.isTruthy else { return [] }
        let byAttribute = name.hasSuffix("attr")
        let keep = name.hasPrefix("select")
        let offset = byAttribute ? 1 : 0
        if byAttribute && arguments.positional.isEmpty {
            throw TemplateError.runtime("missing parameter for attribute name", location)
        }
        let test = arguments.positional.count > offset ? arguments.positional[offset].text : nil
        let testArguments = CallArguments(
            positional: Array(arguments.positional.dropFirst(offset + 1)), keyword: arguments.keyword)
        return try value.iterated(location).filter { item in
            let subject = byAttribute ? try lookup(arguments.positional[0], in: item, location) : item
            let passed = try test.map { try applyTest($0, subject, testArguments, location) } ?? subject.isTruthy
            return passed == keep
        }
    }

    private func intFilter(_ value: TemplateValue, fallback: TemplateValue) -> TemplateValue {
        switch value {
        case .int: return value
        case .bool(let flag): return .int(flag ? 1 : 0)
        case .double(let number): return Int(exactly: number.rounded(.towardZero)).map(TemplateValue.int) ?? fallback
        case .string(let text):
            let trimmed = PythonString.strip(text, nil, leading: true, trailing: true).replacingOccurrences(
                of: "_", with: "")
            if let number = Int(trimmed) { return .int(number) }
            if let number = Double(trimmed), let value = Int(exactly: number.rounded(.towardZero)) {
                return .int(value)
            }
            return fallback
        default: return fallback
        }
    }

    private func floatFilter(_ value: TemplateValue) -> TemplateValue? {
        switch value {
        case .int(let number): return .double(Double(number))
        case .double: return value
        case .bool(let flag): return .double(flag ? 1 : 0)
        case .string(let text):
            return Double(PythonString.strip(text, nil, leading: true, trailing: true)).map(TemplateValue.double)
        default: return nil
        }
    }

    /// Python's `round(x, n)` (round half to even on the decimal value), or `ceil`/`floor`.
    private func roundFilter(
        _ value: TemplateValue, _ arguments: CallArguments, _ location: TemplateLocation
    ) throws
        -> TemplateValue
    {
        let number: Double
        switch value {
        case .int(let integer): number = Double(integer)
        case .double(let double): number = double
        case .bool(let flag): number = flag ? 1 : 0
        default: throw TemplateError.runtime("round filter needs a number, got '\(value.typeName)'", location)
        }
        let precision: Int = if case .int(let digits)? = arguments.value(0, "precision") { digits } else { 0 }
        let method = arguments.value(1, "method")?.text ?? "common"
        let scale = pow(10, Double(precision))
        switch method {
        case "ceil": return .double((number * scale).rounded(.up) / scale)
        case "floor": return .double((number * scale).rounded(.down) / scale)
        case "common":
            // CPython rounds the exact decimal expansion; formatting to `precision` digits does the same.
            let formatted = String(format: "%.\(max(precision, 0))f", number)
            return .double(
                precision >= 0 ? Double(formatted) ?? number : (number * scale).rounded(.toNearestOrEven) / scale)
        default: throw TemplateError.runtime("method must be common, ceil or floor", location)
        }
    }

    /// `indent(width=4, first=False, blank=False)`, with Jinja's trailing-newline quirk.
    private func indentFilter(
        _ text: String, _ arguments: CallArguments, _ location: TemplateLocation
    ) throws -> String {
        let indention: String
        switch arguments.value(0, "width") {
        case .string(let custom)?: indention = custom
        case .int(let width)?:
            try Limits.checkLength(width, times: 1, location)
            indention = String(repeating: " ", count: max(width, 0))
        default: indention = "    "
        }
        let first = arguments.value(1, "first")?.isTruthy ?? false
        let blank = arguments.value(2, "blank")?.isTruthy ?? false
        var lines = PythonString.splitLines(text + "\n")
        try Limits.checkLength(indention.utf8.count, times: lines.count, location)
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + indention)
        } else {
            result = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty {
                result += "\n" + lines.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n")
            }
        }
        return first ? indention + result : result
    }

    /// Jinja's `title` filter: capitalise after `-`, whitespace, `(`, `{`, `[` and `<`.
    private func titleFilter(_ text: String) -> String {
        var out = ""
        var atWordStart = true
        for scalar in text.unicodeScalars {
            let isBoundary =
                scalar == "-" || scalar == "(" || scalar == "{" || scalar == "[" || scalar == "<"
                || PythonText.isSpace(scalar)
            out += isBoundary ? String(scalar) : atWordStart ? String(scalar).uppercased() : String(scalar).lowercased()
            atWordStart = isBoundary
        }
        return out
    }

    private func htmlEscape(_ text: String) -> String {
        var out = ""
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }
}

extension TemplateValue {
    fileprivate var firstItem: TemplateValue {
        if case .tuple(let items) = self, let first = items.first { return first }
        return self
    }
}

extension Array {
    /// A stable merge sort that lets the comparison throw.
    func sortedStable(by less: (Element, Element) throws -> Bool) throws -> [Element] {
        guard count > 1 else { return self }
        let middle = count / 2
        let left = try Array(self[..<middle]).sortedStable(by: less)
        let right = try Array(self[middle...]).sortedStable(by: less)
        var merged: [Element] = []
        merged.reserveCapacity(count)
        var i = 0
        var j = 0
        while i < left.count && j < right.count {
            if try less(right[j], left[i]) {
                merged.append(right[j])
                j += 1
            } else {
                merged.append(left[i])
                i += 1
            }
        }
        merged.append(contentsOf: left[i...])
        merged.append(contentsOf: right[j...])
        return merged
    }
}
