import FledgeTensor

/// Parameters, gradients and AdamW moments as four flat buffers with named per-tensor views
/// in checkpoint order (llm.c's `ParameterTensors`).
///
/// One buffer per role lets the optimiser, gradient clipping, checkpointing and the MPI
/// all-reduce each run as a single loop over contiguous memory.
public final class ParameterSet: @unchecked Sendable {
    /// Tensor names and shapes in checkpoint order.
    public let entries: [(name: String, shape: Shape)]
    /// Offsets of each tensor in the flat buffers.
    public let offsets: [Int]
    /// All parameters, all gradients, AdamW first and second moments.
    public let parameters: Tensor
    public let gradients: Tensor
    public let firstMoments: Tensor
    public let secondMoments: Tensor
    private let index: [String: Int]

    /// Allocates zero-filled buffers for the given tensors (names must be unique).
    public init(_ entries: [(name: String, shape: Shape)]) {
        self.entries = entries
        var offsets: [Int] = []
        var total = 0
        var index: [String: Int] = [:]
        for (position, entry) in entries.enumerated() {
            precondition(index[entry.name] == nil, "parameter \(entry.name) listed twice")
            index[entry.name] = position
            offsets.append(total)
            total += entry.shape.count
        }
        self.offsets = offsets
        self.index = index
        parameters = Tensor(zeros: [total])
        gradients = Tensor(zeros: [total])
        firstMoments = Tensor(zeros: [total])
        secondMoments = Tensor(zeros: [total])
    }

    /// The number of scalar parameters.
    public var count: Int { parameters.count }

    /// Whether a tensor called `name` exists.
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// The parameter view called `name`.
    public func parameter(_ name: String) -> Tensor { view(parameters, name) }

    /// The gradient view called `name`.
    public func gradient(_ name: String) -> Tensor { view(gradients, name) }

    /// Sets every gradient to zero.
    public func zeroGradients() { gradients.zero() }

    private func view(_ buffer: Tensor, _ name: String) -> Tensor {
        guard let position = index[name] else { preconditionFailure("no parameter named \(name)") }
        return Tensor(viewing: buffer.pointer + offsets[position], shape: entries[position].shape, owner: buffer)
    }
}
