import FledgeTensor

/// Matrix product with every transpose case, forward and backward, on row-major buffers.
///
/// forward:  C[M,Nn] (=|+=) op(A)·op(B), op(A) is [M,K] (A stored [M,K], or [K,M] when transposed),
///           op(B) is [K,Nn] (B stored [K,Nn], or [Nn,K] when transposed).
/// backward: dA += ∂/∂A, dB += ∂/∂B given dC (accumulates; pass nil to skip one).
/// Batched variants take element strides between consecutive matrices.
public enum Matmul {
    /// `C = op(A)·op(B)` (or `C += ...` when `accumulate`).
    public static func forward(
        _ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        m: Int, n: Int, k: Int, transA: Transpose = .none, transB: Transpose = .none, accumulate: Bool = false
    ) {
        BLAS.gemm(
            transA, transB, m: m, n: n, k: k, a: a, lda: transA == .none ? k : m,
            b: b, ldb: transB == .none ? n : k, beta: accumulate ? 1 : 0, c: c, ldc: n)
    }

    /// Gradients of `C = op(A)·op(B)`; accumulates into `da` and `db`.
    public static func backward(
        da: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?, dc: UnsafePointer<Float>,
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, m: Int, n: Int, k: Int,
        transA: Transpose = .none, transB: Transpose = .none
    ) {
        let lda = transA == .none ? k : m
        let ldb = transB == .none ? n : k
        if let da {
            switch transA {
            case .none:  // dA[M,K] += dC[M,Nn] · op(B)^T
                BLAS.gemm(
                    .none, transB == .none ? .transposed : .none, m: m, n: k, k: n,
                    a: dc, lda: n, b: b, ldb: ldb, beta: 1, c: da, ldc: lda)
            case .transposed:  // dA[K,M] += op(B) · dC^T
                BLAS.gemm(
                    transB, .transposed, m: k, n: m, k: n,
                    a: b, lda: ldb, b: dc, ldb: n, beta: 1, c: da, ldc: lda)
            }
        }
        if let db {
            switch transB {
            case .none:  // dB[K,Nn] += op(A)^T · dC
                BLAS.gemm(
                    transA == .none ? .transposed : .none, .none, m: k, n: n, k: m,
                    a: a, lda: lda, b: dc, ldb: n, beta: 1, c: db, ldc: ldb)
            case .transposed:  // dB[Nn,K] += dC^T · op(A)
                BLAS.gemm(
                    .transposed, transA, m: n, n: k, k: m,
                    a: dc, lda: n, b: a, ldb: lda, beta: 1, c: db, ldc: ldb)
            }
        }
    }

    /// `batch` independent products whose operands are `strideA`, `strideB`, `strideC` floats apart.
    public static func forwardBatched(
        _ c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        m: Int, n: Int, k: Int, batch: Int, strideA: Int, strideB: Int, strideC: Int,
        transA: Transpose = .none, transB: Transpose = .none, accumulate: Bool = false
    ) {
        for index in 0..<batch {
            forward(
                c + index * strideC, a + index * strideA, b + index * strideB,
                m: m, n: n, k: k, transA: transA, transB: transB, accumulate: accumulate)
        }
    }

    /// Gradients of ``forwardBatched(_:_:_:m:n:k:batch:strideA:strideB:strideC:transA:transB:accumulate:)``;
    /// accumulates. A stride of 0 for A or B (a shared operand) sums its gradient over the batch.
    public static func backwardBatched(
        da: UnsafeMutablePointer<Float>?, db: UnsafeMutablePointer<Float>?, dc: UnsafePointer<Float>,
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, m: Int, n: Int, k: Int, batch: Int,
        strideA: Int, strideB: Int, strideC: Int, transA: Transpose = .none, transB: Transpose = .none
    ) {
        for index in 0..<batch {
            backward(
                da: da.map { $0 + index * strideA }, db: db.map { $0 + index * strideB },
                dc: dc + index * strideC, a: a + index * strideA, b: b + index * strideB,
                m: m, n: n, k: k, transA: transA, transB: transB)
        }
    }
}
