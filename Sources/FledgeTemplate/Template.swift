import Foundation

/// A parsed Jinja template, rendered the way transformers' `apply_chat_template` renders chat
/// templates: Python Jinja2 3.1.6 in an `ImmutableSandboxedEnvironment(trim_blocks=True,
/// lstrip_blocks=True)` with loop controls, transformers' `tojson`, `raise_exception`,
/// `strftime_now`, `dict` and `namespace`.
///
/// ```swift
/// let template = try Template("{% for m in messages %}{{ m.role }}: {{ m.content | trim }}\n{% endfor %}")
/// let text = try template.render(["messages": [["role": "user", "content": " hi "]]])
/// ```
///
/// Not supported (parse error naming the tag): template inheritance and includes (`extends`,
/// `block`, `include`, `import`), `call` blocks, recursive loops, `with`, `do`; `*args`/`**kwargs`
/// in calls; `%`-formatting of strings.
public struct Template {
    let statements: [Statement]

    /// Parses `source`.
    /// - Throws: `TemplateError.syntax` with the line and column of the first error.
    public init(_ source: String) throws {
        statements = try Parser.parse(source)
    }

    /// Renders with `context` as the template's variables.
    /// - Parameters:
    ///   - context: top-level variables; they shadow the globals of the same name.
    ///   - now: the time `strftime_now` formats (in the local time zone, as Python does).
    /// - Throws: `TemplateError.raised` when the template calls `raise_exception`, `TemplateError.runtime`
    ///   for undefined values, type errors, unknown filters and unsafe calls.
    public func render(_ context: [String: TemplateValue], now: Date = Date()) throws -> String {
        let globals = Scope(parent: nil, variables: Globals.make(now: now))
        let root = Scope(parent: globals, variables: context)
        return try Interpreter(now: now).render(statements, scope: root)
    }
}

/// A parsed template is immutable (its literals are plain values; namespaces and functions only exist
/// during a render, which uses its own interpreter and scopes), so it can be shared across threads.
extension Template: @unchecked Sendable {}
