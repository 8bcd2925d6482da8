/// A position in a template's source: 1-based line and column (columns count Unicode scalars).
public struct TemplateLocation: Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line), column \(column)" }
}

/// Everything that can go wrong while loading, parsing or rendering a template.
public enum TemplateError: Error, Equatable, CustomStringConvertible {
    /// The source is not valid template syntax (lexer or parser).
    case syntax(String, TemplateLocation)
    /// Rendering failed: an undefined value was used, an operation does not apply to its operands,
    /// an unknown filter or test was named, or an unsafe method was called.
    case runtime(String, TemplateLocation?)
    /// The template called `raise_exception(message)`.
    case raised(String)
    /// No chat template could be found or read.
    case missingTemplate(String)

    public var description: String {
        switch self {
        case .syntax(let message, let location):
            return "template syntax error at \(location): \(message) (check the tag or expression there)"
        case .runtime(let message, let location):
            let place = location.map { " at \($0)" } ?? ""
            return "template rendering error\(place): \(message)"
        case .raised(let message):
            return "the chat template raised an exception: \(message)"
        case .missingTemplate(let message):
            return
                "no chat template: \(message) (add chat_template.jinja or a \"chat_template\" to tokenizer_config.json)"
        }
    }

    /// The message without the location or hint.
    public var message: String {
        switch self {
        case .syntax(let message, _), .runtime(let message, _), .raised(let message), .missingTemplate(let message):
            return message
        }
    }
}
