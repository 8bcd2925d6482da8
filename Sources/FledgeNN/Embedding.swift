import FledgeTensor

/// Token embedding lookup.
///
/// forward:  out[N,C] = table[ids[n], :]
/// backward: dtable[ids[n], :] += dout[n, :]   (accumulates; rows are added in token order,
///           columns split across threads, so repeated ids are summed deterministically)
public enum Embedding {
    public static func forward(
        _ out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, table: UnsafePointer<Float>,
        rows n: Int, channels c: Int, vocabularySize: Int
    ) {
        Parallel.forChunks(count: n, grain: max(1, 32_768 / max(c, 1))) { rows in
            for row in rows {
                let id = Int(ids[row])
                precondition(
                    id >= 0 && id < vocabularySize, "token id \(id) outside the vocabulary of \(vocabularySize)")
                (out + row * c).update(from: table + id * c, count: c)
            }
        }
    }

    public static func backward(
        dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, ids: UnsafePointer<Int32>,
        rows n: Int, channels c: Int
    ) {
        Parallel.forChunks(count: c, grain: 64) { columns in
            for row in 0..<n {
                let target = dtable + Int(ids[row]) * c
                let source = dout + row * c
                for column in columns { target[column] += source[column] }
            }
        }
    }
}
