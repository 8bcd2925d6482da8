import FledgeTestSupport
import Foundation
import Testing

@testable import FledgeTemplate

/// Mutants of real chat templates through `ChatTemplate(source:)` and a render of a two-turn
/// chat when accepted: each renders or fails with a `TemplateError` with a message; none traps,
/// hangs or grows without bound (issue 15).
@Suite(.serialized) struct ChatTemplateFuzzTests {
    static let names = [
        "llama-3.1-8b-instruct", "mistral-7b-instruct-v0.3", "qwen2.5-instruct", "qwen3", "smollm2-135m-instruct",
    ]
    static let chat = [
        ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi {{ there }}"),
        ChatMessage(role: "assistant", content: "Hello!"),
    ]

    @Test func mutantsParseAndRenderOrFailWithAMessage() throws {
        let sources = try Self.names.map(TemplateFixtures.template(named:))
        let report = FuzzReport.run(
            seed: 3500, count: FuzzReport.count(default: 800),
            make: { mutator in Data(mutator.mutateText(sources[mutator.below(sources.count)]).utf8) }
        ) { mutant in
            let template = try ChatTemplate(source: String(decoding: mutant, as: UTF8.self))
            _ = try template.render(
                messages: Self.chat, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>",
                now: TemplateFixtures.fixedNow)
        }
        print("chat template fuzz: \(report)")
        #expect(report.silentErrors.isEmpty && report.slow.isEmpty, "\(report.silentErrors) \(report.slow)")
        #expect(report.accepted > 0 && report.rejected > 0)
    }

    /// Templates written to exhaust the interpreter, each stopped with an error naming the bound
    /// ("" : any outcome but a trap or a hang).
    static let hostile: [(source: String, expected: String)] = [
        (
            "{{ " + String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000) + " }}",
            "nested"
        ),
        ("{{ " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + " }}", "nested"),
        ("{{ " + String(repeating: "[", count: 100_000) + " }}", "expected ']'"),
        (String(repeating: "{% if true %}", count: 100_000), "nested"),
        (String(repeating: "{{ -", count: 1) + String(repeating: "-", count: 100_000) + "1 }}", "nested"),
        ("{% for i in range(9223372036854775807) %}{% endfor %}", "range"),
        ("{% for i in range(-9223372036854775807, 9223372036854775807, 3) %}{% endfor %}", "range"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "iterations"),
        ("{{ 'x' * 9223372036854775807 }}", "too long"),
        ("{{ [1, 2] * 9223372036854775807 }}", "too long"),
        ("{% set s = 'xxxxxxxxxxxxxxxx' %}{% for i in range(100000) %}{{ s * 1000 }}{% endfor %}", "output"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion"),
        ("{{ 1 ** 9223372036854775807 }}{{ 2 ** 9223372036854775807 }}", "overflow"),
        ("{{ -(-9223372036854775807 - 1) }}", "overflow"),
        ("{{ 1e300 | int }}{{ '1e300' | int }}{{ 'x' | center(-9223372036854775807) }}", ""),
        ("{{ 'x' | center(9223372036854775807) }}", "too long"),
        ("{{ 'a\nb' | indent(9223372036854775807) }}", "too long"),
        ("{{ 'abc'[-9223372036854775807 - 1:9223372036854775807:-9223372036854775807] }}", ""),
        ("{{ 'abc'[1::9223372036854775807] }}{{ [1, 2, 3][2::-9223372036854775807] }}", ""),
        ("{% set s = 'x' * 60000000 %}{{ ([s] * 1000) | join(',') }}", "too long"),
        ("{% set s = 'x' * 60000000 %}{{ ','.join([s] * 1000) }}", "too long"),
        ("{{ [1] * 9223372036854775807 }}", "too long"),
        ("{{ [[1, 2], [3, [4]]] | tojson(indent=9223372036854775807) }}", ""),
        ("{% set s = 'x' * 60000000 %}{{ ([s] * 1000) | tojson }}", "too long"),
        (
            "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}",
            "nested deeper"
        ),
        (
            "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
            "nested deeper"
        ),
        (
            "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = {'a': ns.x} %}{% endfor %}"
                + "{{ ns.x | tojson }}{{ ns.x == ns.x }}", "nested deeper"
        ),
        ("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}{{ ns == ns }}{{ ns.me.me.me }}", "itself"),
        (
            "{% set a = namespace() %}{% set b = namespace(a=a) %}{% set a.b = [b] %}{{ a }}", "itself"
        ),
    ]

    @Test(arguments: 0..<hostile.count)
    func hostileTemplatesStopWithAnError(index: Int) throws {
        let (source, expected) = Self.hostile[index]
        let start = Date()
        do {
            let output = try Template(source).render([:])
            #expect(expected.isEmpty, "rendered \(output.utf8.count) bytes")
        } catch {
            #expect(expected.isEmpty || "\(error)".contains(expected), "\(String(describing: error).suffix(300))")
        }
        #expect(Date().timeIntervalSince(start) < 10)
    }
}

/// Errors of a model folder's template files name the file.
@Suite struct ChatTemplateFileErrorTests {
    @Test func syntaxErrorsAndDeepJSONNameTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tpl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("tokenizer_config.json")
        try Data((#"{"chat_template": "{% if %}"}"#).utf8).write(to: config)
        #expect {
            _ = try ChatTemplate.load(modelDirectory: folder)
        } throws: { error in
            "\(error)".contains(config.path) && "\(error)".contains("line 1")
        }
        try Data(("{\"a\": " + String(repeating: "[", count: 100_000)).utf8).write(to: config)
        #expect {
            _ = try ChatTemplate.load(modelDirectory: folder)
        } throws: { error in
            "\(error)".contains(config.path) && "\(error)".contains("nested deeper")
        }
        let jinja = folder.appendingPathComponent("chat_template.jinja")
        try Data("hello\n{{ (((( }}".utf8).write(to: jinja)
        #expect {
            _ = try ChatTemplate.load(modelDirectory: folder)
        } throws: { error in
            "\(error)".contains(jinja.path) && "\(error)".contains("line 2")
        }
    }
}
