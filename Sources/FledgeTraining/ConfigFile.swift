import Foundation

/// Reading a training config file (JSON, or the flat YAML of ``SimpleYAML``) into a
/// ``TrainingConfiguration``: keys are the flags with underscores (dashes are accepted), a few
/// flag aliases are the same settings, unknown and duplicate keys are errors, and every error
/// names the file, the line and the key.
enum ConfigFile {
    typealias Keys = TrainingConfiguration.CodingKeys

    /// Flag spellings that name the same setting as a key (`--logger` is `logger`, the old key
    /// `loggers` still reads; `--verifier-name-or-path` is `target_model_path`).
    static let aliases = [
        "loggers": "logger", "verifier_name_or_path": "target_model_path", "dtype": "precision",
        "mixed_precision": "precision",
    ]

    /// Keys that take strings: an unquoted YAML value (`run_name: 2024`) is read as its text.
    static let stringKeys: Set<String> = [
        "method", "target_model_path", "data_path", "eval_data_path", "cache_path", "save_path", "run_name",
        "scheduler", "system_prompt", "d2t_path", "t2d_path", "log_dir", "logger", "precision", "target_weights",
    ]

    struct Entry {
        var key: String
        var line: Int
        var value: Any
    }

    static func load(_ url: URL) throws -> TrainingConfiguration {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainingError("\(path): the config file does not exist")
        }
        guard !isDirectory.boolValue else { throw TrainingError("\(path): a folder, not a config file") }
        guard let data = try? Data(contentsOf: url) else { throw TrainingError("\(path): cannot read the config file") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TrainingError("\(path): not UTF-8 text")
        }
        let json =
            url.pathExtension.lowercased() == "json"
            || text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{")
        let raw = json ? try jsonEntries(text, data: data, file: path) : try yamlEntries(text, file: path)
        // Dashes as underscores, aliases, the inverted `no_resume_from_checkpoint`.
        var entries: [Entry] = []
        var lines: [String: (line: Int, written: String)] = [:]
        let known = Set(Keys.allCases.map(\.rawValue))
        var unknown: [String] = []
        for var entry in raw {
            let written = entry.key
            var key = written.replacingOccurrences(of: "-", with: "_")
            key = aliases[key] ?? key
            if key == "no_resume_from_checkpoint" {
                key = Keys.resume.rawValue
                if let number = entry.value as? NSNumber, isBoolean(number) { entry.value = !number.boolValue }
            }
            guard known.contains(key) else {
                unknown.append(entry.line > 0 ? "\(written) (line \(entry.line))" : written)
                continue
            }
            if let previous = lines[key] {
                throw TrainingError(
                    "\(path):\(entry.line): \(written) sets \(key) again (line \(previous.line): \(previous.written))",
                    hint: "give each setting once")
            }
            lines[key] = (entry.line, written)
            entry.key = key
            entries.append(entry)
        }
        guard unknown.isEmpty else {
            let list = unknown.sorted()
            throw TrainingError(
                "\(path): unknown key\(list.count > 1 ? "s" : "") \(list.joined(separator: ", "))",
                hint: "known keys: \(known.sorted().joined(separator: ", "))")
        }
        func located(_ key: String) -> String {
            lines[key].map { "\(path):\($0.line)" } ?? path
        }
        var object: [String: Any] = [:]
        for entry in entries { object[entry.key] = entry.value }
        // The seed is unsigned: a negative one would otherwise fail without naming its key.
        if let seed = object[Keys.seed.rawValue] as? NSNumber, !isBoolean(seed), seed.doubleValue < 0 {
            throw TrainingError("\(located(Keys.seed.rawValue)): seed = \(seed): must be at least 0")
        }
        do {
            let encoded = try JSONSerialization.data(withJSONObject: object)
            return try JSONDecoder().decode(TrainingConfiguration.self, from: encoded)
        } catch let error as TrainingError {
            let key = Keys.allCases.map(\.rawValue).first { error.message.hasPrefix($0 + ":") }
            throw TrainingError("\(key.map(located) ?? path): \(error.message)", hint: error.hint)
        } catch let error as DecodingError {
            let (context, expected): (DecodingError.Context?, String?)
            switch error {
            case .typeMismatch(let type, let c): (context, expected) = (c, describe(type))
            case .valueNotFound(let type, let c): (context, expected) = (c, describe(type))
            case .dataCorrupted(let c): (context, expected) = (c, nil)
            case .keyNotFound(_, let c): (context, expected) = (c, nil)
            @unknown default: (context, expected) = (nil, nil)
            }
            guard let key = context?.codingPath.first?.stringValue else {
                throw TrainingError("\(path): \(context?.debugDescription ?? "\(error)")")
            }
            let value = object[key].map(kind) ?? "nothing"
            let element = (context?.codingPath.count ?? 0) > 1 ? " (an item of the list)" : ""
            if let expected {
                throw TrainingError(
                    "\(located(key)): \(key) has the wrong type\(element) (\(value), expected \(expected))")
            }
            throw TrainingError(
                "\(located(key)): \(key) = \(object[key].map(show) ?? "?") is out of range\(element)"
                    + (context.map { " (\($0.debugDescription))" } ?? ""))
        } catch {
            throw TrainingError("\(path): \(error)")
        }
    }

    /// The entries of a flat JSON object, with the line of each key.
    static func jsonEntries(_ text: String, data: Data, file: String) throws -> [Entry] {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw TrainingError(jsonErrorMessage(detail, text: text, file: file))
        }
        guard let object = parsed as? [String: Any] else {
            throw TrainingError("\(file): not a JSON object (\(kind(parsed)) at the top level)")
        }
        let keyLines = jsonKeyLines(text)
        for (key, found) in keyLines where found.count > 1 {
            throw TrainingError(
                "\(file):\(found[1]): duplicate key \(key) (also on line \(found[0]))", hint: "give each key once")
        }
        return object.map { Entry(key: $0.key, line: keyLines[$0.key]?.first ?? 0, value: $0.value) }
            .sorted { ($0.line, $0.key) < ($1.line, $1.key) }
    }

    /// `file:line: …` for a JSONSerialization error: the line of "around character N", or of a
    /// number that does not fit (with its key).
    static func jsonErrorMessage(_ detail: String, text: String, file: String) -> String {
        let utf8 = Array(text.utf8)
        func line(ofOffset offset: Int) -> Int {
            1 + utf8.prefix(max(0, min(offset, utf8.count))).filter { $0 == UInt8(ascii: "\n") }.count
        }
        if let range = detail.range(of: "character "),
            let offset = Int(detail[range.upperBound...].prefix(while: \.isNumber))
        {
            return "\(file):\(line(ofOffset: offset)): not valid JSON (\(detail))"
        }
        if detail.hasPrefix("Number "), let end = detail.range(of: " is not representable") {
            let number = String(detail[detail.index(detail.startIndex, offsetBy: 7)..<end.lowerBound])
            if let found = text.range(of: number) {
                let offset = text.utf8.distance(from: text.utf8.startIndex, to: found.lowerBound)
                let lineNumber = line(ofOffset: offset)
                let lineText =
                    text.split(separator: "\n", omittingEmptySubsequences: false)
                    .dropFirst(lineNumber - 1).first.map(String.init) ?? ""
                let key = jsonKeyLines("{" + lineText).keys.first.map { "\($0): " } ?? ""
                return "\(file):\(lineNumber): \(key)\(number) is not a finite number "
                    + "(beyond the range of a floating-point number)"
            }
        }
        return "\(file): not valid JSON (\(detail))"
    }

    /// The lines (1-based) of every `"key":` in a JSON text, by key.
    static func jsonKeyLines(_ text: String) -> [String: [Int]] {
        var result: [String: [Int]] = [:]
        var line = 1
        var depth = 0
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if c == "\n" {
                line += 1
            } else if c == "{" || c == "[" {
                depth += 1
            } else if c == "}" || c == "]" {
                depth -= 1
            } else if c == "\"" {
                var j = i + 1
                var key = ""
                while j < scalars.count, scalars[j] != "\"" {
                    if scalars[j] == "\\" { j += 1 } else { key.unicodeScalars.append(scalars[j]) }
                    if j < scalars.count, scalars[j] == "\n" { line += 1 }
                    j += 1
                }
                var k = j + 1
                while k < scalars.count, scalars[k] == " " || scalars[k] == "\t" || scalars[k] == "\r" { k += 1 }
                if k < scalars.count, scalars[k] == ":", depth <= 1 { result[key, default: []].append(line) }
                i = j
            }
            i += 1
        }
        return result
    }

    static func yamlEntries(_ text: String, file: String) throws -> [Entry] {
        try SimpleYAML.parse(text, file: file).map { entry in
            let key = aliases[entry.key.replacingOccurrences(of: "-", with: "_")] ?? entry.key
            let takesString = stringKeys.contains(key.replacingOccurrences(of: "-", with: "_"))
            if entry.nonFinite && !takesString {
                throw TrainingError(
                    "\(file):\(entry.line): \(entry.key): \(entry.text) is not a finite number",
                    hint: "give a finite number")
            }
            var value = entry.value
            // An unquoted number or boolean for a key that takes a string is its text.
            if takesString, !(value is String), !(value is NSNull), !(value is [Any]) { value = entry.text }
            if takesString, let list = value as? [Any] { value = list.map { $0 is String ? $0 : "\($0)" } }
            return Entry(key: entry.key, line: entry.line, value: value)
        }
    }

    static func isBoolean(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    /// The JSON type of a value, as messages name it.
    static func kind(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if let string = value as? String { return "string \"\(string.prefix(40))\"" }
        if value is [Any] { return "list" }
        if value is [String: Any] { return "object" }
        if let number = value as? NSNumber { return isBoolean(number) ? "boolean" : "number \(number)" }
        return "\(type(of: value))"
    }

    static func show(_ value: Any) -> String {
        if let number = value as? NSNumber, !isBoolean(number) { return "\(number)" }
        return kind(value)
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int?.Type: return "an integer"
        case is UInt64.Type: return "a non-negative integer"
        case is Float.Type, is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        case is [Int].Type: return "a list of integers"
        case is [String].Type: return "a list of strings"
        default: return "\(type)"
        }
    }
}
