import FledgeTensor

/// The matrix products of a training step or a prefill under one ``Precision``: OpenBLAS sgemm
/// in fp32; in bf16 both operands rounded to bfloat16 (unless the caller passes them already
/// rounded, e.g. a weight's bf16 copy) and multiplied by oneDNN with Float32 accumulation.
///
/// The rounding scratch grows to the largest operand met and is reused, so a training step
/// allocates only during its first call of each size. Not for use from several threads at once.
public final class Products: @unchecked Sendable {
    public let precision: Precision
    private let left = BFloat16Buffer()
    private let right = BFloat16Buffer()
    private let staged = BFloat16Buffer()

    public init(precision: Precision) {
        precondition(precision == .fp32 || BFloat16.support.available, "bf16 products need \(BFloat16.support.reason)")
        self.precision = precision
    }

    /// fp32 products (the default of every layer).
    public static let fp32 = Products(precision: .fp32)

    public var isBF16: Bool { precision == .bf16 }

    /// `C = op(A)·op(B) + beta·C` (beta 0 or 1 in bf16). `aHalf`/`bHalf`: the same operand
    /// already in bfloat16 with the same layout (used in bf16, ignored in fp32).
    public func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, a: UnsafePointer<Float>,
        aHalf: UnsafePointer<UInt16>? = nil, lda: Int, b: UnsafePointer<Float>, bHalf: UnsafePointer<UInt16>? = nil,
        ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard isBF16 else {
            BLAS.gemm(transA, transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        if m == 0 || n == 0 { return }
        let a16 =
            aHalf
            ?? left.round(a, count: Self.span(rows: transA == .none ? m : k, columns: transA == .none ? k : m, ld: lda))
        let b16 =
            bHalf
            ?? right.round(
                b, count: Self.span(rows: transB == .none ? k : n, columns: transB == .none ? n : k, ld: ldb))
        BFloat16.gemm(transA, transB, m: m, n: n, k: k, a: a16, lda: lda, b: b16, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// In bf16, `count` floats rounded into a scratch that stays valid until the next call of
    /// `stage` (for an operand of several products); nil in fp32.
    public func stage(_ values: UnsafePointer<Float>, count: Int) -> UnsafePointer<UInt16>? {
        isBF16 ? staged.round(values, count: count) : nil
    }

    /// The elements a strided matrix spans: `(rows − 1)·ld + columns`.
    @inline(__always)
    static func span(rows: Int, columns: Int, ld: Int) -> Int { rows == 0 ? 0 : (rows - 1) * ld + columns }
}

/// A bfloat16 copy of a Float32 buffer (weights), refreshed by the owner when the floats change.
public final class BFloat16Copy: @unchecked Sendable {
    public let source: Tensor
    public let buffer: BFloat16Buffer

    public init(of source: Tensor) {
        self.source = source
        buffer = BFloat16Buffer(capacity: source.count)
        refresh()
    }

    /// Rounds the source again (after an optimiser step).
    public func refresh() { buffer.round(source.pointer, count: source.count) }

    /// The bf16 values of `view`, a tensor viewing a part of the source.
    public func half(_ view: Tensor) -> UnsafePointer<UInt16> {
        let offset = view.pointer - source.pointer
        precondition(offset >= 0 && offset + view.count <= source.count, "tensor outside the copied buffer")
        return UnsafePointer(buffer.pointer + offset)
    }
}
