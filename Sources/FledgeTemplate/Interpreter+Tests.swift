/// Jinja's built-in tests (`x is defined`, `x is none`, `x is string`, …), from pallets/jinja
/// `src/jinja2/tests.py` at 3.1.6.
extension Interpreter {
    func applyTest(
        _ name: String, _ value: TemplateValue, _ arguments: CallArguments, _ location: TemplateLocation
    )
        throws -> Bool
    {
        let other = arguments.value(0, "other") ?? TemplateValue.none
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value == .none
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": return value == .bool(true)
        case "false": return value == .bool(false)
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "number":
            switch value {
            case .int, .double, .bool: return true
            default: return false
            }
        case "string": if case .string = value { return true } else { return false }
        case "mapping": if case .object = value { return true } else { return false }
        case "iterable", "sequence":
            switch value {
            case .string, .array, .tuple, .object, .undefined: return true
            default: return false
            }
        case "callable": if case .function = value { return true } else { return false }
        case "sameas":
            switch (value, other) {
            case (.namespace(let a), .namespace(let b)): return a === b
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            default: return false
            }
        case "odd", "even", "divisibleby":
            guard case .int(let number) = value else {
                throw TemplateError.runtime("test '\(name)' needs an integer, got '\(value.typeName)'", location)
            }
            if name == "divisibleby" {
                guard case .int(let divisor) = other, divisor != 0 else {
                    throw TemplateError.runtime("divisibleby needs a non-zero integer", location)
                }
                return number % divisor == 0
            }
            return (number % 2 != 0) == (name == "odd")
        case "eq", "equalto", "==": return value.pythonEquals(other)
        case "ne", "!=": return !value.pythonEquals(other)
        case "lt", "lessthan", "<": return try value.pythonLess(other, location)
        case "gt", "greaterthan", ">": return try other.pythonLess(value, location)
        case "le", "<=": return try !other.pythonLess(value, location)
        case "ge", ">=": return try !value.pythonLess(other, location)
        case "in": return try (arguments.value(0, "seq") ?? TemplateValue.none).pythonContains(value, location)
        case "lower": return value.text == value.text.lowercased()
        case "upper": return value.text == value.text.uppercased()
        case "filter":
            return ["trim", "length", "count", "tojson", "string", "default", "d", "join", "upper", "lower"].contains(
                value.text)
        case "test":
            return ["defined", "undefined", "none", "string", "mapping", "iterable", "number"].contains(value.text)
        default:
            throw TemplateError.runtime("no test named '\(name)'", location)
        }
    }
}
