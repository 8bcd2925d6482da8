/// One lexical token of a template (after whitespace control has been applied to text).
struct Token: Equatable {
    enum Kind: Equatable {
        /// Literal template text between tags, already stripped by `-`, `trim_blocks` and `lstrip_blocks`.
        case text(String)
        case variableBegin  // {{
        case variableEnd  // }}
        case blockBegin  // {%
        case blockEnd  // %}
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        /// One of Jinja's operators: `+ - / // * % ** ~ [ ] ( ) { } == != > >= < <= = . : | , ;`.
        case op(String)
        case endOfInput
    }

    var kind: Kind
    var location: TemplateLocation

    /// How the token reads in an error message.
    var display: String {
        switch kind {
        case .text: return "template text"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let name): return "'\(name)'"
        case .string(let value): return "string '\(value)'"
        case .integer(let value): return "integer \(value)"
        case .float(let value): return "number \(value)"
        case .op(let op): return "'\(op)'"
        case .endOfInput: return "end of template"
        }
    }
}
