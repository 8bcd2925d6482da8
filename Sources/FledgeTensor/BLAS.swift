import COpenBLAS

/// Whether a matrix operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none
    case transposed

    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// Single-precision matrix products through OpenBLAS (the only file that imports the C shim).
///
/// All matrices are row-major. OpenBLAS runs its own threads for large products; inside
/// our own parallel regions (``Parallel``) it is switched to one thread so the two never nest.
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C` with `op(A)` of shape [m, k] and `op(B)` [k, n].
    ///
    /// `lda`, `ldb`, `ldc` are the row strides of A, B and C as stored.
    @inline(__always)
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            scaleMatrix(c, rows: m, columns: n, ld: ldc, by: beta)
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The number of threads OpenBLAS uses for one call.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// The name of the kernel family OpenBLAS picked for this CPU (e.g. "Haswell").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    private static func scaleMatrix(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, ld: Int, by beta: Float)
    {
        for row in 0..<rows {
            let line = c + row * ld
            if beta == 0 {
                line.update(repeating: 0, count: columns)
            } else {
                for column in 0..<columns { line[column] *= beta }
            }
        }
    }
}
