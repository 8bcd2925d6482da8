import Testing

@testable import FledgeTemplate

/// Lexer and parser errors name the line and column of the offending token.
@Suite struct SyntaxErrorTests {
    private func syntaxError(_ source: String) -> (String, TemplateLocation)? {
        do {
            _ = try Template(source)
            return nil
        } catch TemplateError.syntax(let message, let location) {
            return (message, location)
        } catch {
            return nil
        }
    }

    @Test func unclosedForNamesWhereTheTemplateEnds() throws {
        let error = try #require(syntaxError("line one\n{% for x in items %}\n  {{ x }}\n"))
        #expect(error.0.contains("endfor"))
        #expect(error.1 == TemplateLocation(line: 3, column: 10))
    }

    @Test func unexpectedTokenInsideAnExpression() throws {
        let error = try #require(syntaxError("ok\n\n   {{ a + * b }}"))
        #expect(error.0.contains("'*'"))
        #expect(error.1 == TemplateLocation(line: 3, column: 11))
    }

    @Test func unknownTagIsReportedAtItsName() throws {
        let error = try #require(syntaxError("{% if x %}\n{% include 'other.jinja' %}{% endif %}"))
        #expect(error.0.contains("include"))
        #expect(error.1 == TemplateLocation(line: 2, column: 4))
    }

    @Test func unterminatedStringAndComment() throws {
        let string = try #require(syntaxError("{{ 'abc }}"))
        #expect(string.1 == TemplateLocation(line: 1, column: 4))
        let comment = try #require(syntaxError("a\nb {# never closed"))
        #expect(comment.0.contains("comment"))
        #expect(comment.1 == TemplateLocation(line: 2, column: 3))
    }

    @Test func strayEndTagAndMismatchedBrackets() throws {
        let end = try #require(syntaxError("x{% endif %}"))
        #expect(end.0.contains("endif"))
        #expect(end.1 == TemplateLocation(line: 1, column: 5))
        let bracket = try #require(syntaxError("{{ [1, 2) }}"))
        #expect(bracket.1 == TemplateLocation(line: 1, column: 9))
    }

    @Test func columnsCountUnicodeScalars() throws {
        let error = try #require(syntaxError("é🌍 {{ ) }}"))
        #expect(error.1 == TemplateLocation(line: 1, column: 7))
    }

    @Test func descriptionCarriesLocationAndHint() {
        let error = TemplateError.syntax("unexpected ')'", TemplateLocation(line: 4, column: 2))
        #expect(error.description.contains("line 4, column 2"))
        #expect(TemplateError.raised("boom").description.contains("boom"))
    }

    @Test func runtimeErrorsNameTheExpression() throws {
        let template = try Template("ok\n  {{ message.content.strip() }}")
        #expect(throws: TemplateError.runtime("'message' is undefined", TemplateLocation(line: 2, column: 13))) {
            try template.render([:])
        }
    }
}
