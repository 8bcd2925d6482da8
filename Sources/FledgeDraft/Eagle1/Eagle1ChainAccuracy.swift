import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor

/// Chained k-step accuracy of an EAGLE-1 draft on held-out samples: what a speculative chain
/// from every position would accept.
///
/// Step 0 runs the draft on every row as in training (token x_{p+1}, the target's feature
/// f_p). Step k runs, for every position p at once, a row at position p + k with token
/// x_{p+k+1} and the draft's own step-(k−1) output of that position, attending to the
/// step-0 rows 0…p and to its own earlier chain rows: exactly the cache a chain from p holds
/// at inference (tokens teacher-forced, as in EAGLE-3's training-time test). Step k at p is
/// correct when `argmax(predictionₖ · headᵀ)` equals the target's own next token
/// `argmax(f_{p+k+1} · headᵀ)`; it counts where position p + k is trained (loss mask) and
/// p + k + 1 is a real token. `conditionalCorrect[k]` counts the positions whose steps 0…k
/// were all correct, out of those whose steps 0…k−1 were.
public final class Eagle1ChainAccuracy {
    public struct Counts: Sendable, Equatable {
        public var correct: [Int]
        public var count: [Int]
        public var conditionalCorrect: [Int]
        public var conditionalCount: [Int]

        public init(steps: Int) {
            correct = Array(repeating: 0, count: steps)
            count = correct
            conditionalCorrect = correct
            conditionalCount = correct
        }

        public mutating func merge(_ other: Counts) {
            for k in correct.indices {
                correct[k] += other.correct[k]
                count[k] += other.count[k]
                conditionalCorrect[k] += other.conditionalCorrect[k]
                conditionalCount[k] += other.conditionalCount[k]
            }
        }
    }

    public let draft: Eagle1Draft
    public let steps: Int
    public let maxLength: Int
    let drafter: Eagle1Drafter
    static let block = 64
    let logits: Tensor

    public init(draft: Eagle1Draft, steps: Int, maxLength: Int) {
        precondition(steps >= 1 && maxLength >= 1)
        self.draft = draft
        self.steps = steps
        self.maxLength = maxLength
        drafter = Eagle1Drafter(draft: draft, capacity: maxLength * steps, maxRows: maxLength, maxLogitRows: 1)
        logits = Tensor(zeros: [Self.block, draft.configuration.vocabularySize])
    }

    /// The argmax of `rows · headᵀ` for each row (`[n, H]`).
    func headArgmax(_ rows: UnsafePointer<Float>, count n: Int) -> [Int32] {
        let c = draft.configuration
        var result = [Int32](repeating: 0, count: n)
        var start = 0
        while start < n {
            let m = min(Self.block, n - start)
            Linear.forward(
                logits.pointer, rows + start * c.hiddenSize, weight: draft.head.pointer, bias: nil, rows: m,
                inFeatures: c.hiddenSize, outFeatures: c.vocabularySize)
            for r in 0..<m {
                result[start + r] = Int32(
                    Sampler.argmax(logits.pointer + r * c.vocabularySize, count: c.vocabularySize))
            }
            start += m
        }
        return result
    }

    /// Counts over one sample: `ids` and `lossMask` of its `length` real tokens, `features`
    /// `[length, H]` the target's final-norm hidden states.
    public func evaluate(
        ids: ArraySlice<Int32>, lossMask: ArraySlice<UInt8>, features: UnsafePointer<Float>, length: Int
    ) -> Counts {
        precondition(length <= maxLength, "sample of \(length) tokens, planned for \(maxLength)")
        var counts = Counts(steps: steps)
        guard length >= 2 else { return counts }
        let h = draft.configuration.hiddenSize
        let id = { (i: Int) in ids[ids.startIndex + i] }
        let trained = { (i: Int) in lossMask[lossMask.startIndex + i] != 0 }
        // The target's own next token after each prefix: label[i] = argmax(f_i · headᵀ).
        let labels = headArgmax(features, count: length)
        drafter.reset()
        let n = length - 1  // positions with a next token
        var alive = [Bool](repeating: true, count: n)
        var hidden = Tensor(zeros: [n, h])
        var chainRows: [[Int]] = Array(repeating: [], count: n)
        for k in 0..<steps {
            let rows = (0..<n).filter { $0 + k + 1 < length }
            guard !rows.isEmpty else { break }
            let output: Tensor
            if k == 0 {
                (output, _) = drafter.step(tokens: (0..<n).map { id($0 + 1) }, hidden: features)
            } else {
                let first = drafter.length
                let visible = rows.map { p in Array(0...p) + chainRows[p] }
                (output, _) = drafter.step(
                    tokens: rows.map { id($0 + k + 1) }, hidden: hidden.pointer,
                    positions: rows.map { Int32($0 + k) }, prefix: 0, visible: visible, allLogits: false)
                for (i, p) in rows.enumerated() { chainRows[p].append(first + i) }
            }
            let predicted = headArgmax(output.pointer, count: rows.count)
            let next = Tensor(zeros: [rows.count, h])
            next.pointer.update(from: output.pointer, count: rows.count * h)
            for (i, p) in rows.enumerated() where trained(p + k) {
                let hit = predicted[i] == labels[p + k + 1]
                counts.count[k] += 1
                if hit { counts.correct[k] += 1 }
                if alive[p] {
                    counts.conditionalCount[k] += 1
                    if hit { counts.conditionalCorrect[k] += 1 }
                }
            }
            for (i, p) in rows.enumerated() where predicted[i] != labels[p + k + 1] { alive[p] = false }
            // Row i of the next step is position rows[i] again (the rows only shrink from the end).
            hidden = next
        }
        return counts
    }
}
