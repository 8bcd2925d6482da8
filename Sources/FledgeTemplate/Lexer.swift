/// Splits a template into tokens the way Jinja2's lexer does for the environment transformers
/// builds (`trim_blocks=True`, `lstrip_blocks=True`, `keep_trailing_newline=False`).
///
/// Ported behaviour (pallets/jinja `src/jinja2/lexer.py`, 3.1.6): newlines are normalised to
/// `\n` and one trailing newline is dropped; `{%-`/`{{-`/`{#-` strip all whitespace before the
/// tag, `-%}`/`-}}`/`-#}` all whitespace after it; `%}` and `#}` eat one following newline
/// (`trim_blocks`) unless written `+%}`; spaces and tabs between a line start and `{%`/`{#` are
/// removed (`lstrip_blocks`) unless written `{%+`; `{% raw %}…{% endraw %}` is kept verbatim.
struct Lexer {
    private let scalars: [Unicode.Scalar]
    private var lineStarts: [Int] = [0]
    private var position = 0
    private var tokens: [Token] = []
    /// Whether the last consumed tag ended with a newline (Jinja's `line_starting`).
    private var lineStarting = true

    init(_ source: String) {
        var normalized: [Unicode.Scalar] = []
        normalized.reserveCapacity(source.unicodeScalars.count)
        var iterator = source.unicodeScalars.makeIterator()
        var pending = iterator.next()
        while let scalar = pending {
            pending = iterator.next()
            if scalar == "\r" {
                if pending == "\n" { pending = iterator.next() }
                normalized.append("\n")
            } else {
                normalized.append(scalar)
            }
        }
        if normalized.last == "\n" { normalized.removeLast() }
        scalars = normalized
        for (index, scalar) in scalars.enumerated() where scalar == "\n" { lineStarts.append(index + 1) }
    }

    /// Tokenizes the whole source.
    /// - Throws: `TemplateError.syntax` for an unterminated tag, comment, string or raw block, or an
    ///   unexpected character inside a tag.
    static func tokenize(_ source: String) throws -> [Token] {
        var lexer = Lexer(source)
        try lexer.run()
        return lexer.tokens
    }

    func location(_ index: Int) -> TemplateLocation {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= index { low = mid } else { high = mid - 1 }
        }
        return TemplateLocation(line: low + 1, column: index - lineStarts[low] + 1)
    }

    private mutating func run() throws {
        while position < scalars.count {
            guard let tagStart = nextTagStart(from: position) else {
                emitText(scalars[position...])
                break
            }
            let kind = scalars[tagStart + 1]
            let signIndex = tagStart + 2
            let sign: Unicode.Scalar? =
                signIndex < scalars.count && (scalars[signIndex] == "-" || scalars[signIndex] == "+")
                ? scalars[signIndex] : nil
            let raw = kind == "%" ? rawBeginEnd(after: signIndex + (sign == nil ? 0 : 1)) : nil
            let text = whitespaceControlled(scalars[position..<tagStart], sign: sign, lstrip: kind != "{")
            emitText(text)
            position = signIndex + (sign == nil ? 0 : 1)
            if let rawEnd = raw {
                position = rawEnd
                lineStarting = scalars[rawEnd - 1] == "\n"
                try lexRawBody(start: tagStart)
            } else if kind == "#" {
                try lexComment(start: tagStart)
            } else {
                try lexTag(isBlock: kind == "%", start: tagStart)
            }
        }
        tokens.append(Token(kind: .endOfInput, location: location(scalars.count)))
    }

    private func nextTagStart(from start: Int) -> Int? {
        var index = start
        while index + 1 < scalars.count {
            if scalars[index] == "{" {
                let next = scalars[index + 1]
                if next == "{" || next == "%" || next == "#" { return index }
            }
            index += 1
        }
        return nil
    }

    /// Applies `-` (strip all whitespace) or `lstrip_blocks` to the text before a tag.
    private func whitespaceControlled(
        _ text: ArraySlice<Unicode.Scalar>, sign: Unicode.Scalar?, lstrip: Bool
    )
        -> ArraySlice<Unicode.Scalar>
    {
        if sign == "-" {
            var end = text.endIndex
            while end > text.startIndex && text[end - 1].properties.isWhitespace { end -= 1 }
            return text[text.startIndex..<end]
        }
        guard sign != "+" && lstrip else { return text }
        let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? text.startIndex
        guard lineStart > text.startIndex || lineStarting else { return text }
        let tail = text[lineStart...]
        if !tail.isEmpty && tail.allSatisfy({ $0.properties.isWhitespace }) {
            return text[text.startIndex..<lineStart]
        }
        return text
    }

    private mutating func emitText(_ text: ArraySlice<Unicode.Scalar>) {
        guard !text.isEmpty else { return }
        var string = String.UnicodeScalarView()
        string.append(contentsOf: text)
        tokens.append(Token(kind: .text(String(string)), location: location(text.startIndex)))
    }

    private func matches(_ literal: String, at index: Int) -> Bool {
        var cursor = index
        for scalar in literal.unicodeScalars {
            guard cursor < scalars.count, scalars[cursor] == scalar else { return false }
            cursor += 1
        }
        return true
    }

    private func skipWhitespace(from index: Int) -> Int {
        var cursor = index
        while cursor < scalars.count && scalars[cursor].properties.isWhitespace { cursor += 1 }
        return cursor
    }

    /// If `{% raw %}` starts here (after `{%` and its sign), the index just past its `%}`.
    private func rawBeginEnd(after index: Int) -> Int? {
        var cursor = skipWhitespace(from: index)
        guard matches("raw", at: cursor) else { return nil }
        cursor = skipWhitespace(from: cursor + 3)
        if matches("-%}", at: cursor) { return skipWhitespace(from: cursor + 3) }
        if matches("%}", at: cursor) { return cursor + 2 }
        return nil
    }

    private mutating func lexRawBody(start: Int) throws {
        var index = position
        while index + 1 < scalars.count {
            if scalars[index] == "{" && scalars[index + 1] == "%" {
                var cursor = index + 2
                let sign: Unicode.Scalar? =
                    cursor < scalars.count && (scalars[cursor] == "-" || scalars[cursor] == "+")
                    ? scalars[cursor] : nil
                if sign != nil { cursor += 1 }
                cursor = skipWhitespace(from: cursor)
                if matches("endraw", at: cursor) {
                    cursor = skipWhitespace(from: cursor + 6)
                    var end: Int?
                    if matches("+%}", at: cursor) {
                        end = cursor + 3
                    } else if matches("-%}", at: cursor) {
                        end = skipWhitespace(from: cursor + 3)
                    } else if matches("%}", at: cursor) {
                        end = cursor + 2 < scalars.count && scalars[cursor + 2] == "\n" ? cursor + 3 : cursor + 2
                    }
                    if let end {
                        emitText(whitespaceControlled(scalars[position..<index], sign: sign, lstrip: true))
                        position = end
                        lineStarting = scalars[end - 1] == "\n"
                        return
                    }
                }
            }
            index += 1
        }
        throw TemplateError.syntax("missing end of raw directive", location(start))
    }

    private mutating func lexComment(start: Int) throws {
        var index = position
        while index < scalars.count {
            if matches("+#}", at: index) {
                position = index + 3
            } else if matches("-#}", at: index) {
                position = skipWhitespace(from: index + 3)
            } else if matches("#}", at: index) {
                position = index + 2 < scalars.count && scalars[index + 2] == "\n" ? index + 3 : index + 2
            } else {
                index += 1
                continue
            }
            lineStarting = scalars[position - 1] == "\n"
            return
        }
        throw TemplateError.syntax("missing end of comment tag", location(start))
    }

    /// Lexes the inside of `{{ … }}` or `{% … %}` up to and including its end delimiter.
    private mutating func lexTag(isBlock: Bool, start: Int) throws {
        tokens.append(Token(kind: isBlock ? .blockBegin : .variableBegin, location: location(start)))
        var balance: [Unicode.Scalar] = []
        while position < scalars.count {
            if balance.isEmpty, let end = tagEnd(isBlock: isBlock) {
                tokens.append(Token(kind: isBlock ? .blockEnd : .variableEnd, location: location(position)))
                position = end
                lineStarting = scalars[end - 1] == "\n"
                return
            }
            let scalar = scalars[position]
            if scalar.properties.isWhitespace {
                position += 1
                continue
            }
            let here = location(position)
            if scalar.properties.numericType != nil && ("0"..."9").contains(scalar) {
                tokens.append(Token(kind: lexNumber(), location: here))
            } else if scalar == "_" || scalar.properties.isAlphabetic {
                tokens.append(Token(kind: .name(lexName()), location: here))
            } else if scalar == "'" || scalar == "\"" {
                tokens.append(Token(kind: .string(try lexString()), location: here))
            } else if let op = lexOperator() {
                try balanceBrackets(op, &balance, at: here)
                tokens.append(Token(kind: .op(op), location: here))
            } else {
                throw TemplateError.syntax("unexpected character '\(Character(scalar))'", here)
            }
        }
        let closer = isBlock ? "%}" : "}}"
        throw TemplateError.syntax("unexpected end of template, expected '\(closer)'", location(start))
    }

    private func tagEnd(isBlock: Bool) -> Int? {
        if isBlock {
            if matches("+%}", at: position) { return position + 3 }
            if matches("-%}", at: position) { return skipWhitespace(from: position + 3) }
            if matches("%}", at: position) {
                return position + 2 < scalars.count && scalars[position + 2] == "\n" ? position + 3 : position + 2
            }
            return nil
        }
        if matches("-}}", at: position) { return skipWhitespace(from: position + 3) }
        if matches("}}", at: position) { return position + 2 }
        return nil
    }

    private func balanceBrackets(_ op: String, _ balance: inout [Unicode.Scalar], at here: TemplateLocation) throws {
        switch op {
        case "(": balance.append(")")
        case "[": balance.append("]")
        case "{": balance.append("}")
        case ")", "]", "}":
            guard let expected = balance.popLast() else { throw TemplateError.syntax("unexpected '\(op)'", here) }
            guard String(expected) == op else {
                throw TemplateError.syntax("unexpected '\(op)', expected '\(expected)'", here)
            }
        default: break
        }
    }

    private static let operators = [
        "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<",
        "=", ".", ":", "|", ",", ";",
    ]

    private mutating func lexOperator() -> String? {
        for op in Lexer.operators where matches(op, at: position) {
            position += op.unicodeScalars.count
            return op
        }
        return nil
    }

    private func isDigit(_ index: Int) -> Bool {
        index < scalars.count && ("0"..."9").contains(scalars[index])
    }

    /// Digits with `_` separators, an optional fraction and exponent (Jinja's `float_re`, `integer_re`).
    private mutating func lexNumber() -> Token.Kind {
        let start = position
        var text = ""
        func digits() {
            while position < scalars.count && (isDigit(position) || (scalars[position] == "_" && isDigit(position + 1)))
            {
                if scalars[position] != "_" { text.unicodeScalars.append(scalars[position]) }
                position += 1
            }
        }
        digits()
        var isFloat = false
        let afterDot = start > 0 && scalars[start - 1] == "."
        if !afterDot && position < scalars.count && scalars[position] == "." && isDigit(position + 1) {
            isFloat = true
            text += "."
            position += 1
            digits()
        }
        if !afterDot && position < scalars.count && (scalars[position] == "e" || scalars[position] == "E") {
            var cursor = position + 1
            if cursor < scalars.count && (scalars[cursor] == "+" || scalars[cursor] == "-") { cursor += 1 }
            if isDigit(cursor) {
                isFloat = true
                text += "e" + String(scalars[position + 1..<cursor].map(Character.init))
                position = cursor
                digits()
            }
        }
        if isFloat { return .float(Double(text) ?? .nan) }
        return Int(text).map(Token.Kind.integer) ?? .float(Double(text) ?? .nan)
    }

    private mutating func lexName() -> String {
        var name = String.UnicodeScalarView()
        while position < scalars.count {
            let scalar = scalars[position]
            guard scalar == "_" || scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) else { break }
            name.append(scalar)
            position += 1
        }
        return String(name)
    }

    /// A quoted string; escapes are decoded like Python's `unicode-escape` codec.
    private mutating func lexString() throws -> String {
        let start = position
        let quote = scalars[position]
        position += 1
        var body: [Unicode.Scalar] = []
        while position < scalars.count && scalars[position] != quote {
            if scalars[position] == "\\" && position + 1 < scalars.count {
                body.append(scalars[position])
                position += 1
            }
            body.append(scalars[position])
            position += 1
        }
        guard position < scalars.count else { throw TemplateError.syntax("unterminated string", location(start)) }
        position += 1
        return try PythonText.unescape(body, at: location(start))
    }
}
