/// The activation memory of a model, planned up front and allocated once.
///
/// Build an ``ArenaPlan`` from the configuration and the largest batch (B, T) the run will
/// see, then create the ``Arena``: every named view exists from then on and nothing is
/// allocated while a step runs (house rule 2).
public struct ArenaPlan: Sendable {
    /// The named tensors in the order they were added.
    public private(set) var entries: [(name: String, shape: Shape)] = []

    public init() {}

    /// Reserves a tensor called `name` with `shape`.
    public mutating func add(_ name: String, _ shape: Shape) {
        precondition(!entries.contains { $0.name == name }, "arena entry \(name) planned twice")
        entries.append((name, shape))
    }

    /// The number of floats the arena needs, each entry rounded up to 16 floats (64 bytes).
    public var floatCount: Int { entries.reduce(0) { $0 + Arena.padded($1.shape.count) } }
}

/// One allocation holding every planned activation, with named views.
public final class Arena: @unchecked Sendable {
    /// The whole buffer.
    public let storage: Tensor
    private var views: [String: Tensor] = [:]

    /// Allocates the memory of `plan` (zero-filled).
    public init(_ plan: ArenaPlan) {
        storage = Tensor(zeros: [plan.floatCount])
        var offset = 0
        for entry in plan.entries {
            views[entry.name] = Tensor(viewing: storage.pointer + offset, shape: entry.shape, owner: storage)
            offset += Arena.padded(entry.shape.count)
        }
    }

    /// The view called `name`; a name that was not planned is a programmer error.
    public subscript(_ name: String) -> Tensor {
        guard let view = views[name] else { preconditionFailure("arena has no entry \(name)") }
        return view
    }

    /// The size of the arena in bytes.
    public var byteCount: Int { storage.count * 4 }

    static func padded(_ count: Int) -> Int { (count + 15) / 16 * 16 }
}
