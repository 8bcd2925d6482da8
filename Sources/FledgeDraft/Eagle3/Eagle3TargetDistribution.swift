import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor

/// The target's distribution over the draft vocabulary for every position of a batch,
/// computed once and reused by all TTT steps (they only shift which row they read).
///
/// probabilities[r]: softmax of the target logits of row r restricted to the draft vocabulary;
/// draftArgmax[r]: the draft index with the largest target logit; inVocabulary[r]: whether the
/// argmax of the FULL target logits is in the draft vocabulary (`pm` of docs/design.md §2.6).
///
/// With `half`, the probabilities are kept in bfloat16 (half the memory: 131 MB at T = 2048 and
/// Vd = 32,000) and widened row by row where they are read (``row(_:scratch:)``); the softmax
/// itself runs in Float32.
final class Eagle3TargetDistribution {
    let rows: Int
    let draftSize: Int
    let probabilities: Tensor
    let probabilitiesHalf: BFloat16Buffer?
    /// Per worker, one Float32 row (the softmax before rounding, a widened row when read).
    let rowScratch: Tensor
    var draftArgmax: [Int32]
    var inVocabulary: [Bool]
    /// The zero row past the end of a sequence: uniform over the draft vocabulary, argmax 0.
    let uniform: Tensor
    let zeroRowInVocabulary: Bool

    init(rows: Int, draftSize: Int, zeroRowInVocabulary: Bool, half: Bool = false) {
        self.rows = rows
        self.draftSize = draftSize
        probabilities = Tensor(zeros: [half ? 1 : rows * draftSize])
        probabilitiesHalf = half ? BFloat16Buffer(capacity: rows * draftSize) : nil
        rowScratch = Tensor(zeros: [Parallel.workerCount * draftSize])
        draftArgmax = Array(repeating: 0, count: rows)
        inVocabulary = Array(repeating: false, count: rows)
        uniform = Tensor([Float](repeating: 1 / Float(draftSize), count: draftSize), shape: [draftSize])
        self.zeroRowInVocabulary = zeroRowInVocabulary
    }

    /// Row `r`'s probabilities: in place, or widened into `scratch` (`draftSize` floats).
    @inline(__always)
    func row(_ r: Int, scratch: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
        guard let half = probabilitiesHalf else { return UnsafePointer(probabilities.pointer + r * draftSize) }
        BFloat16.widen(half.pointer + r * draftSize, into: scratch, count: draftSize)
        return UnsafePointer(scratch)
    }

    /// The bytes the distribution holds.
    var byteCount: Int { probabilities.count * 4 + (probabilitiesHalf?.capacity ?? 0) * 2 + rowScratch.count * 4 }

    /// Fills the distribution from the batch's target (`rows` ≤ capacity).
    /// `products` and `headHalf` (the target head's bf16 copy) set the precision of the head's product.
    func fill(
        _ target: Eagle3Batch.Target, rows n: Int, draftIDs: [Int32], t2d: [Bool], scratch: Tensor,
        products: Products = .fp32, headHalf: UnsafePointer<UInt16>? = nil
    ) {
        let vd = draftSize
        let vocabulary = t2d.count
        let block = max(1, min(n, scratch.count / vocabulary))
        var start = 0
        while start < n {
            let count = min(block, n - start)
            let logits: UnsafePointer<Float>
            switch target {
            case .logits(let full):
                logits = UnsafePointer(full.pointer + start * vocabulary)
            case .hidden(let hidden, let head):
                let h = hidden.shape[-1]
                Linear.forward(
                    scratch.pointer, hidden.pointer + start * h, weight: head.pointer, weightHalf: headHalf,
                    rows: count, inFeatures: h, outFeatures: vocabulary, products: products)
                logits = UnsafePointer(scratch.pointer)
            case .hiddenQuantizedHead(let hidden, let head):
                let h = hidden.shape[-1]
                IntegerMatmul.forward(
                    scratch.pointer, hidden.pointer + start * h, matrix: head, rows: count, accumulate: false)
                logits = UnsafePointer(scratch.pointer)
            }
            let probabilities = self.probabilities.pointer, half = probabilitiesHalf?.pointer
            let scratch = rowScratch.pointer
            draftArgmax.withUnsafeMutableBufferPointer { argmaxBuffer in
                inVocabulary.withUnsafeMutableBufferPointer { vocabularyBuffer in
                    let argmaxOut = argmaxBuffer.baseAddress!, inVocabularyOut = vocabularyBuffer.baseAddress!
                    Parallel.forEach(units: count) { local, worker in
                        let row = logits + local * vocabulary
                        let target = half == nil ? probabilities + (start + local) * vd : scratch + worker * vd
                        for i in 0..<vd { target[i] = row[Int(draftIDs[i])] }
                        argmaxOut[start + local] = Int32(Sampler.argmax(target, count: vd))
                        inVocabularyOut[start + local] = t2d[Sampler.argmax(row, count: vocabulary)]
                        Softmax.forward(target, target, rows: 1, columns: vd)
                        if let half { BFloat16.round(target, into: half + (start + local) * vd, count: vd) }
                    }
                }
            }
            start += count
        }
    }
}
