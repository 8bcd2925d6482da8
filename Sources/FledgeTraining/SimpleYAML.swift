import Foundation

/// A flat YAML subset for config files: `key: value` lines, `#` comments, strings (quoted or
/// not), numbers, booleans, null and `[a, b]` lists of scalars. Anything else (indented or
/// nested blocks, `- item` lists, `{…}` mappings, block scalars, unterminated quotes or lists)
/// is a syntax error naming the line, and so is a key given twice (naming both lines).
enum SimpleYAML {
    /// One `key: value` line.
    struct Entry {
        var key: String
        /// 1-based.
        var line: Int
        /// String, Int, Double, Bool, NSNull or an array of those.
        var value: Any
        /// The value as written (without quotes), for keys that take strings.
        var text: String
        /// A number that is not finite (`1e400`, `.inf`, `nan`): an error unless the key takes a string.
        var nonFinite: Bool
    }

    static func parse(_ text: String, file: String) throws -> [Entry] {
        var entries: [Entry] = []
        var lines: [String: Int] = [:]
        // CR, LF and CRLF line endings.
        let normalised = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        for (index, raw) in normalised.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            func syntax(_ message: String) -> TrainingError {
                TrainingError(
                    "\(file):\(number): YAML syntax error: \(message)",
                    hint: "config files are flat `key: value` lines; lists are written [a, b]")
            }
            let stripped = try stripComment(String(raw), syntax: syntax)
            let line = stripped.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || (line == "---" && entries.isEmpty) { continue }
            if let first = stripped.first, first == " " || first == "\t" {
                throw syntax("an indented line (nested blocks are not supported)")
            }
            if line.hasPrefix("- ") || line == "-" { throw syntax("a `- item` list (write lists as [a, b])") }
            guard let colon = line.firstIndex(of: ":") else { throw syntax("expected `key: value`") }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty,
                key.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-" })
            else {
                throw syntax("\"\(key)\" is not a key (letters, digits, _ and -)")
            }
            let rest = line[line.index(after: colon)...]
            if let next = rest.first, next != " " && next != "\t" { throw syntax("expected a space after `\(key):`") }
            let valueText = rest.trimmingCharacters(in: .whitespaces)
            if let previous = lines[key] {
                throw TrainingError(
                    "\(file):\(number): duplicate key \(key) (also on line \(previous))",
                    hint: "give each key once")
            }
            lines[key] = number
            let (value, plain, nonFinite) = try scalarOrList(valueText, syntax: syntax)
            entries.append(Entry(key: key, line: number, value: value, text: plain, nonFinite: nonFinite))
        }
        return entries
    }

    /// The line without a `#` comment (a `#` outside quotes, at the start or after a blank).
    static func stripComment(_ line: String, syntax: (String) -> TrainingError) throws -> String {
        var quote: Character?
        var previous: Character = " "
        var result = ""
        for character in line {
            if let open = quote {
                if character == open { quote = nil }
            } else if (character == "\"" || character == "'") && (previous == " " || previous == "[" || previous == ",")
            {
                quote = character
            } else if character == "#" && (previous == " " || previous == "\t") {
                break
            }
            result.append(character)
            previous = character
        }
        if let quote { throw syntax("unterminated \(quote) string") }
        return result
    }

    static func scalarOrList(
        _ text: String, syntax: (String) -> TrainingError
    ) throws -> (value: Any, text: String, nonFinite: Bool) {
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw syntax("unterminated list \(text.prefix(40))") }
            let inner = text.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            if inner.isEmpty { return ([Any](), text, false) }
            var items: [Any] = []
            var nonFinite = false
            for part in inner.split(separator: ",", omittingEmptySubsequences: false) {
                let item = part.trimmingCharacters(in: .whitespaces)
                guard !item.isEmpty else { throw syntax("an empty item in the list \(text.prefix(40))") }
                if item.hasPrefix("[") || item.hasPrefix("{") || item.hasSuffix("]") {
                    throw syntax("nested lists or mappings are not supported")
                }
                let parsed = try scalar(item, syntax: syntax)
                nonFinite = nonFinite || parsed.nonFinite
                items.append(parsed.value)
            }
            return (items, text, nonFinite)
        }
        if text.hasPrefix("{") { throw syntax("`{…}` mappings are not supported") }
        if text.hasPrefix("|") || text.hasPrefix(">") { throw syntax("block scalars (| and >) are not supported") }
        if text.hasPrefix("&") || text.hasPrefix("*") || text.hasPrefix("!") {
            throw syntax("anchors, aliases and tags are not supported")
        }
        return try scalar(text, syntax: syntax)
    }

    static func scalar(
        _ text: String, syntax: (String) -> TrainingError
    ) throws -> (
        value: Any, text: String, nonFinite: Bool
    ) {
        for quote in ["\"", "'"] where text.hasPrefix(quote) {
            guard text.count >= 2, text.hasSuffix(quote) else { throw syntax("unterminated \(quote) string") }
            let inner = String(text.dropFirst().dropLast())
            if inner.contains(quote) { throw syntax("a \(quote) inside a \(quote) string") }
            return (inner, inner, false)
        }
        switch text.lowercased() {
        case "true", "yes": return (true, text, false)
        case "false", "no": return (false, text, false)
        case "null", "~", "": return (NSNull(), text, false)
        case ".inf", "+.inf", "-.inf", ".nan": return (text, text, true)
        default: break
        }
        if let integer = Int(text) { return (integer, text, false) }
        let numeric = text.first.map { $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." } ?? false
        if numeric, let number = Double(text) {
            return number.isFinite ? (number, text, false) : (text, text, true)
        }
        if let number = Double(text), !number.isFinite { return (text, text, true) }
        return (text, text, false)
    }
}
