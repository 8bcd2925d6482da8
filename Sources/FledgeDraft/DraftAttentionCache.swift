import Foundation
import FledgeNN
import FledgeTensor

/// A draft layer's KV cache and attention at inference: causal rows appended at `length…`,
/// or tree rows that see the prefix, their ancestors and themselves.
final class DraftAttentionCache {
    let capacity: Int
    let maxRows: Int
    let heads: Int, kvHeads: Int, headDimension: Int
    private(set) var length = 0
    let keys: Tensor, values: Tensor
    let workspace: AttentionWorkspace
    let mask: AttentionMask
    let treeMask: AttentionMask

    init(capacity: Int, maxRows: Int, heads: Int, kvHeads: Int, headDimension: Int) {
        self.capacity = capacity
        self.maxRows = maxRows
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDimension = headDimension
        keys = Tensor(zeros: [capacity, kvHeads * headDimension])
        values = Tensor(zeros: [capacity, kvHeads * headDimension])
        workspace = AttentionWorkspace(
            batch: 1, queries: maxRows, keys: capacity, heads: heads, headDimension: headDimension, groupedQuery: false)
        mask = AttentionMask(causal: true, queryCapacity: maxRows, keyCapacity: capacity, perRowOffsets: true)
        treeMask = AttentionMask(causal: false, queryCapacity: maxRows, keyCapacity: capacity, dense: true)
    }

    func reset() { length = 0 }

    func trim(to newLength: Int) {
        precondition(newLength <= length, "cannot trim \(length) positions to \(newLength)")
        length = newLength
    }

    /// Appends `n` rows of (RoPE'd) `k`, `v` and attends their `q` into `out` (`lse` per head
    /// and row). `visible`: per row, the cache rows at or after `prefix` it may see besides
    /// itself (rows before `prefix` are always visible); nil: causal.
    func attend(
        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
        k: UnsafePointer<Float>,
        v: UnsafePointer<Float>, rows n: Int, prefix: Int, visible: [[Int]]?
    ) {
        let kvWidth = kvHeads * headDimension
        (keys.pointer + length * kvWidth).update(from: k, count: n * kvWidth)
        (values.pointer + length * kvWidth).update(from: v, count: n * kvWidth)
        mask.batchQueryOffsets![0] = Int32(length)
        if let visible {
            let allowed = treeMask.allowed!
            for i in 0..<n {
                let row = allowed + i * capacity
                row.update(repeating: 0, count: length + n)
                row.update(repeating: 1, count: prefix)
                for key in visible[i] { row[key] = 1 }
                row[length + i] = 1
            }
            treeMask.updateBlocks(queries: n, keys: length + n)
        }
        let shape = Attention.Shape(
            batch: 1, queries: n, keys: length + n, heads: heads, kvHeads: kvHeads,
            headDimension: headDimension, keyCapacity: capacity)
        Attention.forward(
            out: out, lse: lse, q: q, k: keys.pointer, v: values.pointer, shape: shape,
            mask: visible == nil ? mask : treeMask, workspace: workspace)
        length += n
    }
}
