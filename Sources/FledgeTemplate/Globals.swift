import Foundation

/// The functions every template can call: Jinja's `range`, `dict`, `namespace`, and the
/// globals transformers adds in `_compile_jinja_template` (`raise_exception`, `strftime_now`).
enum Globals {
    static func make(now: Date) -> [String: TemplateValue] {
        [
            "range": .function(TemplateFunction(name: "range", range)),
            "dict": .function(TemplateFunction(name: "dict", dict)),
            "namespace": .function(TemplateFunction(name: "namespace", namespace)),
            "raise_exception": .function(
                TemplateFunction(name: "raise_exception") { arguments in
                    throw TemplateError.raised(arguments.value(0, "message")?.text ?? "")
                }),
            "strftime_now": .function(
                TemplateFunction(name: "strftime_now") { arguments in
                    .string(strftime(arguments.value(0, "format")?.text ?? "", now))
                }),
        ]
    }

    private static func range(_ arguments: CallArguments) throws -> TemplateValue {
        let numbers = try arguments.positional.map { value -> Int in
            guard case .int(let number) = value else {
                throw TemplateError.runtime("range() needs integers, got '\(value.typeName)'", nil)
            }
            return number
        }
        let (start, stop, step): (Int, Int, Int)
        switch numbers.count {
        case 1: (start, stop, step) = (0, numbers[0], 1)
        case 2: (start, stop, step) = (numbers[0], numbers[1], 1)
        case 3: (start, stop, step) = (numbers[0], numbers[1], numbers[2])
        default: throw TemplateError.runtime("range expected 1 to 3 arguments, got \(numbers.count)", nil)
        }
        guard step != 0 else { throw TemplateError.runtime("range() arg 3 must not be zero", nil) }
        // The length is computed before anything is allocated, without overflow: the span
        // between two Ints always fits in a UInt.
        let count: UInt
        if step > 0 ? start >= stop : start <= stop {
            count = 0
        } else {
            let span = step > 0 ? UInt(bitPattern: stop &- start) : UInt(bitPattern: start &- stop)
            count = (span - 1) / step.magnitude + 1
        }
        // jinja2.sandbox.MAX_RANGE
        guard count <= Limits.maxRange else {
            throw TemplateError.runtime("range too big (\(count) items, at most \(Limits.maxRange))", nil)
        }
        var values: [TemplateValue] = []
        values.reserveCapacity(Int(count))
        var value = start
        for index in 0..<Int(count) {
            values.append(.int(value))
            if index + 1 < Int(count) { value += step }
        }
        return .array(values)
    }

    private static func dict(_ arguments: CallArguments) throws -> TemplateValue {
        var object = TemplateObject()
        if let first = arguments.positional.first {
            switch first {
            case .object(let source): object = source
            default:
                for pair in try first.iterated(nil) {
                    let items = try pair.iterated(nil)
                    guard items.count == 2, case .string(let key) = items[0] else {
                        throw TemplateError.runtime("dict() needs string-keyed pairs", nil)
                    }
                    object[key] = items[1]
                }
            }
        }
        for (key, value) in arguments.keyword { object[key] = value }
        return .object(object)
    }

    private static func namespace(_ arguments: CallArguments) throws -> TemplateValue {
        guard case .object(let attributes) = try dict(arguments) else { return .none }
        if let bad = attributes.keys.first(where: { $0.hasPrefix("_") }) {
            throw TemplateError.runtime(
                "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(bad)'", nil)
        }
        return .namespace(TemplateNamespace(attributes))
    }

    private static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ]

    /// C `strftime` in the C locale for the common codes, on the local time zone (as Python's
    /// `datetime.now().strftime`). `%-d` style (no padding) is accepted as glibc does.
    static func strftime(_ format: String, _ date: Date, timeZone: TimeZone = .current) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let year = parts.year ?? 1970
        let month = parts.month ?? 1
        let day = parts.day ?? 1
        let hour = parts.hour ?? 0
        let weekday = (parts.weekday ?? 1) - 1
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        var out = ""
        var iterator = format.makeIterator()
        while let character = iterator.next() {
            guard character == "%", var code = iterator.next() else {
                out.append(character)
                continue
            }
            var pad = true
            if code == "-", let next = iterator.next() {
                pad = false
                code = next
            }
            func number(_ value: Int, _ width: Int = 2) -> String {
                pad ? String(format: "%0\(width)d", value) : String(value)
            }
            switch code {
            case "Y": out += String(year)
            case "y": out += number(year % 100)
            case "m": out += number(month)
            case "d": out += number(day)
            case "e": out += pad ? String(format: "%2d", day) : String(day)
            case "H": out += number(hour)
            case "I": out += number(hour % 12 == 0 ? 12 : hour % 12)
            case "M": out += number(parts.minute ?? 0)
            case "S": out += number(parts.second ?? 0)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "j": out += number(dayOfYear, 3)
            case "A": out += weekdays[weekday]
            case "a": out += String(weekdays[weekday].prefix(3))
            case "B": out += months[month - 1]
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "%": out += "%"
            default: out += "%" + String(code)
            }
        }
        return out
    }
}
