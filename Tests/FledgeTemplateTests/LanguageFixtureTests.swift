import Foundation
import Testing

@testable import FledgeTemplate

/// One small template per language feature, rendered by Python Jinja2 in transformers' environment.
@Suite struct LanguageFixtureTests {
    @Test func matchesPythonJinja() throws {
        let cases = try TemplateFixtures.cases("language_cases.json")
        #expect(cases.count >= 50)
        for fixture in cases {
            let name = fixture.string("name") ?? "?"
            let source = fixture.string("source") ?? ""
            guard case .object(let contextObject)? = fixture["context"] else {
                Issue.record("\(name): no context")
                continue
            }
            let context = Dictionary(uniqueKeysWithValues: contextObject.map { ($0.key, $0.value) })
            let outcome = Result { try Template(source).render(context) }
            if let expected = fixture.string("expected") {
                switch outcome {
                case .success(let actual):
                    let difference = TemplateFixtures.firstDifference(actual, expected)
                    #expect(difference == nil, "\(name) \(source.debugDescription): \(difference ?? "")")
                case .failure(let error):
                    Issue.record("\(name) \(source.debugDescription): expected output, got \(error)")
                }
            } else if case .object(let error)? = fixture["error"] {
                switch outcome {
                case .success(let actual):
                    Issue.record(
                        """
                        \(name) \(source.debugDescription): expected \(error.string("kind") ?? "an error"), \
                        rendered \(actual.debugDescription)
                        """
                    )
                case .failure(let thrown):
                    if error.string("kind") == "raise_exception" {
                        #expect(thrown as? TemplateError == .raised(error.string("message") ?? ""), "\(name)")
                    } else {
                        #expect(thrown is TemplateError, "\(name)")
                    }
                }
            }
        }
    }
}
