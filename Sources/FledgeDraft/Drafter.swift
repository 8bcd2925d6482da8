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
    func step(
        tokens: [Int32], hidden: UnsafePointer<Float>, positions: [Int32]?, prefix: Int, visible: [[Int]]?,
        allLogits: Bool
    ) -> (hidden: Tensor, logits: Tensor)
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
    for (i, row) in rows.enumerated() {
        (gathered.pointer + i * width).update(from: source + row * width, count: width)
    }
    return gathered
}
