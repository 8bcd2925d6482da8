import FledgeTensor

/// A fully connected layer with the PyTorch weight layout, `y = x · Wᵀ + b`.
///
/// forward:  out[N,O] = inp[N,I] · weight[O,I]ᵀ (+ bias[O])
/// backward: dinp[N,I] += dout · weight;  dweight[O,I] += doutᵀ · inp;  dbias[O] += Σₙ dout
///           (accumulates; nil skips a gradient, e.g. a frozen weight)
public enum Linear {
    public static func forward(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, rows n: Int, inFeatures i: Int, outFeatures o: Int, fewRows: Bool = false
    ) {
        forward(out, inp, weight: weight, rows: n, inFeatures: i, outFeatures: o, accumulate: false, fewRows: fewRows)
        if let bias { addBias(out, bias, rows: n, outFeatures: o) }
    }

    /// `out[r] += bias` for every row.
    public static func addBias(
        _ out: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows n: Int, outFeatures o: Int
    ) {
        Parallel.forChunks(count: n, grain: max(1, 65_536 / max(o, 1))) { rows in
            for row in rows { Elementwise.add(out + row * o, bias, out + row * o, count: o) }
        }
    }

    /// `out (= or +=) inp · weightᵀ` without bias (weight rows `weightStride` apart, default I).
    /// OpenBLAS, or with `fewRows` and at most `FewRowsMatmul.rowLimit` rows `FewRowsMatmul`
    /// (decoding and verification steps opt in, so that every call of one kind takes the same
    /// kernel: the two round differently).
    public static func forward(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows n: Int, inFeatures i: Int, outFeatures o: Int, weightStride: Int? = nil, accumulate: Bool,
        fewRows: Bool = false
    ) {
        if fewRows && n <= FewRowsMatmul.rowLimit {
            FewRowsMatmul.forward(
                out, inp, weight: weight, rows: n, inFeatures: i, outFeatures: o, weightStride: weightStride,
                accumulate: accumulate)
        } else {
            BLAS.gemm(
                .none, .transposed, m: n, n: o, k: i, a: inp, lda: i, b: weight, ldb: weightStride ?? i,
                beta: accumulate ? 1 : 0, c: out, ldc: o)
        }
    }

    /// `out (= or +=) inp · weightᵀ` under `products` (`weightHalf`: the weight's bf16 copy).
    public static func forward(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        weightHalf: UnsafePointer<UInt16>?, rows n: Int, inFeatures i: Int, outFeatures o: Int,
        accumulate: Bool = false,
        products: Products
    ) {
        products.gemm(
            .none, .transposed, m: n, n: o, k: i, a: inp, lda: i, b: weight, bHalf: weightHalf, ldb: i,
            beta: accumulate ? 1 : 0, c: out, ldc: o)
    }

    /// Gradients (accumulated); `products` and `weightHalf` as in the forward.
    public static func backward(
        dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
        dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        weightHalf: UnsafePointer<UInt16>? = nil, rows n: Int, inFeatures i: Int, outFeatures o: Int,
        products: Products = .fp32
    ) {
        let doutHalf = dinp != nil && dweight != nil ? products.stage(dout, count: n * o) : nil
        if let dinp {
            products.gemm(
                .none, .none, m: n, n: i, k: o, a: dout, aHalf: doutHalf, lda: o, b: weight, bHalf: weightHalf, ldb: i,
                beta: 1, c: dinp, ldc: i)
        }
        if let dweight {
            products.gemm(
                .transposed, .none, m: o, n: i, k: n, a: dout, aHalf: doutHalf, lda: o, b: inp, ldb: i, beta: 1,
                c: dweight, ldc: i)
        }
        if let dbias {
            // Column sums split by columns: every output is summed over rows in order, so the
            // result does not depend on the number of threads.
            Parallel.forChunks(count: o, grain: 256) { columns in
                for row in 0..<n {
                    let line = dout + row * o
                    for column in columns { dbias[column] += line[column] }
                }
            }
        }
    }
}
