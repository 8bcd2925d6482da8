/// Undoes llama.cpp's row permutation of Q and K in `llama` GGUFs.
///
/// The converter interleaves the two halves of each head so its RoPE can rotate adjacent
/// pairs; with head dimension d, head h, i < d/2 and j ∈ {0, 1}:
/// `HF_row[h·d + j·d/2 + i] = GGUF_row[h·d + 2i + j]` (docs/formats.md). Applies to weights
/// ([rows, columns]) and biases ([rows], columns = 1).
public enum LlamaQKPermutation {
    public static func unpermute(
        _ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, heads: Int, rows: Int,
        columns: Int
    ) {
        for (target, origin) in sourceRows(heads: heads, rows: rows).enumerated() {
            (destination + target * columns).update(from: source + origin * columns, count: columns)
        }
    }

    /// For each row of the un-permuted matrix, the row of the stored (permuted) one it comes from.
    public static func sourceRows(heads: Int, rows: Int) -> [Int] {
        precondition(rows % heads == 0, "\(rows) rows do not split into \(heads) heads")
        let d = rows / heads
        precondition(d % 2 == 0, "head dimension \(d) is odd")
        var origins = [Int](repeating: 0, count: rows)
        for h in 0..<heads {
            for j in 0..<2 {
                for i in 0..<(d / 2) { origins[h * d + j * d / 2 + i] = h * d + 2 * i + j }
            }
        }
        return origins
    }
}
