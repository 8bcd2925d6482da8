import Foundation

/// A contiguous row-major Float32 tensor.
///
/// A tensor either owns its storage (allocated once, 64-byte aligned, zero-filled) or is a
/// view into memory owned by someone else (an ``Arena`` or a ``ParameterBuffer``); views keep
/// their owner alive. Kernels take `pointer` and explicit sizes, as in llm.c, so the hot loops
/// never go through this class.
public final class Tensor: @unchecked Sendable {
    /// The shape of the tensor.
    public let shape: Shape
    /// The first element. Valid for `shape.count` elements while the tensor lives.
    public let pointer: UnsafeMutablePointer<Float>
    private let owner: AnyObject?
    private let owns: Bool

    /// Allocates a zero-filled tensor.
    public init(zeros shape: Shape) {
        self.shape = shape
        self.pointer = Memory.allocateFloats(max(shape.count, 1))
        self.owner = nil
        self.owns = true
    }

    /// Allocates a tensor holding a copy of `values`.
    public convenience init(_ values: [Float], shape: Shape) {
        precondition(values.count == shape.count, "\(values.count) values for shape \(shape)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    /// A view of `shape.count` elements at `pointer`, kept alive by `owner`.
    public init(viewing pointer: UnsafeMutablePointer<Float>, shape: Shape, owner: AnyObject?) {
        self.shape = shape
        self.pointer = pointer
        self.owner = owner
        self.owns = false
    }

    deinit {
        if owns { Memory.free(pointer) }
    }

    /// The number of elements.
    public var count: Int { shape.count }

    /// The elements as a buffer (valid while the tensor lives).
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    /// A copy of the elements (for tests and I/O, not for hot loops).
    public var values: [Float] { Array(buffer) }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// Copies the elements of `other`, which must have the same number of elements.
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy of \(other.shape) into \(shape)")
        pointer.update(from: other.pointer, count: count)
    }

    /// A view of the same elements with another shape of equal size.
    public func reshaped(_ newShape: Shape) -> Tensor {
        precondition(newShape.count == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(viewing: pointer, shape: newShape, owner: owner ?? self)
    }

    /// A view of rows `start ..< start + length` along the first axis.
    public func rows(_ start: Int, _ length: Int) -> Tensor {
        let rowSize = shape.rank == 0 ? 1 : count / max(shape[0], 1)
        precondition(start >= 0 && start + length <= shape[0], "rows \(start)..<\(start + length) of \(shape)")
        var dims = shape.dims
        dims[0] = length
        return Tensor(viewing: pointer + start * rowSize, shape: Shape(dims), owner: owner ?? self)
    }

    public subscript(_ index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }
}

/// Aligned allocation with counters, so tests can assert that a training step allocates no
/// tensor memory.
public enum Memory {
    /// Bytes between the start of two SIMD-friendly buffers.
    public static let alignment = 64
    private static let threadKey = "fledge.memory.allocations"

    /// How many float buffers the calling thread has allocated so far (unaffected by work
    /// that other threads, e.g. other tests, do at the same time).
    public static var threadAllocationCount: Int {
        Thread.current.threadDictionary[threadKey] as? Int ?? 0
    }

    /// Allocates `count` zero-filled floats, 64-byte aligned.
    public static func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let dictionary = Thread.current.threadDictionary
        dictionary[threadKey] = (dictionary[threadKey] as? Int ?? 0) + 1
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: alignment)
        let typed = raw.bindMemory(to: Float.self, capacity: count)
        typed.initialize(repeating: 0, count: count)
        return typed
    }

    /// Frees a buffer from ``allocateFloats(_:)``.
    public static func free(_ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).deallocate()
    }
}
