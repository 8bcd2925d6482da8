import Foundation
import Testing

@testable import FledgeTemplate

/// Hand-written checks of the language pieces chat templates lean on (expected values were
/// confirmed with Python Jinja2 3.1.6 in transformers' environment).
@Suite struct LanguageTests {
    private func render(_ source: String, _ context: [String: TemplateValue] = [:]) throws -> String {
        try Template(source).render(context)
    }

    @Test func whitespaceControl() throws {
        #expect(try render("a  {{- 'b' -}}  \n c") == "abc")
        #expect(try render("a\n  {%- if true %} b{% endif %}") == "a b")
        // trim_blocks removes the newline after a block tag; lstrip_blocks the indentation before it.
        #expect(try render("<\n    {% if true %}\n    x\n    {% endif %}\n>") == "<\n    x\n>")
        // `+` turns both off for that tag; `{{ }}` is never lstripped.
        #expect(try render("<\n  {%+ if true +%}\nx{% endif %}") == "<\n  \nx")
        #expect(try render("<\n  {{ 'v' }}\n>") == "<\n  v\n>")
        // One trailing newline of the template is dropped (keep_trailing_newline=False).
        #expect(try render("end\n") == "end")
        #expect(try render("a {# note #}\nb") == "a b")
    }

    @Test func loopVariables() throws {
        let source =
            "{% for m in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}"
            + "{{ loop.last }}{{ loop.length }} {% endfor %}"
        #expect(try render(source, ["items": ["a", "b"]]) == "10TrueFalse2 21FalseTrue2 ")
        #expect(
            try render(
                "{% for x in items if x > 1 %}{{ x }}{{ loop.last }}{% else %}none{% endfor %}", ["items": [1, 2, 3]])
                == "2False3True")
        #expect(try render("{% for x in [] %}x{% else %}none{% endfor %}") == "none")
    }

    @Test func setInsideLoopDoesNotLeakButNamespaceDoes() throws {
        let source =
            "{% set n = 0 %}{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set n = n + 1 %}"
            + "{% set ns.n = ns.n + 1 %}{% endfor %}{{ n }} {{ ns.n }}"
        #expect(try render(source) == "0 3")
    }

    @Test func slicingAndStringMethods() throws {
        let context: [String: TemplateValue] = ["m": ["a", "b", "c"], "s": "  Héllo, World  "]
        #expect(try render("{{ m[1:] }} {{ m[::-1] }} {{ m[-1] }}", context) == "['b', 'c'] ['c', 'b', 'a'] c")
        #expect(
            try render("{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}", context)
                == "Héllo, World|Héllo, World  |  Héllo, World")
        #expect(
            try render("{{ s.strip().startswith('Hé') }} {{ s.strip().endswith('d') }} {{ s.split(',') }}", context)
                == "True True ['  Héllo', ' World  ']")
        #expect(
            try render("{{ s.upper() }}{{ s.lower() }}{{ 'a-a'.replace('a', 'b') }}", context)
                == "  HÉLLO, WORLD    héllo, world  b-b")
    }

    @Test func filtersWithArguments() throws {
        #expect(
            try render("{{ ' x '|trim }}|{{ [1, 2]|length }}|{{ 5|string ~ '!' }}|{{ y|default('d') }}") == "x|2|5!|d")
        #expect(try render("{{ ['a', 'b']|join(', ') }}|{{ 'ab'|upper }}|{{ [3, 1, 2]|sort|first }}") == "a, b|AB|1")
        let messages: TemplateValue = [["role": "user"], ["role": "assistant"], ["role": "user"]]
        #expect(try render("{{ m|selectattr('role', 'equalto', 'user')|list|length }}", ["m": messages]) == "2")
    }

    @Test func testsAndMembership() throws {
        let context: TemplateValue = ["a": "x", "b": .none]
        let source =
            "{{ d.a is defined }}{{ d.z is defined }}{{ d.b is none }}{{ d.a is string }}{{ 'a' in d }}{{ 'x' in d.a }}"
        #expect(try render(source, ["d": context]) == "TrueFalseTrueTrueTrueTrue")
    }

    @Test func tojsonOfNestedObjectsWithUnicode() throws {
        let value: TemplateValue = [
            "name": "Zürich 🌍", "list": [1, 2.5, .none, true, ["k": "v\n\"q\""]], "empty": [:], "emptyList": [],
        ]
        #expect(
            try render("{{ v|tojson }}", ["v": value])
                == #"{"name": "Zürich 🌍", "list": [1, 2.5, null, true, {"k": "v\n\"q\""}], "#
                + #""empty": {}, "emptyList": []}"#
        )
        #expect(
            try render("{{ v|tojson(indent=2) }}", ["v": ["a": [1, ["b": "é"]]]])
                == "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"é\"\n    }\n  ]\n}")
        #expect(try render("{{ 'é😀'|tojson(ensure_ascii=true) }}") == #""\u00e9\ud83d\ude00""#)
    }

    @Test func pythonReprOfValues() throws {
        #expect(
            try render("{{ [1.0, 1e-05, 1e16, 0.1 + 0.2, \"it's\", none, true] }}")
                == "[1.0, 1e-05, 1e+16, 0.30000000000000004, \"it's\", None, True]")
        #expect(
            try render("{{ {'a': [1, (2, 3)]} }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 % 3 }}") == "{'a': [1, (2, 3)]} 3.5 3 2"
        )
    }

    @Test func macrosAndRaiseException() throws {
        #expect(
            try render("{% macro m(x, y='!') %}<{{ x }}{{ y }}>{% endmacro %}{{ m('a') }}{{ m('b', y='?') }}")
                == "<a!><b?>")
        #expect(throws: TemplateError.raised("bad roles")) { try render("{{ raise_exception('bad roles') }}") }
    }

    @Test func jsonParserKeepsKeyOrder() throws {
        let value = try TemplateValue(
            json: #"{"z": 1, "a": [1.5, "é\u00e9\ud83d\ude00"], "m": {"y": null, "b": true}}"#)
        guard case .object(let object) = value else {
            Issue.record("not an object")
            return
        }
        #expect(object.keys == ["z", "a", "m"])
        #expect(object["a"] == [1.5, "éé😀"])
        #expect(try value.jsonString() == #"{"z": 1, "a": [1.5, "éé😀"], "m": {"y": null, "b": true}}"#)
    }

    @Test func strftimeNowUsesTheGivenTime() throws {
        var components = DateComponents()
        (components.year, components.month, components.day, components.hour) = (2024, 7, 5, 15)
        let date = try #require(Calendar(identifier: .gregorian).date(from: components))
        let text = try Template("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %B %-d, %H:%M %p') }}").render(
            [:], now: date)
        #expect(text == "05 Jul 2024|Friday July 5, 15:00 PM")
    }
}
