import FledgeTensor
import Foundation

/// Seeded mutation of files from strangers, for the fuzz suites: every mutant of a valid input
/// must end in success or a thrown error with a message — never a trap, a hang or unbounded
/// memory. `FLEDGE_FUZZ_COUNT` sets the mutants per format (`make fuzz`: 10,000); the
/// default keeps `make test` within its budget.
public struct Mutator {
    /// SplitMix64 (Fledge's own seeded generator), offset so that seed 0 is not state 0.
    private var generator: SeededGenerator

    public init(seed: UInt64) { generator = SeededGenerator(seed: seed &+ 0x9E37_79B9_7F4A_7C15) }

    public mutating func next() -> UInt64 { generator.next() }

    public mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }

    /// Values that break size and offset arithmetic.
    public static let interestingIntegers: [UInt64] = [
        0, 1, 2, 3, 7, 8, 16, 255, 256, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000,
        0x4000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFF0, UInt64.max,
    ]

    /// A binary mutant of `data`: bit flips, interesting little-endian integers written over
    /// 1–8 bytes (within `limit` bytes of the start when given: the header), truncation,
    /// deleted, duplicated or inserted chunks.
    public mutating func mutate(_ data: Data, headerLimit: Int? = nil) -> Data {
        var bytes = [UInt8](data)
        for _ in 0..<(1 + below(3)) {
            // Recomputed each round: an earlier round may have shortened the bytes.
            let span = max(1, min(bytes.count, headerLimit ?? bytes.count))
            switch below(7) {
            case 0 where !bytes.isEmpty:
                bytes[below(span)] ^= UInt8(1 << below(8))
            case 1 where bytes.count >= 8,
                2 where bytes.count >= 8:
                let width = [1, 2, 4, 8][below(4)]
                let offset = below(max(1, span - width + 1))
                var value = Self.interestingIntegers[below(Self.interestingIntegers.count)]
                if below(4) == 0 { value = next() }
                for i in 0..<width where offset + i < bytes.count {
                    bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i))
                }
            case 3:
                bytes = Array(bytes.prefix(below(bytes.count + 1)))
            case 4 where bytes.count > 1:
                let start = below(bytes.count), length = below(min(64, bytes.count - start) + 1)
                bytes.removeSubrange(start..<(start + length))
            case 5 where !bytes.isEmpty:
                let start = below(bytes.count), length = below(min(64, bytes.count - start) + 1)
                bytes.insert(contentsOf: bytes[start..<(start + length)], at: below(bytes.count + 1))
            default:
                bytes.insert(
                    contentsOf: (0..<below(16)).map { _ in UInt8(truncatingIfNeeded: next()) },
                    at: below(bytes.count + 1))
            }
        }
        return Data(bytes)
    }

    /// Replacements for one JSON value.
    static let jsonValues = [
        "0", "-1", "1", "-2147483649", "9223372036854775807", "18446744073709551615", "1e400", "-1e400", "NaN", "0.5",
        "\"\"", "\"x\"", "\"64\"", "null", "true", "[]", "{}", "[1,2,3]", "{\"a\":1}",
        String(repeating: "[", count: 5000),
    ]

    /// A textual mutant of a JSON (or JSONL, YAML, template) document: a number, string or
    /// literal replaced by a hostile value, a key renamed or dropped, deep nesting, truncation,
    /// line endings changed, or a byte-level mutation.
    public mutating func mutateText(_ text: String) -> String {
        var scalars = Array(text.unicodeScalars)
        switch below(8) {
        case 0, 1, 2:
            // A token (number, quoted string or literal) replaced by a hostile value.
            let tokens = Self.tokenRanges(scalars)
            guard let range = tokens.isEmpty ? nil : tokens[below(tokens.count)] else { break }
            let value = Self.jsonValues[below(Self.jsonValues.count)]
            scalars.replaceSubrange(range, with: value.unicodeScalars)
        case 3:
            // A whole `"key": value` pair removed up to the next comma.
            let tokens = Self.tokenRanges(scalars).filter {
                $0.upperBound < scalars.count && scalars[$0.upperBound] == ":"
            }
            guard !tokens.isEmpty else { break }
            let range = tokens[below(tokens.count)]
            var end = range.upperBound
            var depth = 0
            while end < scalars.count {
                let c = scalars[end]
                if c == "{" || c == "[" { depth += 1 }
                if c == "}" || c == "]" { if depth == 0 { break }; depth -= 1 }
                if c == "," && depth == 0 { end += 1; break }
                end += 1
            }
            scalars.removeSubrange(range.lowerBound..<end)
        case 4:
            scalars = Array(scalars.prefix(below(scalars.count + 1)))
        case 5:
            let newline: String = ["\r", "\r\n", "", "\n\n"][below(4)]
            return String(String.UnicodeScalarView(scalars)).replacingOccurrences(of: "\n", with: newline)
        case 6:
            let at = below(scalars.count + 1)
            let depth = [10, 1000, 100_000][below(3)]
            scalars.insert(
                contentsOf: (String(repeating: "[", count: depth) + String(repeating: "]", count: below(2) * depth))
                    .unicodeScalars, at: at)
        default:
            let data = mutate(Data(String(String.UnicodeScalarView(scalars)).utf8))
            return String(decoding: data, as: UTF8.self)
        }
        return String(String.UnicodeScalarView(scalars))
    }

    /// Ranges of numbers, quoted strings and the literals true/false/null.
    static func tokenRanges(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var i = 0
        while i < s.count, ranges.count < 100_000 {
            let c = s[i]
            if c == "\"" {
                var j = i + 1
                while j < s.count && s[j] != "\"" { j += s[j] == "\\" ? 2 : 1 }
                ranges.append(i..<min(j + 1, s.count))
                i = j + 1
            } else if c == "-" || ("0"..."9").contains(c) {
                var j = i + 1
                while j < s.count, "0123456789.eE+-".unicodeScalars.contains(s[j]) { j += 1 }
                ranges.append(i..<j)
                i = j
            } else if c == "t" || c == "f" || c == "n" {
                var j = i
                while j < s.count, ("a"..."z").contains(s[j]) { j += 1 }
                if ["true", "false", "null"].contains(String(String.UnicodeScalarView(s[i..<j]))) {
                    ranges.append(i..<j)
                }
                i = max(j, i + 1)
            } else {
                i += 1
            }
        }
        return ranges
    }
}

/// Runs mutants and counts their outcomes.
public struct FuzzReport: CustomStringConvertible, Sendable {
    public var mutants = 0
    public var accepted = 0
    public var rejected = 0
    /// Errors whose description is empty (a message must say what is wrong).
    public var silentErrors: [String] = []
    /// Mutants slower than the limit (a bounded loop gone wild), with their seed.
    public var slow: [String] = []
    public var slowest = 0.0

    public var description: String {
        "\(mutants) mutants: \(accepted) accepted, \(rejected) rejected with a message, \(silentErrors.count) without, "
            + "\(slow.count) slow (slowest \(String(format: "%.2f", slowest)) s)"
    }

    /// `FLEDGE_FUZZ_COUNT`, else `default`.
    public static func count(default value: Int) -> Int {
        ProcessInfo.processInfo.environment["FLEDGE_FUZZ_COUNT"].flatMap(Int.init) ?? value
    }

    /// Calls `body` on `count` mutants made by `make(&mutator)`; `body` either returns (the
    /// mutant was accepted) or throws.
    public static func run(
        seed: UInt64, count: Int, secondsLimit: Double = 2, make: (inout Mutator) -> Data, _ body: (Data) throws -> Void
    ) -> FuzzReport {
        var report = FuzzReport()
        for index in 0..<count {
            var mutator = Mutator(seed: seed &+ UInt64(index))
            let mutant = make(&mutator)
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                try body(mutant)
                report.accepted += 1
            } catch {
                report.rejected += 1
                if "\(error)".trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    report.silentErrors.append("seed \(seed &+ UInt64(index))")
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            report.slowest = max(report.slowest, seconds)
            if seconds > secondsLimit {
                report.slow.append("seed \(seed &+ UInt64(index)) (\(String(format: "%.1f", seconds)) s)")
            }
            report.mutants += 1
        }
        return report
    }
}
