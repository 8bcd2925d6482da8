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

    /// Items of a list built by `*`.
    static let maxItems = 1 << 20

    /// Throws when `length × times` exceeds `limit`.
    static func checkLength(
        _ length: Int, times: Int, _ location: TemplateLocation?, limit: Int = maxLength
    ) throws {
        guard times > 0, length > 0 else { return }
        let (total, overflowed) = length.multipliedReportingOverflow(by: times)
        guard overflowed || total > limit else { return }
        throw TemplateError.runtime(
            "the result would be too long (\(length) × \(times), at most \(limit) bytes or items)", location)
    }

    /// Throws when `pieces` joined by `separator` would exceed `maxLength` bytes.
    static func checkJoin(_ pieces: [String], _ separator: String, _ location: TemplateLocation?) throws {
        var total = separator.utf8.count * max(pieces.count - 1, 0)
        for piece in pieces {
            total += piece.utf8.count
            if total > maxLength { break }
        }
        try checkLength(total, times: 1, location)
    }
}

extension Limits {
    /// Nesting of lists, tuples, dicts and namespaces stored in a namespace attribute (the one
    /// way a value can grow from one loop iteration to the next): a value millions deep would
    /// overflow the stack when printed, compared or freed.
    static let maxValueDepth = 100
}

extension TemplateValue {
    /// Whether containers nest deeper than `limit`, or reach `target` (a namespace holding
    /// itself would print forever); each namespace is visited once. Recursion stops at `limit`.
    func nests(deeperThan limit: Int, orReaches target: TemplateNamespace? = nil) -> Bool {
        var seen = Set<ObjectIdentifier>()
        func visit(_ value: TemplateValue, _ depth: Int) -> Bool {
            switch value {
            case .array(let items), .tuple(let items):
                return depth >= limit || items.contains { visit($0, depth + 1) }
            case .object(let object):
                return depth >= limit || object.values.contains { visit($0, depth + 1) }
            case .namespace(let namespace):
                if namespace === target { return true }
                guard seen.insert(ObjectIdentifier(namespace)).inserted else { return false }
                return depth >= limit || namespace.attributes.values.contains { visit($0, depth + 1) }
            default:
                return false
            }
        }
        return visit(self, 0)
    }
}
