/// The syntax tree the parser builds and the interpreter walks (mirrors `jinja2.nodes`, reduced
/// to what chat templates use).

/// An expression with the place it starts in the source, for error messages.
struct Expression {
    var kind: ExpressionKind
    var location: TemplateLocation

    init(_ kind: ExpressionKind, _ location: TemplateLocation) {
        self.kind = kind
        self.location = location
    }
}

/// Positional and keyword arguments of a call, filter or test.
struct Arguments {
    var positional: [Expression] = []
    var keyword: [(String, Expression)] = []
}

enum UnaryOperator { case not, negate, plus }

enum BinaryOperator: String {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
    case concat = "~", and, or
}

enum CompareOperator: String {
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case `in`, notIn = "not in"
}

indirect enum ExpressionKind {
    case literal(TemplateValue)
    case name(String)
    case list([Expression])
    case tuple([Expression])
    case dict([(Expression, Expression)])
    /// `a.b`
    case attribute(Expression, String)
    /// `a[b]`
    case item(Expression, Expression)
    /// `a[start:stop:step]`
    case slice(Expression, start: Expression?, stop: Expression?, step: Expression?)
    case call(Expression, Arguments)
    case filter(Expression, name: String, Arguments)
    case test(Expression, name: String, Arguments)
    case unary(UnaryOperator, Expression)
    case binary(BinaryOperator, Expression, Expression)
    /// `a < b <= c`, evaluated pairwise like Python's chained comparisons.
    case compare(Expression, [(CompareOperator, Expression)])
    /// `then if test else otherwise`; a missing `else` yields undefined.
    case conditional(then: Expression, test: Expression, otherwise: Expression?)
}

/// The left-hand side of `set` and `for`.
enum AssignmentTarget {
    case name(String)
    case tuple([String])
    /// `ns.attribute`, only valid on a `namespace()` object.
    case namespaceAttribute(String, String)
}

/// A filter application in `{% set x | f %}` or `{% filter f %}`.
struct FilterCall {
    var name: String
    var arguments: Arguments
    var location: TemplateLocation
}

struct ForLoop {
    var target: AssignmentTarget
    var iterable: Expression
    var condition: Expression?
    var body: [Statement]
    var otherwise: [Statement]
}

struct Macro {
    var name: String
    var parameters: [(String, Expression?)]
    var body: [Statement]
}

indirect enum Statement {
    case text(String)
    case output(Expression)
    case conditional(branches: [(Expression, [Statement])], otherwise: [Statement])
    case forLoop(ForLoop, TemplateLocation)
    case set(AssignmentTarget, Expression, TemplateLocation)
    case setBlock(AssignmentTarget, filters: [FilterCall], body: [Statement], TemplateLocation)
    case macro(Macro)
    case filterBlock([FilterCall], body: [Statement])
    /// transformers' `{% generation %}` tag: renders its body unchanged.
    case generation([Statement])
    case breakLoop
    case continueLoop
}
