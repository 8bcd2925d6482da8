/// The dimensions of a contiguous row-major tensor, outermost first.
public struct Shape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// The extent of each dimension.
    public var dims: [Int]

    public init(_ dims: [Int]) {
        precondition(dims.allSatisfy { $0 >= 0 }, "negative dimension in \(dims)")
        self.dims = dims
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    /// The number of elements (1 for a scalar shape `[]`).
    public var count: Int { dims.reduce(1, *) }

    /// The number of dimensions.
    public var rank: Int { dims.count }

    public subscript(_ axis: Int) -> Int { dims[axis < 0 ? dims.count + axis : axis] }

    /// Row-major strides in elements.
    public var strides: [Int] {
        var result = [Int](repeating: 1, count: dims.count)
        var running = 1
        for axis in stride(from: dims.count - 1, through: 0, by: -1) {
            result[axis] = running
            running *= dims[axis]
        }
        return result
    }

    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }
}
