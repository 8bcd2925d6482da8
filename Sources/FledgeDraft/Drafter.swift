import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor

/// A draft model at inference, as the speculative decoder drives it (chain, tree and
/// sampling): one decoder layer with its own KV cache, fed with target features.
///
/// The decoder asks the target for ``forwardOptions`` at every verification, turns the rows
/// it keeps into the draft's step-0 inputs with ``features(_:rows:)``, then calls
/// ``step(tokens:hidden:positions:prefix:visible:allLogits:)`` with the token of each row;
/// later steps feed back the returned hidden rows. Column `i` of the logits proposes target
/// token ``columnTokens``[i].
public protocol Drafter: AnyObject {
    /// Positions held in the draft's cache.
    var length: Int { get }
    /// The most positions the draft's cache holds.
    var capacity: Int { get }
    /// The matrix kernels of the draft's steps.
    var kernels: KernelPolicy { get set }
    /// Width of the hidden rows the steps take and return.
    var hiddenSize: Int { get }
    /// Columns of the logits (the draft vocabulary).
    var logitColumns: Int { get }
    /// The target token of each logit column.
    var columnTokens: [Int32] { get }
    /// What a target forward must return for ``features(_:rows:)`` (logits: all rows).
    var forwardOptions: ForwardOptions { get }
    /// Forgets every position.
    func reset()
    /// Forgets positions from `newLength` on (rejected speculation).
    func trim(to newLength: Int)
    /// The step-0 hidden rows `[rows.count, hiddenSize]` for the given rows of a target forward.
    func features(_ result: ForwardResult, rows: [Int]) -> Tensor
    /// Runs the layer on `tokens.count` new rows appended at positions `length…`; returns the
    /// rows' outputs (the next step's hidden, a view valid until the next call) and the last
    /// row's logits (every row's with `allLogits`). Tree drafting passes explicit `positions`
    /// and, per new row, the cache rows at or after `prefix` it may see besides itself.
    func step(tokens: [Int32], hidden: UnsafePointer<Float>, positions: [Int32]?, prefix: Int, visible: [[Int]]?,
              allLogits: Bool) -> (hidden: Tensor, logits: Tensor)
}

extension Drafter {
    /// A causal step on rows appended at `length…`, returning the last row's logits.
    public func step(tokens: [Int32], hidden: UnsafePointer<Float>) -> (hidden: Tensor, logits: Tensor) {
        step(tokens: tokens, hidden: hidden, positions: nil, prefix: 0, visible: nil, allLogits: false)
    }

    /// The step-0 hidden rows of the first `rows` positions of a forward.
    public func features(_ result: ForwardResult, rows: Int) -> Tensor { features(result, rows: Array(0..<rows)) }
}

/// Copies the given rows of a `[n, width]` tensor into a new `[rows.count, width]` one.
func gatherRows(_ source: UnsafePointer<Float>, width: Int, rows: [Int]) -> Tensor {
    let gathered = Tensor(zeros: [rows.count, width])
    for (i, row) in rows.enumerated() { (gathered.pointer + i * width).update(from: source + row * width, count: width) }
    return gathered
}

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
        workspace = AttentionWorkspace(batch: 1, queries: maxRows, keys: capacity, heads: heads, headDimension: headDimension, groupedQuery: false)
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
    func attend(out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                v: UnsafePointer<Float>, rows n: Int, prefix: Int, visible: [[Int]]?) {
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
        let shape = Attention.Shape(batch: 1, queries: n, keys: length + n, heads: heads, kvHeads: kvHeads,
                                    headDimension: headDimension, keyCapacity: capacity)
        Attention.forward(out: out, lse: lse, q: q, k: keys.pointer, v: values.pointer, shape: shape,
                          mask: visible == nil ? mask : treeMask, workspace: workspace)
        length += n
    }
}
