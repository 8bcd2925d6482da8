/// Python methods reachable from templates (`text.strip()`, `message.get('x')`, `d.items()`), with
/// the ImmutableSandboxedEnvironment rule that mutating methods (`list.append`, `dict.update`, …)
/// are unsafe.
extension Interpreter {
    private static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
        "title", "capitalize", "replace", "find", "rfind", "count", "join", "isdigit", "isalpha", "isalnum",
        "isspace", "islower", "isupper", "removeprefix", "removesuffix",
    ]
    private static let dictMethods: Set<String> = ["get", "items", "keys", "values", "copy"]
    private static let listMethods: Set<String> = ["count", "index", "copy"]
    private static let unsafeMethods: [String: Set<String>] = [
        "list": ["append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"],
        "dict": ["clear", "pop", "popitem", "setdefault", "update"],
    ]

    static func isMethod(_ name: String, of value: TemplateValue) -> Bool {
        switch value {
        case .string: return stringMethods.contains(name)
        case .object: return dictMethods.contains(name)
        case .array: return listMethods.contains(name)
        default: return false
        }
    }

    static func isUnsafeMethod(_ name: String, of value: TemplateValue) -> Bool {
        unsafeMethods[value.typeName]?.contains(name) ?? false
    }

    /// Calls `receiver.name(arguments)` if it is a known method; nil otherwise.
    func callMethod(
        _ name: String, on receiver: TemplateValue, _ arguments: CallArguments, _ location: TemplateLocation
    )
        throws -> TemplateValue?
    {
        switch receiver {
        case .string(let text) where Interpreter.stringMethods.contains(name):
            return try stringMethod(name, text, arguments, location)
        case .object(let object) where Interpreter.dictMethods.contains(name):
            switch name {
            case "get":
                return object[try string(arguments, 0, "key", location) ?? ""] ?? arguments.value(1, "default")
                    ?? TemplateValue.none
            case "items": return .array(object.map { .tuple([.string($0.key), $0.value]) })
            case "keys": return .array(object.keys.map(TemplateValue.string))
            case "values": return .array(object.values)
            default: return receiver
            }
        case .array(let items) where Interpreter.listMethods.contains(name):
            let needle = arguments.value(0, "value") ?? TemplateValue.none
            switch name {
            case "count": return .int(items.filter { $0.pythonEquals(needle) }.count)
            case "index":
                guard let found = items.firstIndex(where: { $0.pythonEquals(needle) }) else {
                    throw TemplateError.runtime("\(needle.repr) is not in list", location)
                }
                return .int(found)
            default: return receiver
            }
        default:
            return nil
        }
    }

    private func string(
        _ arguments: CallArguments, _ position: Int, _ name: String, _ location: TemplateLocation
    )
        throws -> String?
    {
        switch arguments.value(position, name) {
        case nil, .none?: return nil
        case .string(let text)?: return text
        case let other?: throw TemplateError.runtime("expected a string argument, got '\(other.typeName)'", location)
        }
    }

    private func int(_ arguments: CallArguments, _ position: Int, _ name: String, _ fallback: Int) -> Int {
        if case .int(let value)? = arguments.value(position, name) { return value }
        return fallback
    }

    private func stringMethod(
        _ name: String, _ text: String, _ arguments: CallArguments, _ location: TemplateLocation
    )
        throws -> TemplateValue
    {
        switch name {
        case "strip", "lstrip", "rstrip":
            let characters = try string(arguments, 0, "chars", location)
            return .string(
                PythonString.strip(text, characters, leading: name != "rstrip", trailing: name != "lstrip"))
        case "split", "rsplit":
            let separator = try string(arguments, 0, "sep", location)
            if separator == "" { throw TemplateError.runtime("empty separator", location) }
            let limit = int(arguments, 1, "maxsplit", -1)
            let parts =
                name == "split"
                ? PythonString.split(text, separator, maxSplit: limit)
                : PythonString.rsplit(text, separator, maxSplit: limit)
            return .array(parts.map(TemplateValue.string))
        case "splitlines":
            return .array(PythonString.splitLines(text).map(TemplateValue.string))
        case "startswith", "endswith":
            let candidates: [TemplateValue]
            switch arguments.value(0, name == "startswith" ? "prefix" : "suffix") {
            case .tuple(let items)?, .array(let items)?: candidates = items
            case let single?: candidates = [single]
            case nil: throw TemplateError.runtime("\(name)() takes at least 1 argument (0 given)", location)
            }
            let scalars = Array(text.unicodeScalars)
            for candidate in candidates {
                guard case .string(let affix) = candidate else {
                    throw TemplateError.runtime("\(name) first arg must be str or a tuple of str", location)
                }
                let needle = Array(affix.unicodeScalars)
                let matches =
                    name == "startswith"
                    ? scalars.starts(with: needle) : scalars.reversed().starts(with: needle.reversed())
                if matches { return .bool(true) }
            }
            return .bool(false)
        case "upper": return .string(text.uppercased())
        case "lower": return .string(text.lowercased())
        case "title": return .string(PythonString.title(text))
        case "capitalize": return .string(PythonString.capitalize(text))
        case "replace":
            guard let old = try string(arguments, 0, "old", location),
                let new = try string(arguments, 1, "new", location)
            else { throw TemplateError.runtime("replace() takes two string arguments", location) }
            try Limits.checkLength(new.utf8.count, times: text.unicodeScalars.count + 1, location)
            return .string(PythonString.replace(text, old, new, count: int(arguments, 2, "count", -1)))
        case "find", "rfind", "count":
            let needle = Array((try string(arguments, 0, "sub", location) ?? "").unicodeScalars)
            let haystack = Array(text.unicodeScalars)
            if name == "count" { return .int(PythonString.count(needle, in: haystack)) }
            let found =
                name == "find" ? PythonString.find(needle, in: haystack) : PythonString.rfind(needle, in: haystack)
            return .int(found ?? -1)
        case "join":
            let items = try (arguments.value(0, "iterable") ?? .array([])).iterated(location)
            try Limits.checkJoin(items.map(\.text), text, location)
            return .string(
                try items.map { item -> String in
                    guard case .string(let piece) = item else {
                        throw TemplateError.runtime(
                            "sequence item: expected str instance, \(item.typeName) found", location)
                    }
                    return piece
                }.joined(separator: text))
        case "removeprefix", "removesuffix":
            let affix = try string(arguments, 0, name == "removeprefix" ? "prefix" : "suffix", location) ?? ""
            if name == "removeprefix", text.unicodeScalars.starts(with: affix.unicodeScalars), !affix.isEmpty {
                return .string(
                    String(String.UnicodeScalarView(text.unicodeScalars.dropFirst(affix.unicodeScalars.count))))
            }
            if name == "removesuffix", !affix.isEmpty,
                text.unicodeScalars.reversed().starts(with: affix.unicodeScalars.reversed())
            {
                return .string(
                    String(String.UnicodeScalarView(text.unicodeScalars.dropLast(affix.unicodeScalars.count))))
            }
            return .string(text)
        default:
            return .bool(characterTest(name, text))
        }
    }

    /// `isdigit`, `isalpha`, `isalnum`, `isspace`, `islower`, `isupper`.
    private func characterTest(_ name: String, _ text: String) -> Bool {
        let scalars = text.unicodeScalars
        switch name {
        case "isdigit": return !scalars.isEmpty && scalars.allSatisfy { $0.properties.numericType != nil }
        case "isalpha": return !scalars.isEmpty && scalars.allSatisfy { $0.properties.isAlphabetic }
        case "isalnum":
            return !scalars.isEmpty
                && scalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil }
        case "isspace": return !scalars.isEmpty && scalars.allSatisfy(PythonText.isSpace)
        case "islower":
            return scalars.contains { $0.properties.isCased } && text == text.lowercased()
        case "isupper":
            return scalars.contains { $0.properties.isCased } && text == text.uppercased()
        default: return false
        }
    }
}
