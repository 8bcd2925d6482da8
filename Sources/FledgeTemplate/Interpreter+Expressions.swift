/// Expression evaluation: names, literals, attribute/item lookup (Jinja's `getattr`/`getitem`),
/// calls, operators.
extension Interpreter {
    func evaluate(_ expression: Expression, _ scope: Scope) throws -> TemplateValue {
        let location = expression.location
        try enter(location)
        defer { leave() }
        switch expression.kind {
        case .literal(let value):
            return value
        case .name(let name):
            return scope.lookup(name) ?? .undefined("'\(name)' is undefined")
        case .list(let items):
            return .array(try items.map { try evaluate($0, scope) })
        case .tuple(let items):
            return .tuple(try items.map { try evaluate($0, scope) })
        case .dict(let pairs):
            var object = TemplateObject()
            for (keyExpression, valueExpression) in pairs {
                guard case .string(let key) = try evaluate(keyExpression, scope) else {
                    throw TemplateError.runtime(
                        "only string keys are supported in dict literals", keyExpression.location)
                }
                object[key] = try evaluate(valueExpression, scope)
            }
            return .object(object)
        case .attribute(let base, let name):
            return try attribute(name, of: try evaluate(base, scope), location)
        case .item(let base, let key):
            return try item(try evaluate(key, scope), of: try evaluate(base, scope), location)
        case .slice(let base, let start, let stop, let step):
            let bounds = try [start, stop, step].map { try $0.map { try evaluate($0, scope) } ?? TemplateValue.none }
            return try evaluate(base, scope).sliced(bounds[0], bounds[1], bounds[2], location)
        case .call(let callee, let arguments):
            return try call(callee, try evaluate(arguments, scope), scope, location)
        case .filter(let base, let name, let arguments):
            return try applyFilter(name, try evaluate(base, scope), try evaluate(arguments, scope), location)
        case .test(let base, let name, let arguments):
            return .bool(try applyTest(name, try evaluate(base, scope), try evaluate(arguments, scope), location))
        case .unary(let op, let operand):
            let value = try evaluate(operand, scope)
            switch op {
            case .not: return .bool(!value.isTruthy)
            case .negate: return try value.negated(location)
            case .plus: return try value.positive(location)
            }
        case .binary(.and, let left, let right):
            let value = try evaluate(left, scope)
            return value.isTruthy ? try evaluate(right, scope) : value
        case .binary(.or, let left, let right):
            let value = try evaluate(left, scope)
            return value.isTruthy ? value : try evaluate(right, scope)
        case .binary(let op, let left, let right):
            return try TemplateValue.binary(op, try evaluate(left, scope), try evaluate(right, scope), location)
        case .compare(let first, let operations):
            var left = try evaluate(first, scope)
            for (op, rightExpression) in operations {
                let right = try evaluate(rightExpression, scope)
                guard try TemplateValue.compare(op, left, right, location) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let then, let test, let otherwise):
            if try evaluate(test, scope).isTruthy { return try evaluate(then, scope) }
            return try otherwise.map { try evaluate($0, scope) } ?? .undefined("the inline if-expression had no else")
        }
    }

    func evaluate(_ arguments: Arguments, _ scope: Scope) throws -> CallArguments {
        CallArguments(
            positional: try arguments.positional.map { try evaluate($0, scope) },
            keyword: try arguments.keyword.map { ($0.0, try evaluate($0.1, scope)) })
    }

    /// `callee(arguments)`; `x.method(...)` calls Python's string/dict/list methods directly.
    private func call(
        _ callee: Expression, _ arguments: CallArguments, _ scope: Scope, _ location: TemplateLocation
    )
        throws -> TemplateValue
    {
        let function: TemplateValue
        if case .attribute(let base, let name) = callee.kind {
            let receiver = try evaluate(base, scope)
            if let result = try callMethod(name, on: receiver, arguments, location) { return result }
            function = try attribute(name, of: receiver, location)
        } else {
            function = try evaluate(callee, scope)
        }
        switch function {
        case .function(let function):
            do {
                return try function.call(arguments)
            } catch TemplateError.runtime(let message, nil) {
                throw TemplateError.runtime(message, location)
            }
        case .undefined(let message):
            throw TemplateError.runtime(message, location)
        default:
            throw TemplateError.runtime("'\(function.typeName)' object is not callable", location)
        }
    }

    /// Jinja's `environment.getattr`: Python attributes (methods) first, then items.
    func attribute(_ name: String, of value: TemplateValue, _ location: TemplateLocation) throws -> TemplateValue {
        switch value {
        case .undefined(let message):
            throw TemplateError.runtime(message, location)
        case .object(let object):
            if Interpreter.isMethod(name, of: value) { return boundMethod(name, value, location) }
            return object[name] ?? .undefined("'dict object' has no attribute '\(name)'")
        case .namespace(let namespace):
            return namespace.attributes[name] ?? .undefined("'Namespace' object has no attribute '\(name)'")
        default:
            if Interpreter.isMethod(name, of: value) { return boundMethod(name, value, location) }
            if Interpreter.isUnsafeMethod(name, of: value) {
                return .undefined("access to attribute '\(name)' of '\(value.typeName)' object is unsafe.")
            }
            return .undefined("'\(value.typeName) object' has no attribute '\(name)'")
        }
    }

    /// Jinja's `environment.getitem`: items first, then attributes.
    func item(_ key: TemplateValue, of value: TemplateValue, _ location: TemplateLocation) throws -> TemplateValue {
        switch (value, key) {
        case (.undefined(let message), _):
            throw TemplateError.runtime(message, location)
        case (.array(let items), .int(let index)), (.tuple(let items), .int(let index)):
            let resolved = index < 0 ? index + items.count : index
            return items.indices.contains(resolved)
                ? items[resolved] : .undefined("list object has no element \(index)")
        case (.string(let text), .int(let index)):
            let scalars = Array(text.unicodeScalars)
            let resolved = index < 0 ? index + scalars.count : index
            guard scalars.indices.contains(resolved) else { return .undefined("str object has no element \(index)") }
            return .string(String(Character(scalars[resolved])))
        case (.object(let object), .string(let name)):
            if let found = object[name] { return found }
            return try attribute(name, of: value, location)
        case (_, .string(let name)):
            return try attribute(name, of: value, location)
        default:
            return .undefined("'\(value.typeName) object' has no element \(key.repr)")
        }
    }

    private func boundMethod(_ name: String, _ receiver: TemplateValue, _ location: TemplateLocation) -> TemplateValue {
        .function(
            TemplateFunction(name: name) { [unowned self] arguments in
                try self.callMethod(name, on: receiver, arguments, location) ?? TemplateValue.none
            })
    }
}
