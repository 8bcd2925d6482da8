/// Builds the syntax tree from tokens with Jinja2's grammar and operator precedence
/// (pallets/jinja `src/jinja2/parser.py`, 3.1.6): conditional → or → and → not → compare →
/// `+ -` → `~` → `* / // %` → `**` → unary `- +` → primary with postfix `.x`, `[i]`, `(…)`,
/// then filters `|f` and tests `is t`, which therefore bind tighter than every binary operator.
struct Parser {
    let tokens: [Token]
    var index = 0
    /// Nested expressions and blocks being parsed, bounded by `Limits.maxDepth`.
    var depth = 0

    init(tokens: [Token]) {
        self.tokens = tokens
    }

    /// Parses a whole template.
    /// - Throws: `TemplateError.syntax` naming the line and column of the offending token.
    static func parse(_ source: String) throws -> [Statement] {
        var parser = Parser(tokens: try Lexer.tokenize(source))
        let (body, end) = try parser.parseStatements(until: [])
        if let end { throw TemplateError.syntax("unexpected '\(end.name)' tag", end.location) }
        return body
    }

    // MARK: Token stream

    var current: Token { tokens[index] }
    var next: Token { tokens[min(index + 1, tokens.count - 1)] }

    mutating func advance() -> Token {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    func isName(_ name: String, _ token: Token? = nil) -> Bool {
        if case .name(let value) = (token ?? current).kind { return value == name }
        return false
    }

    func isOp(_ op: String) -> Bool {
        if case .op(let value) = current.kind { return value == op }
        return false
    }

    mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        _ = advance()
        return true
    }

    mutating func skipOp(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        _ = advance()
        return true
    }

    func fail(_ message: String, _ token: Token? = nil) -> TemplateError {
        .syntax(message, (token ?? current).location)
    }

    /// Counts one level of nesting; throws past `Limits.maxDepth`. Pair with `depth -= 1`.
    mutating func enter() throws {
        guard depth < Limits.maxDepth else {
            throw fail("expressions or blocks nested deeper than \(Limits.maxDepth) levels")
        }
        depth += 1
    }

    mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw fail("expected '\(op)', got \(current.display)") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let name) = current.kind else { throw fail("expected a name, got \(current.display)") }
        _ = advance()
        return name
    }

    mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw fail("expected '%}', got \(current.display)") }
        _ = advance()
    }

    // MARK: Statements

    /// Parses statements until `{% name` with `name` in `endTags`; consumes `{%` and the name.
    private mutating func parseStatements(
        until endTags: Set<String>
    ) throws
        -> ([Statement], (name: String, location: TemplateLocation)?)
    {
        var body: [Statement] = []
        while true {
            let token = advance()
            switch token.kind {
            case .text(let text):
                body.append(.text(text))
            case .variableBegin:
                let expression = try parseTuple()
                guard current.kind == .variableEnd else { throw fail("expected '}}', got \(current.display)") }
                _ = advance()
                body.append(.output(expression))
            case .blockBegin:
                if case .name(let name) = current.kind, endTags.contains(name) {
                    let location = advance().location
                    return (body, (name, location))
                }
                body.append(try parseStatement())
            case .endOfInput:
                if endTags.isEmpty { return (body, nil) }
                let expected = endTags.sorted().map { "'\($0)'" }.joined(separator: " or ")
                throw fail("unexpected end of template, expected \(expected)", token)
            default:
                throw fail("unexpected \(token.display)", token)
            }
        }
    }

    /// Parses statements up to the one closing tag `name` and its `%}`.
    private mutating func parseBody(closedBy name: String) throws -> [Statement] {
        let (body, _) = try parseStatements(until: [name])
        try expectBlockEnd()
        return body
    }

    private mutating func parseStatement() throws -> Statement {
        try enter()
        defer { depth -= 1 }
        let token = current
        guard case .name(let tag) = token.kind else { throw fail("tag name expected, got \(token.display)") }
        _ = advance()
        switch tag {
        case "for": return try parseFor(token.location)
        case "if": return try parseIf()
        case "set": return try parseSet(token.location)
        case "macro": return try parseMacro()
        case "filter":
            let filters = try parseFilterChain(startInline: true)
            try expectBlockEnd()
            return .filterBlock(filters, body: try parseBody(closedBy: "endfilter"))
        case "generation":
            try expectBlockEnd()
            return .generation(try parseBody(closedBy: "endgeneration"))
        case "break", "continue":
            try expectBlockEnd()
            return tag == "break" ? .breakLoop : .continueLoop
        case "endfor", "endif", "endset", "endmacro", "endfilter", "endgeneration", "else", "elif":
            throw fail("unexpected '\(tag)' tag", token)
        default:
            throw fail("encountered unknown or unsupported tag '\(tag)'", token)
        }
    }

    private mutating func parseFor(_ location: TemplateLocation) throws -> Statement {
        let target = try parseAssignmentTarget(withNamespace: false)
        guard skipName("in") else { throw fail("expected 'in', got \(current.display)") }
        let iterable = try parseTuple(withConditional: false, extraEnd: ["recursive"])
        let condition = skipName("if") ? try parseExpression() : nil
        if isName("recursive") { throw fail("recursive loops are not supported") }
        try expectBlockEnd()
        let (body, end) = try parseStatements(until: ["endfor", "else"])
        try expectBlockEnd()
        let otherwise = end?.name == "else" ? try parseBody(closedBy: "endfor") : []
        let loop = ForLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise)
        return .forLoop(loop, location)
    }

    private mutating func parseIf() throws -> Statement {
        var branches: [(Expression, [Statement])] = []
        while true {
            let test = try parseTuple(withConditional: false)
            try expectBlockEnd()
            let (body, end) = try parseStatements(until: ["elif", "else", "endif"])
            branches.append((test, body))
            switch end?.name {
            case "elif": continue
            case "else":
                try expectBlockEnd()
                return .conditional(branches: branches, otherwise: try parseBody(closedBy: "endif"))
            default:
                try expectBlockEnd()
                return .conditional(branches: branches, otherwise: [])
            }
        }
    }

    private mutating func parseSet(_ location: TemplateLocation) throws -> Statement {
        let target = try parseAssignmentTarget(withNamespace: true)
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return .set(target, value, location)
        }
        let filters = try parseFilterChain(startInline: false)
        try expectBlockEnd()
        return .setBlock(target, filters: filters, body: try parseBody(closedBy: "endset"), location)
    }

    private mutating func parseMacro() throws -> Statement {
        let name = try expectName()
        try expectOp("(")
        var parameters: [(String, Expression?)] = []
        while !isOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let parameter = try expectName()
            let defaultValue = skipOp("=") ? try parseExpression() : nil
            if defaultValue == nil, parameters.last?.1 != nil {
                throw fail("non-default argument '\(parameter)' follows a default argument")
            }
            parameters.append((parameter, defaultValue))
        }
        try expectOp(")")
        try expectBlockEnd()
        return .macro(Macro(name: name, parameters: parameters, body: try parseBody(closedBy: "endmacro")))
    }

    /// `name`, `a, b` or (with namespaces) `ns.attribute`.
    private mutating func parseAssignmentTarget(withNamespace: Bool) throws -> AssignmentTarget {
        let parenthesized = skipOp("(")
        let first = try expectName()
        if withNamespace && !parenthesized && skipOp(".") {
            return .namespaceAttribute(first, try expectName())
        }
        var names = [first]
        var isTuple = parenthesized
        while skipOp(",") {
            isTuple = true
            if case .name(let name) = current.kind, !isName("in") {
                _ = advance()
                names.append(name)
            }
        }
        if parenthesized { try expectOp(")") }
        return isTuple ? .tuple(names) : .name(first)
    }

    private mutating func parseFilterChain(startInline: Bool) throws -> [FilterCall] {
        var filters: [FilterCall] = []
        var inline = startInline
        while inline || skipOp("|") {
            inline = false
            let location = current.location
            var name = try expectName()
            while skipOp(".") { name += "." + (try expectName()) }
            let arguments = isOp("(") ? try parseCallArguments() : Arguments()
            filters.append(FilterCall(name: name, arguments: arguments, location: location))
        }
        return filters
    }
}
