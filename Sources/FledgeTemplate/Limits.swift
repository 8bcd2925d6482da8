/// Bounds that keep a stranger's template from exhausting the machine (issue 15): every one
/// ends the render (or parse) with a `TemplateError` naming it. Real chat templates stay far
/// below them.
enum Limits {
    /// Items of `range()` (jinja2.sandbox.MAX_RANGE).
    static let maxRange: UInt = 100_000
    /// Nesting of expressions and blocks in the parser, and of evaluation in the interpreter
    /// (macro calls included): recursion that deep would overflow the stack.
    static let maxDepth = 200
    /// `for` iterations of one render, all loops together.
    static let maxIterations = 1_000_000
    /// UTF-8 bytes of the output, of any string built (`*`, `center`, `indent`, `replace`), and
    /// items of a repeated list.
    static let maxLength = 64 << 20

    /// Throws when `length × times` exceeds `maxLength`.
    static func checkLength(_ length: Int, times: Int, _ location: TemplateLocation?) throws {
        guard times > 0, length > 0 else { return }
        let (total, overflowed) = length.multipliedReportingOverflow(by: times)
        guard overflowed || total > maxLength else { return }
        throw TemplateError.runtime(
            "the result would be too long (\(length) × \(times), at most \(maxLength) bytes or items)", location)
    }
}
