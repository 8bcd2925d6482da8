/// Expression grammar; one function per precedence level of `jinja2.parser.Parser`.
extension Parser {
    /// A comma-separated list becomes a tuple (`{% set a, b = 1, 2 %}`); a single expression stays one.
    mutating func parseTuple(
        withConditional: Bool = true, extraEnd: Set<String> = [], explicitParentheses: Bool = false
    ) throws -> Expression {
        let location = current.location
        var items: [Expression] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(withConditional ? try parseExpression() : try parseOr())
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw fail("expected an expression, got \(current.display)") }
        }
        return Expression(.tuple(items), location)
    }

    private func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .endOfInput: return true
        case .op(")"): return true
        case .name(let name): return extraEnd.contains(name)
        default: return false
        }
    }

    mutating func parseExpression() throws -> Expression {
        var expression = try parseOr()
        while isName("if") {
            let location = advance().location
            let test = try parseOr()
            let otherwise = skipName("else") ? try parseExpression() : nil
            expression = Expression(.conditional(then: expression, test: test, otherwise: otherwise), location)
        }
        return expression
    }

    private mutating func parseOr() throws -> Expression {
        var left = try parseAnd()
        while isName("or") {
            let location = advance().location
            left = Expression(.binary(.or, left, try parseAnd()), location)
        }
        return left
    }

    private mutating func parseAnd() throws -> Expression {
        var left = try parseNot()
        while isName("and") {
            let location = advance().location
            left = Expression(.binary(.and, left, try parseNot()), location)
        }
        return left
    }

    private mutating func parseNot() throws -> Expression {
        guard isName("not") else { return try parseCompare() }
        let location = advance().location
        return Expression(.unary(.not, try parseNot()), location)
    }

    private mutating func parseCompare() throws -> Expression {
        let left = try parseMath1()
        var operations: [(CompareOperator, Expression)] = []
        while true {
            if case .op(let op) = current.kind, let comparison = CompareOperator(rawValue: op) {
                _ = advance()
                operations.append((comparison, try parseMath1()))
            } else if skipName("in") {
                operations.append((.in, try parseMath1()))
            } else if isName("not") && isName("in", next) {
                _ = advance()
                _ = advance()
                operations.append((.notIn, try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : Expression(.compare(left, operations), left.location)
    }

    private mutating func parseBinary(
        _ operators: [String: BinaryOperator], operand: (inout Parser) throws -> Expression
    ) throws -> Expression {
        var left = try operand(&self)
        while case .op(let op) = current.kind, let binary = operators[op] {
            let location = advance().location
            left = Expression(.binary(binary, left, try operand(&self)), location)
        }
        return left
    }

    private mutating func parseMath1() throws -> Expression {
        try parseBinary(["+": .add, "-": .subtract]) { try $0.parseConcat() }
    }

    private mutating func parseConcat() throws -> Expression {
        try parseBinary(["~": .concat]) { try $0.parseMath2() }
    }

    private mutating func parseMath2() throws -> Expression {
        try parseBinary(["*": .multiply, "/": .divide, "//": .floorDivide, "%": .modulo]) { try $0.parsePow() }
    }

    private mutating func parsePow() throws -> Expression {
        try parseBinary(["**": .power]) { try $0.parseUnary() }
    }

    private mutating func parseUnary(withFilters: Bool = true) throws -> Expression {
        try enter()
        defer { depth -= 1 }
        let location = current.location
        var node: Expression
        if skipOp("-") {
            node = Expression(.unary(.negate, try parseUnary(withFilters: false)), location)
        } else if skipOp("+") {
            node = Expression(.unary(.plus, try parseUnary(withFilters: false)), location)
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        return withFilters ? try parseFiltersAndTests(node) : node
    }

    private mutating func parsePrimary() throws -> Expression {
        let token = advance()
        switch token.kind {
        case .name(let name):
            switch name {
            case "true", "True": return Expression(.literal(.bool(true)), token.location)
            case "false", "False": return Expression(.literal(.bool(false)), token.location)
            case "none", "None": return Expression(.literal(.none), token.location)
            default: return Expression(.name(name), token.location)
            }
        case .string(var value):
            while case .string(let more) = current.kind {
                value += more
                _ = advance()
            }
            return Expression(.literal(.string(value)), token.location)
        case .integer(let value): return Expression(.literal(.int(value)), token.location)
        case .float(let value): return Expression(.literal(.double(value)), token.location)
        case .op("("):
            let inner = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return inner
        case .op("["):
            var items: [Expression] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return Expression(.list(items), token.location)
        case .op("{"):
            var pairs: [(Expression, Expression)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            try expectOp("}")
            return Expression(.dict(pairs), token.location)
        default:
            throw fail("unexpected \(token.display)", token)
        }
    }

    private mutating func parsePostfix(_ start: Expression) throws -> Expression {
        var node = start
        while true {
            if isOp(".") {
                let location = advance().location
                let token = advance()
                switch token.kind {
                case .name(let name): node = Expression(.attribute(node, name), location)
                case .integer(let value):
                    node = Expression(.item(node, Expression(.literal(.int(value)), token.location)), location)
                default: throw fail("expected name or number after '.', got \(token.display)", token)
                }
            } else if isOp("[") {
                node = try parseSubscript(node)
            } else if isOp("(") {
                let location = current.location
                node = Expression(.call(node, try parseCallArguments()), location)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ node: Expression) throws -> Expression {
        let location = advance().location
        var result: Expression
        if isOp(":") {
            result = try parseSlice(node, start: nil, location)
        } else {
            let first = try parseExpression()
            result = isOp(":") ? try parseSlice(node, start: first, location) : Expression(.item(node, first), location)
        }
        if isOp(",") { throw fail("tuple subscripts are not supported") }
        try expectOp("]")
        return result
    }

    /// After `start`, at the first `:` of `[start:stop:step]`.
    private mutating func parseSlice(
        _ node: Expression, start: Expression?, _ location: TemplateLocation
    ) throws
        -> Expression
    {
        try expectOp(":")
        let stop = isOp(":") || isOp("]") || isOp(",") ? nil : try parseExpression()
        var step: Expression?
        if skipOp(":") {
            step = isOp("]") || isOp(",") ? nil : try parseExpression()
        }
        return Expression(.slice(node, start: start, stop: stop, step: step), location)
    }

    mutating func parseCallArguments() throws -> Arguments {
        try expectOp("(")
        var arguments = Arguments()
        while !isOp(")") {
            if !arguments.positional.isEmpty || !arguments.keyword.isEmpty {
                try expectOp(",")
                if isOp(")") { break }
            }
            if isOp("*") || isOp("**") { throw fail("*args and **kwargs in calls are not supported") }
            if case .name(let key) = current.kind, case .op("=") = next.kind {
                _ = advance()
                _ = advance()
                arguments.keyword.append((key, try parseExpression()))
            } else {
                guard arguments.keyword.isEmpty else { throw fail("positional argument follows keyword argument") }
                arguments.positional.append(try parseExpression())
            }
        }
        try expectOp(")")
        return arguments
    }

    private mutating func parseFiltersAndTests(_ start: Expression) throws -> Expression {
        var node = start
        while true {
            if isOp("|") {
                _ = advance()
                let location = current.location
                var name = try expectName()
                while skipOp(".") { name += "." + (try expectName()) }
                let arguments = isOp("(") ? try parseCallArguments() : Arguments()
                node = Expression(.filter(node, name: name, arguments), location)
            } else if isName("is") {
                node = try parseTest(node)
            } else if isOp("(") {
                let location = current.location
                node = Expression(.call(node, try parseCallArguments()), location)
            } else {
                return node
            }
        }
    }

    private mutating func parseTest(_ node: Expression) throws -> Expression {
        let location = advance().location
        let negated = skipName("not")
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        var arguments = Arguments()
        if isOp("(") {
            arguments = try parseCallArguments()
        } else if startsTestArgument() {
            if isName("is") { throw fail("you cannot chain multiple tests with 'is'") }
            arguments.positional = [try parsePostfix(try parsePrimary())]
        }
        let test = Expression(.test(node, name: name, arguments), location)
        return negated ? Expression(.unary(.not, test), location) : test
    }

    private func startsTestArgument() -> Bool {
        switch current.kind {
        case .name(let name): return !["else", "or", "and"].contains(name)
        case .string, .integer, .float, .op("["), .op("{"): return true
        default: return false
        }
    }
}
