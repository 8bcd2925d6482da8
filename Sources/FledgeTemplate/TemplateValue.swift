/// A value a template can see or compute: Python's JSON-like types plus Jinja's undefined,
/// `namespace()` objects and callables.
public indirect enum TemplateValue {
    case none
    /// A missing variable, attribute or item; the text names what was missing (for errors).
    case undefined(String)
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([TemplateValue])
    /// A Python tuple: prints as `(1, 2)`, serialises as a JSON array.
    case tuple([TemplateValue])
    /// A dictionary that keeps insertion order, like Python's `dict`.
    case object(TemplateObject)
    /// A mutable `namespace(...)` object, shared by reference.
    case namespace(TemplateNamespace)
    case function(TemplateFunction)
}

/// An insertion-ordered string-keyed dictionary (Python `dict` order, which `tojson` preserves).
public struct TemplateObject: Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var keys: [String] = []
    private var storage: [String: TemplateValue] = [:]

    public init() {}

    /// Later duplicates overwrite earlier values but keep the first position, like `dict(pairs)`.
    public init(_ pairs: [(String, TemplateValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public init(dictionaryLiteral elements: (String, TemplateValue)...) {
        self.init(elements)
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }
    public var values: [TemplateValue] { keys.map { storage[$0]! } }

    public subscript(key: String) -> TemplateValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public func makeIterator() -> AnyIterator<(key: String, value: TemplateValue)> {
        var index = 0
        return AnyIterator {
            guard index < keys.count else { return nil }
            defer { index += 1 }
            return (keys[index], storage[keys[index]]!)
        }
    }

    /// Order-insensitive, like Python's `dict.__eq__`.
    public static func == (lhs: TemplateObject, rhs: TemplateObject) -> Bool {
        lhs.storage == rhs.storage
    }
}

/// The object `namespace(...)` returns: attributes can be assigned from inside loops
/// (`{% set ns.found = true %}`), which plain variables cannot.
public final class TemplateNamespace {
    public var attributes: TemplateObject

    public init(_ attributes: TemplateObject = [:]) {
        self.attributes = attributes
    }
}

/// Arguments passed to a callable.
public struct CallArguments {
    public var positional: [TemplateValue]
    public var keyword: [(String, TemplateValue)]

    public init(positional: [TemplateValue] = [], keyword: [(String, TemplateValue)] = []) {
        self.positional = positional
        self.keyword = keyword
    }

    /// The argument at `position`, or the keyword argument `name`, or nil.
    public func value(_ position: Int, _ name: String) -> TemplateValue? {
        if position < positional.count { return positional[position] }
        return keyword.first { $0.0 == name }?.1
    }
}

/// A function a template can call: a global such as `raise_exception`, a bound string method or a macro.
public final class TemplateFunction {
    public let name: String
    let body: (CallArguments) throws -> TemplateValue

    /// - Parameter body: receives the call's arguments; throw `TemplateError` to fail the render.
    public init(name: String, _ body: @escaping (CallArguments) throws -> TemplateValue) {
        self.name = name
        self.body = body
    }

    public func call(_ arguments: CallArguments) throws -> TemplateValue {
        try body(arguments)
    }
}

extension TemplateValue: Equatable {
    /// Structural equality (`.int(1) != .double(1)`); templates use Python's rules instead.
    public static func == (lhs: TemplateValue, rhs: TemplateValue) -> Bool {
        switch (lhs, rhs) {
        case (.none, .none): return true
        case (.undefined, .undefined): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.array(let a), .array(let b)), (.tuple(let a), .tuple(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        case (.namespace(let a), .namespace(let b)): return a === b
        case (.function(let a), .function(let b)): return a === b
        default: return false
        }
    }
}

extension TemplateValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: TemplateValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, TemplateValue)...) { self = .object(TemplateObject(elements)) }
    public init(nilLiteral: ()) { self = .none }
}

extension TemplateValue {
    /// Python's `type(x).__name__`, for error messages.
    var typeName: String {
        switch self {
        case .none: return "NoneType"
        case .undefined: return "Undefined"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .tuple: return "tuple"
        case .object: return "dict"
        case .namespace: return "Namespace"
        case .function: return "function"
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python truthiness (`bool(x)`); undefined is false.
    var isTruthy: Bool {
        switch self {
        case .none, .undefined: return false
        case .bool(let value): return value
        case .int(let value): return value != 0
        case .double(let value): return value != 0
        case .string(let value): return !value.isEmpty
        case .array(let items), .tuple(let items): return !items.isEmpty
        case .object(let object): return !object.isEmpty
        case .namespace, .function: return true
        }
    }

    /// Python's `str(x)`, which `{{ x }}` prints; undefined prints as nothing.
    var text: String {
        switch self {
        case .string(let value): return value
        case .undefined: return ""
        default: return repr
        }
    }

    /// Python's `repr(x)`, used inside containers.
    var repr: String {
        switch self {
        case .none: return "None"
        case .undefined: return ""
        case .bool(let value): return value ? "True" : "False"
        case .int(let value): return String(value)
        case .double(let value): return PythonText.repr(value)
        case .string(let value): return PythonText.repr(value)
        case .array(let items): return "[" + items.map(\.repr).joined(separator: ", ") + "]"
        case .tuple(let items):
            return items.count == 1 ? "(\(items[0].repr),)" : "(" + items.map(\.repr).joined(separator: ", ") + ")"
        case .object(let object):
            return "{" + object.map { PythonText.repr($0.key) + ": " + $0.value.repr }.joined(separator: ", ") + "}"
        case .namespace(let namespace):
            return "<Namespace " + TemplateValue.object(namespace.attributes).repr + ">"
        case .function(let function): return "<function \(function.name)>"
        }
    }
}
