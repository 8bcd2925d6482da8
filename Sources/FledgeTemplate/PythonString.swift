/// Python `str` methods on Unicode scalars (code points), as CPython implements them.
enum PythonString {
    typealias Scalars = [Unicode.Scalar]

    static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// The scalar offset of the first occurrence of `needle` in `haystack` at or after `start`.
    static func find(_ needle: String, in haystack: String, from start: Int = 0) -> Int? {
        find(Array(needle.unicodeScalars), in: Array(haystack.unicodeScalars), from: start)
    }

    static func find(_ needle: Scalars, in haystack: Scalars, from start: Int = 0) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        if needle.isEmpty { return min(start, haystack.count) }
        var index = max(start, 0)
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0] && haystack[index..<(index + needle.count)].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
    }

    static func rfind(_ needle: Scalars, in haystack: Scalars) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var index = haystack.count - needle.count
        while index >= 0 {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index -= 1
        }
        return nil
    }

    static func count(_ needle: Scalars, in haystack: Scalars) -> Int {
        if needle.isEmpty { return haystack.count + 1 }
        var total = 0
        var index = 0
        while let found = find(needle, in: haystack, from: index) {
            total += 1
            index = found + needle.count
        }
        return total
    }

    /// `strip`, `lstrip`, `rstrip`: `characters` nil means whitespace.
    static func strip(_ text: String, _ characters: String?, leading: Bool, trailing: Bool) -> String {
        let scalars = Array(text.unicodeScalars)
        let set = characters.map { Set($0.unicodeScalars) }
        let remove = { (scalar: Unicode.Scalar) in set?.contains(scalar) ?? PythonText.isSpace(scalar) }
        var start = 0
        var end = scalars.count
        if leading { while start < end && remove(scalars[start]) { start += 1 } }
        if trailing { while end > start && remove(scalars[end - 1]) { end -= 1 } }
        return string(scalars[start..<end])
    }

    /// `str.split(sep=None, maxsplit=-1)`.
    static func split(_ text: String, _ separator: String?, maxSplit: Int) -> [String] {
        let scalars = Array(text.unicodeScalars)
        guard let separator else { return splitWhitespace(scalars, maxSplit: maxSplit) }
        let needle = Array(separator.unicodeScalars)
        var parts: [String] = []
        var start = 0
        while maxSplit < 0 || parts.count < maxSplit, let found = find(needle, in: scalars, from: start) {
            parts.append(string(scalars[start..<found]))
            start = found + needle.count
        }
        parts.append(string(scalars[start...]))
        return parts
    }

    private static func splitWhitespace(_ scalars: Scalars, maxSplit: Int) -> [String] {
        var parts: [String] = []
        var index = 0
        while index < scalars.count {
            while index < scalars.count && PythonText.isSpace(scalars[index]) { index += 1 }
            guard index < scalars.count else { break }
            if maxSplit >= 0 && parts.count == maxSplit {
                var end = scalars.count
                while end > index && PythonText.isSpace(scalars[end - 1]) { end -= 1 }
                parts.append(string(scalars[index..<end]))
                break
            }
            let start = index
            while index < scalars.count && !PythonText.isSpace(scalars[index]) { index += 1 }
            parts.append(string(scalars[start..<index]))
        }
        return parts
    }

    /// `str.rsplit(sep, maxsplit)` with an explicit separator (whitespace splitting falls back to `split`
    /// when no limit is given).
    static func rsplit(_ text: String, _ separator: String?, maxSplit: Int) -> [String] {
        guard let separator, maxSplit >= 0 else { return split(text, separator, maxSplit: maxSplit) }
        let scalars = Array(text.unicodeScalars)
        let needle = Array(separator.unicodeScalars)
        var parts: [String] = []
        var end = scalars.count
        while parts.count < maxSplit, let found = rfind(needle, in: Array(scalars[0..<end])) {
            parts.append(string(scalars[(found + needle.count)..<end]))
            end = found
        }
        parts.append(string(scalars[0..<end]))
        return parts.reversed()
    }

    /// `str.splitlines()` (without `keepends`), on Python's line boundaries.
    static func splitLines(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var lines: [String] = []
        var start = 0
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            let isBreak = [0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029].contains(scalar.value)
            if isBreak {
                lines.append(string(scalars[start..<index]))
                if scalar == "\r" && index + 1 < scalars.count && scalars[index + 1] == "\n" { index += 1 }
                start = index + 1
            }
            index += 1
        }
        if start < scalars.count { lines.append(string(scalars[start...])) }
        return lines
    }

    static func replace(_ text: String, _ old: String, _ new: String, count limit: Int) -> String {
        let scalars = Array(text.unicodeScalars)
        let needle = Array(old.unicodeScalars)
        var out = String.UnicodeScalarView()
        var start = 0
        var replaced = 0
        if needle.isEmpty {
            for scalar in scalars {
                if limit < 0 || replaced < limit {
                    out.append(contentsOf: new.unicodeScalars)
                    replaced += 1
                }
                out.append(scalar)
            }
            if limit < 0 || replaced < limit { out.append(contentsOf: new.unicodeScalars) }
            return String(out)
        }
        while limit < 0 || replaced < limit, let found = find(needle, in: scalars, from: start) {
            out.append(contentsOf: scalars[start..<found])
            out.append(contentsOf: new.unicodeScalars)
            start = found + needle.count
            replaced += 1
        }
        out.append(contentsOf: scalars[start...])
        return String(out)
    }

    /// `str.title()`: uppercase after a non-letter, lowercase otherwise.
    static func title(_ text: String) -> String {
        var out = ""
        var previousIsCased = false
        for scalar in text.unicodeScalars {
            let piece = String(scalar)
            out += previousIsCased ? piece.lowercased() : piece.uppercased()
            previousIsCased = scalar.properties.isCased
        }
        return out
    }

    /// `str.capitalize()`: first character uppercased, the rest lowercased.
    static func capitalize(_ text: String) -> String {
        guard let first = text.unicodeScalars.first else { return text }
        return String(first).uppercased() + string(Array(text.unicodeScalars).dropFirst()[...]).lowercased()
    }

    /// Python's slice index computation (`PySlice_AdjustIndices`).
    static func sliceIndices(
        count: Int, _ start: Int?, _ stop: Int?, _ step: Int?, _ location: TemplateLocation
    )
        throws -> [Int]
    {
        let step = step ?? 1
        guard step != 0 else { throw TemplateError.runtime("slice step cannot be zero", location) }
        func clamp(_ value: Int?, _ defaultValue: Int) -> Int {
            guard var value else { return defaultValue }
            if value < 0 {
                value += count
                if value < 0 { value = step < 0 ? -1 : 0 }
            } else if value >= count {
                value = step < 0 ? count - 1 : count
            }
            return value
        }
        let first = clamp(start, step < 0 ? count - 1 : 0)
        let last = clamp(stop, step < 0 ? -1 : count)
        var indices: [Int] = []
        var index = first
        while step > 0 ? index < last : index > last {
            indices.append(index)
            let (next, overflowed) = index.addingReportingOverflow(step)
            if overflowed { break }
            index = next
        }
        return indices
    }
}
