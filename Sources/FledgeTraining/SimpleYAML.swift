import Foundation

/// A flat YAML subset for config files: `key: value` lines, `#` comments, strings (quoted or
/// not), numbers, booleans, null and `[a, b]` lists.
enum SimpleYAML {
    static func parse(_ text: String, file: String) throws -> [String: Any] {
        var result: [String: Any] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = stripComment(String(raw)).trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line == "---" { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw TrainingError(
                    "\(file):\(index + 1): expected `key: value`", hint: "only flat key: value YAML is supported")
            }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            result[key] = scalar(value)
        }
        return result
    }

    /// The line without a `#` comment (a `#` outside quotes, at the start or after a blank).
    static func stripComment(_ line: String) -> String {
        var quote: Character?
        var previous: Character = " "
        var result = ""
        for character in line {
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#" && (previous == " " || previous == "\t") {
                break
            }
            result.append(character)
            previous = character
        }
        return result
    }

    static func scalar(_ text: String) -> Any {
        if text.hasPrefix("[") && text.hasSuffix("]") {
            return text.dropFirst().dropLast().split(separator: ",").map {
                scalar($0.trimmingCharacters(in: .whitespaces))
            }
        }
        if text.count >= 2,
            (text.hasPrefix("\"") && text.hasSuffix("\"")) || (text.hasPrefix("'") && text.hasSuffix("'"))
        {
            return String(text.dropFirst().dropLast())
        }
        switch text.lowercased() {
        case "true", "yes": return true
        case "false", "no": return false
        case "null", "~", "": return NSNull()
        default: break
        }
        if let integer = Int(text) { return integer }
        if let number = Double(text) { return number }
        return text
    }
}
