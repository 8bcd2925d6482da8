import Foundation

/// Python semantics of Jinja's operators: arithmetic, comparison, membership, iteration, slicing.
extension TemplateValue {
    /// An int or float view of numbers and booleans (Python's `bool` is an `int`).
    private enum Number {
        case int(Int)
        case double(Double)

        var double: Double {
            switch self {
            case .int(let value): return Double(value)
            case .double(let value): return value
            }
        }
    }

    private var number: Number? {
        switch self {
        case .int(let value): return .int(value)
        case .bool(let value): return .int(value ? 1 : 0)
        case .double(let value): return .double(value)
        default: return nil
        }
    }

    private static func unsupported(
        _ symbol: String, _ a: TemplateValue, _ b: TemplateValue, _ location: TemplateLocation
    )
        -> TemplateError
    {
        if case .undefined(let message) = a { return .runtime(message, location) }
        if case .undefined(let message) = b { return .runtime(message, location) }
        if symbol == "+", case .string = a {
            return .runtime("can only concatenate str (not \"\(b.typeName)\") to str", location)
        }
        return .runtime("unsupported operand type(s) for \(symbol): '\(a.typeName)' and '\(b.typeName)'", location)
    }

    static func binary(
        _ op: BinaryOperator, _ a: TemplateValue, _ b: TemplateValue, _ location: TemplateLocation
    )
        throws -> TemplateValue
    {
        if op == .concat { return .string(a.text + b.text) }
        if let x = a.number, let y = b.number { return try arithmetic(op, x, y, location) }
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)): return .string(x + y)
        case (.add, .array(let x), .array(let y)): return .array(x + y)
        case (.add, .tuple(let x), .tuple(let y)): return .tuple(x + y)
        case (.multiply, .string(let text), _), (.multiply, _, .string(let text)):
            guard case .int(let count)? = (a.number != nil ? a.number : b.number) else { break }
            try Limits.checkLength(text.utf8.count, times: count, location)
            return .string(String(repeating: text, count: max(count, 0)))
        case (.multiply, .array(let items), _), (.multiply, _, .array(let items)):
            guard case .int(let count)? = (a.number != nil ? a.number : b.number) else { break }
            try Limits.checkLength(items.count, times: count, location, limit: Limits.maxItems)
            return .array(Array(repeating: items, count: max(count, 0)).flatMap { $0 })
        default: break
        }
        throw unsupported(op.rawValue, a, b, location)
    }

    private static func arithmetic(
        _ op: BinaryOperator, _ a: Number, _ b: Number, _ location: TemplateLocation
    ) throws
        -> TemplateValue
    {
        func overflow() -> TemplateError { .runtime("integer overflow in '\(op.rawValue)'", location) }
        let divisionByZero = TemplateError.runtime(
            op == .divide ? "division by zero" : "integer division or modulo by zero", location)
        if case .int(let x) = a, case .int(let y) = b {
            switch op {
            case .add:
                let (result, overflowed) = x.addingReportingOverflow(y)
                if overflowed { throw overflow() }
                return .int(result)
            case .subtract:
                let (result, overflowed) = x.subtractingReportingOverflow(y)
                if overflowed { throw overflow() }
                return .int(result)
            case .multiply:
                let (result, overflowed) = x.multipliedReportingOverflow(by: y)
                if overflowed { throw overflow() }
                return .int(result)
            case .divide:
                guard y != 0 else { throw divisionByZero }
                return .double(Double(x) / Double(y))
            case .floorDivide:
                guard y != 0 else { throw divisionByZero }
                let quotient = x / y
                return .int((x % y != 0 && (x < 0) != (y < 0)) ? quotient - 1 : quotient)
            case .modulo:
                guard y != 0 else { throw divisionByZero }
                let remainder = x % y
                return .int(remainder != 0 && (remainder < 0) != (y < 0) ? remainder + y : remainder)
            case .power:
                if y < 0 { return .double(pow(Double(x), Double(y))) }
                // Exponentiation by squaring: O(log y) steps, whatever y is.
                var result = 1
                var base = x
                var exponent = y
                while exponent > 0 {
                    if exponent & 1 == 1 {
                        let (next, overflowed) = result.multipliedReportingOverflow(by: base)
                        if overflowed { throw overflow() }
                        result = next
                    }
                    exponent >>= 1
                    if exponent > 0 {
                        let (square, overflowed) = base.multipliedReportingOverflow(by: base)
                        if overflowed { throw overflow() }
                        base = square
                    }
                }
                return .int(result)
            default: break
            }
        }
        let x = a.double
        let y = b.double
        switch op {
        case .add: return .double(x + y)
        case .subtract: return .double(x - y)
        case .multiply: return .double(x * y)
        case .divide:
            guard y != 0 else { throw TemplateError.runtime("float division by zero", location) }
            return .double(x / y)
        case .floorDivide:
            guard y != 0 else { throw TemplateError.runtime("float floor division by zero", location) }
            return .double((x / y).rounded(.down))
        case .modulo:
            guard y != 0 else { throw TemplateError.runtime("float modulo", location) }
            let remainder = fmod(x, y)
            return .double(remainder != 0 && (remainder < 0) != (y < 0) ? remainder + y : remainder)
        case .power: return .double(pow(x, y))
        default: throw TemplateError.runtime("unsupported numeric operator \(op.rawValue)", location)
        }
    }

    func negated(_ location: TemplateLocation) throws -> TemplateValue {
        switch number {
        case .int(let value)?:
            guard value != .min else { throw TemplateError.runtime("integer overflow in unary '-'", location) }
            return .int(-value)
        case .double(let value)?: return .double(-value)
        case nil:
            if case .undefined(let message) = self { throw TemplateError.runtime(message, location) }
            throw TemplateError.runtime("bad operand type for unary -: '\(typeName)'", location)
        }
    }

    func positive(_ location: TemplateLocation) throws -> TemplateValue {
        switch number {
        case .int(let value)?: return .int(value)
        case .double(let value)?: return .double(value)
        case nil: throw TemplateError.runtime("bad operand type for unary +: '\(typeName)'", location)
        }
    }

    /// Python's `==`: numbers compare by value across int/float/bool, dicts ignore order.
    func pythonEquals(_ other: TemplateValue) -> Bool {
        if let x = number, let y = other.number {
            if case .int(let a) = x, case .int(let b) = y { return a == b }
            return x.double == y.double
        }
        switch (self, other) {
        case (.array(let a), .array(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count
                && a.allSatisfy { pair in b[pair.key].map { pair.value.pythonEquals($0) } ?? false }
        default:
            return self == other
        }
    }

    /// Python's `<` (and friends through it); throws for unorderable types.
    func pythonLess(_ other: TemplateValue, _ location: TemplateLocation) throws -> Bool {
        if let x = number, let y = other.number {
            if case .int(let a) = x, case .int(let b) = y { return a < b }
            return x.double < y.double
        }
        switch (self, other) {
        case (.string(let a), .string(let b)):
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
        case (.array(let a), .array(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) where !x.pythonEquals(y) { return try x.pythonLess(y, location) }
            return a.count < b.count
        default:
            if case .undefined(let message) = self { throw TemplateError.runtime(message, location) }
            if case .undefined(let message) = other { throw TemplateError.runtime(message, location) }
            throw TemplateError.runtime(
                "'<' not supported between instances of '\(typeName)' and '\(other.typeName)'", location)
        }
    }

    /// Python's `needle in self`.
    func pythonContains(_ needle: TemplateValue, _ location: TemplateLocation) throws -> Bool {
        switch self {
        case .string(let haystack):
            guard case .string(let text) = needle else {
                throw TemplateError.runtime(
                    "'in <string>' requires string as left operand, not \(needle.typeName)", location)
            }
            return PythonString.find(text, in: haystack) != nil
        case .array(let items), .tuple(let items): return items.contains { $0.pythonEquals(needle) }
        case .object(let object):
            if case .string(let key) = needle { return object[key] != nil }
            return false
        case .undefined: return false
        default:
            throw TemplateError.runtime("argument of type '\(typeName)' is not iterable", location)
        }
    }

    static func compare(
        _ op: CompareOperator, _ a: TemplateValue, _ b: TemplateValue, _ location: TemplateLocation
    )
        throws -> Bool
    {
        switch op {
        case .equal: return a.pythonEquals(b)
        case .notEqual: return !a.pythonEquals(b)
        case .less: return try a.pythonLess(b, location)
        case .greater: return try b.pythonLess(a, location)
        case .lessEqual: return try !b.pythonLess(a, location)
        case .greaterEqual: return try !a.pythonLess(b, location)
        case .in: return try b.pythonContains(a, location)
        case .notIn: return try !b.pythonContains(a, location)
        }
    }

    /// The items a `for` loop sees: list items, dict keys, string characters; undefined is empty.
    func iterated(_ location: TemplateLocation?) throws -> [TemplateValue] {
        switch self {
        case .array(let items), .tuple(let items): return items
        case .object(let object): return object.keys.map(TemplateValue.string)
        case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw TemplateError.runtime("'\(typeName)' object is not iterable", location)
        }
    }

    /// Python's `len()`; undefined has length 0.
    func length(_ location: TemplateLocation?) throws -> Int {
        switch self {
        case .string(let text): return text.unicodeScalars.count
        case .array(let items), .tuple(let items): return items.count
        case .object(let object): return object.count
        case .undefined: return 0
        default: throw TemplateError.runtime("object of type '\(typeName)' has no len()", location)
        }
    }

    /// `value[start:stop:step]` with Python's clamping and negative indices.
    func sliced(
        _ start: TemplateValue, _ stop: TemplateValue, _ step: TemplateValue, _ location: TemplateLocation
    )
        throws -> TemplateValue
    {
        func bound(_ value: TemplateValue) throws -> Int? {
            switch value {
            case .none: return nil
            case .int(let index): return index
            case .bool(let flag): return flag ? 1 : 0
            default: throw TemplateError.runtime("slice indices must be integers or None", location)
            }
        }
        let indices = { (count: Int) throws -> [Int] in
            try PythonString.sliceIndices(count: count, try bound(start), try bound(stop), try bound(step), location)
        }
        switch self {
        case .array(let items): return .array(try indices(items.count).map { items[$0] })
        case .tuple(let items): return .tuple(try indices(items.count).map { items[$0] })
        case .string(let text):
            let scalars = Array(text.unicodeScalars)
            var out = String.UnicodeScalarView()
            for index in try indices(scalars.count) { out.append(scalars[index]) }
            return .string(String(out))
        case .undefined(let message): throw TemplateError.runtime(message, location)
        default: throw TemplateError.runtime("'\(typeName)' object is not subscriptable", location)
        }
    }
}
