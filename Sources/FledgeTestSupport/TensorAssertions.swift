import FledgeTensor

/// The largest differences between two float arrays, for golden comparisons.
public struct Comparison: CustomStringConvertible {
    public var name: String
    public var maxAbsolute: Float
    public var maxRelative: Float
    public var worstIndex: Int
    public var actual: Float
    public var expected: Float
    /// Whether every element satisfies |a − e| ≤ atol + rtol·|e|.
    public var passed: Bool

    public var description: String {
        "\(name): \(passed ? "ok" : "MISMATCH") max |Δ| \(maxAbsolute), max rel \(maxRelative) "
            + "(worst at \(worstIndex): \(actual) vs \(expected))"
    }
}

/// Compares `actual` with `expected` element by element with an absolute and relative tolerance.
public func compare(
    _ name: String, _ actual: UnsafePointer<Float>, _ expected: UnsafePointer<Float>, count: Int,
    atol: Float, rtol: Float = 0
) -> Comparison {
    var result = Comparison(
        name: name, maxAbsolute: 0, maxRelative: 0, worstIndex: -1, actual: 0, expected: 0, passed: true)
    var worstExcess: Float = -.infinity
    for i in 0..<count {
        let a = actual[i]
        let e = expected[i]
        let difference = a == e ? 0 : abs(a - e)
        let excess = difference - (atol + rtol * abs(e))
        if difference.isNaN || excess > 0 { result.passed = false }
        result.maxAbsolute = max(result.maxAbsolute, difference)
        if e != 0 { result.maxRelative = max(result.maxRelative, difference / abs(e)) }
        if excess > worstExcess || difference.isNaN {
            worstExcess = difference.isNaN ? .infinity : excess
            result.worstIndex = i
            result.actual = a
            result.expected = e
        }
    }
    return result
}

/// Compares two tensors of equal size.
public func compare(_ name: String, _ actual: Tensor, _ expected: Tensor, atol: Float, rtol: Float = 0) -> Comparison {
    precondition(actual.count == expected.count, "\(name): \(actual.shape) vs \(expected.shape)")
    return compare(name, actual.pointer, expected.pointer, count: actual.count, atol: atol, rtol: rtol)
}
