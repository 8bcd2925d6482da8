import Foundation
import Testing

@testable import FledgeTemplate

/// Reads the golden files written by `Scripts/reference/make_template_fixtures.py`.
enum TemplateFixtures {
    static var directory: URL {
        get throws {
            try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        }
    }

    /// The `cases` array of a fixture file, each case an ordered object.
    static func cases(_ file: String) throws -> [TemplateObject] {
        let text = try String(contentsOf: try directory.appendingPathComponent(file), encoding: .utf8)
        guard case .object(let root) = try TemplateValue(json: text), case .array(let cases)? = root["cases"] else {
            throw FixtureFailure("\(file) has no cases array")
        }
        return cases.compactMap { if case .object(let object) = $0 { object } else { nil } }
    }

    static func template(named name: String) throws -> String {
        let url = try directory.appendingPathComponent("templates/\(name).jinja")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// `fixed_now` of the generator (2025-03-07 10:30:00, naive local time as Python's `datetime.now()`).
    static var fixedNow: Date {
        var components = DateComponents()
        (components.year, components.month, components.day, components.hour, components.minute) = (2025, 3, 7, 10, 30)
        return Calendar(identifier: .gregorian).date(from: components)!
    }

    /// nil when equal, else a description of the first differing UTF-8 byte.
    static func firstDifference(_ actual: String, _ expected: String) -> String? {
        let a = Array(actual.utf8)
        let b = Array(expected.utf8)
        guard a != b else { return nil }
        let offset = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        func around(_ bytes: [UInt8]) -> String {
            let window = bytes[max(0, offset - 40)..<min(bytes.count, offset + 40)]
            return String(decoding: window, as: UTF8.self).debugDescription
        }
        return "first difference at byte \(offset) (lengths \(a.count) vs \(b.count)):\n"
            + "  actual:   …\(around(a))…\n  expected: …\(around(b))…"
    }
}

struct FixtureFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension TemplateObject {
    func string(_ key: String) -> String? {
        if case .string(let text)? = self[key] { return text }
        return nil
    }
}
