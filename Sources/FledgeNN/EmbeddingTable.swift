import FledgeTensor

/// A frozen token embedding `[V, H]` as a model holds it: Float32 rows, or a GGUF's quantised
/// blocks (``QuantizedMatrix``) whose rows are dequantised when they are looked up, so an 8B
/// target's 128k-row table takes 0.4 GB instead of 2.1 (the values are the same as the
/// dequantised Float32 table's, row for row).
public final class EmbeddingTable: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    /// The Float32 table, when the rows are kept that way.
    public let float32: Tensor?
    /// The blocks, when the rows are kept that way.
    public let blocks: QuantizedMatrix?

    public init(_ table: Tensor) {
        precondition(table.shape.rank == 2, "an embedding table is [V, H]")
        rows = table.shape[0]
        columns = table.shape[1]
        float32 = table
        blocks = nil
    }

    public init(blocks: QuantizedMatrix) {
        rows = blocks.rows
        columns = blocks.columns
        float32 = nil
        self.blocks = blocks
    }

    /// `out[n, H]` = the rows of `ids` (each within the vocabulary).
    public func gather(_ out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, count n: Int) {
        if let float32 {
            Embedding.forward(out, ids: ids, table: float32.pointer, rows: n, channels: columns, vocabularySize: rows)
            return
        }
        let blocks = blocks!, (c, vocabulary) = (columns, rows)
        Parallel.forChunks(count: n, grain: max(1, 8_192 / max(c, 1))) { range in
            for row in range {
                let id = Int(ids[row])
                precondition(id >= 0 && id < vocabulary, "token id \(id) outside the vocabulary of \(vocabulary)")
                blocks.dequantize(row: id, into: out + row * c)
            }
        }
    }

    /// Row `index` into `out[H]` (a copy, or the row's blocks dequantised).
    public func row(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(index >= 0 && index < rows, "row \(index) outside the table of \(rows)")
        if let float32 {
            out.update(from: float32.pointer + index * columns, count: columns)
        } else {
            blocks!.dequantize(row: index, into: out)
        }
    }

    /// The whole table in Float32 (the table itself when it is Float32; a new tensor otherwise).
    public func materialized() -> Tensor { float32 ?? blocks!.dequantized() }

    /// Bytes held.
    public var byteCount: Int { float32.map { $0.count * 4 } ?? blocks!.byteCount }
}
