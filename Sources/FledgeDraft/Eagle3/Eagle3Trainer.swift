import Foundation
import FledgeNN
import FledgeTensor

/// The training-time-test forward and backward of an EAGLE-3 draft (docs/design.md §2.4–§2.6), on
/// memory planned for the largest batch (B, T), K steps and the draft's decoder layers (each
/// with its own TTT keys and values).
///
/// Shapes (N = B·T): per step k the layer reads e_k = embed(ids shifted by k + 1) [N, H] and
/// h_k [N, H] (h_0 = fc(aux), h_k = the previous step's pre-norm output); positions are t + k;
/// the attention sees the step-0 keys m ≤ t and the keys of the same position in steps 1..k.
/// The head and its loss run in row blocks during the forward and immediately produce the
/// gradient at the final norm's output, so [N, Vd] logits never exist at once.
public final class Eagle3Trainer {
    public let draft: Eagle3Draft
    public let maxBatch: Int
    public let maxLength: Int
    public let steps: Int
    let arena: Arena
    let attentionWorkspace: AttentionWorkspace
    let mask: AttentionMask
    let targets: Eagle3TargetDistribution
    let targetScratch: Tensor
    /// Rows of the head's products at once (512 in bf16 measured no faster, and takes 49 MB more).
    let headBlock = 256
    let p: Eagle3Draft.Weights
    let g: Eagle3Draft.Weights
    let draftIDs: [Int32]
    /// The arithmetic of every matrix product (fp32, or bf16 operands with fp32 accumulation).
    public let products: Products
    /// In bf16, the parameters' bf16 copy (rounded again at the start of every step) and the
    /// bf16 copy of the target head each target distribution is computed with.
    let halves: BFloat16Copy?
    private var targetHeadHalf: (head: Tensor, copy: BFloat16Copy)?
    let dlogitsHalf = BFloat16Buffer()
    /// Per head-block row: the loss term and the outcome bits (1 loss mask, 2 counted, 4 correct).
    let rowLoss: UnsafeMutablePointer<Double>
    let rowOutcome: UnsafeMutablePointer<UInt8>

    /// Plans memory for batches of up to `maxBatch` rows of `maxLength` tokens and `steps` TTT steps.
    public init(draft: Eagle3Draft, maxBatch: Int, maxLength: Int, steps: Int, precision: Precision = .fp32) {
        let c = draft.configuration
        precondition(maxLength + steps <= draft.rope.maxPositions, "positions beyond the RoPE table")
        self.draft = draft
        self.maxBatch = maxBatch
        self.maxLength = maxLength
        self.steps = steps
        let n = maxBatch * maxLength
        var plan = ArenaPlan()
        plan.add("fc.in.unused", [1])
        plan.add("h.0", [n, c.hiddenSize])
        for l in 0..<max(c.layerCount, 1) {
            for name in ["keys", "values", "dkeys", "dvalues"] {
                plan.add(Self.cacheKey(name, l), [maxBatch, steps * maxLength, c.kvWidth])
            }
        }
        for k in 0..<steps {
            plan.add("e.\(k)", [n, c.hiddenSize])
            plan.add("en.\(k)", [n, c.hiddenSize])
            plan.add("hn.\(k)", [n, c.hiddenSize])
            plan.add("rstd.e.\(k)", [n])
            plan.add("rstd.h.\(k)", [n])
            for l in 0..<max(c.layerCount, 1) {
                if l > 0 {  // later layers' input norm
                    plan.add(Self.key("xn", l, k), [n, c.hiddenSize])
                    plan.add(Self.key("rstd.x", l, k), [n])
                }
                plan.add(Self.key("q", l, k), [n, c.qWidth])
                plan.add(Self.key("attn", l, k), [n, c.qWidth])
                plan.add(Self.key("lse", l, k), [maxBatch * c.headCount * maxLength])
                plan.add(Self.key("a", l, k), [n, c.hiddenSize])
                plan.add(Self.key("post", l, k), [n, c.hiddenSize])
                plan.add(Self.key("rstd.post", l, k), [n])
                plan.add(Self.key("gate", l, k), [n, c.intermediateSize])
                plan.add(Self.key("up", l, k), [n, c.intermediateSize])
                // Every layer's output but the last's, which is the step's, `h.(k+1)`.
                if l < c.layerCount - 1 { plan.add("y.\(l).\(k)", [n, c.hiddenSize]) }
            }
            plan.add("h.\(k + 1)", [n, c.hiddenSize])
            plan.add("normed.\(k)", [n, c.hiddenSize])
            plan.add("rstd.norm.\(k)", [n])
            plan.add("dnormed.\(k)", [n, c.hiddenSize])
        }
        // Scratch shared by the steps of the backward.
        for (name, width) in [
            ("k.tmp", c.kvWidth), ("v.tmp", c.kvWidth), ("dq", c.qWidth), ("dk", c.kvWidth), ("dv", c.kvWidth),
            ("dattn", c.qWidth), ("dh", c.hiddenSize), ("dcarry", c.hiddenSize), ("da", c.hiddenSize),
            ("dpost", c.hiddenSize), ("den", c.hiddenSize), ("dhn", c.hiddenSize), ("mlp", c.intermediateSize),
            ("dmlp", c.intermediateSize), ("dgate", c.intermediateSize), ("dup", c.intermediateSize),
        ] {
            plan.add(name, [n, width])
        }
        plan.add("logits", [headBlock, c.draftVocabularySize])
        plan.add("positions", [n])
        plan.add("shifted.ids", [n])
        plan.add("chain.correct", [n])
        arena = Arena(plan)
        // The tiled attention sees only the step-0 keys (causal); the diagonal keys of later
        // steps are handled apart (Eagle3Trainer+Attention.swift).
        attentionWorkspace = AttentionWorkspace(
            batch: maxBatch, queries: maxLength, keys: maxLength, heads: c.headCount,
            headDimension: c.headDimension, groupedQuery: c.headCount != c.kvHeadCount)
        mask = AttentionMask(
            causal: true, queryCapacity: maxLength, keyCapacity: steps * maxLength, batchCapacity: maxBatch,
            padding: true)
        targets = Eagle3TargetDistribution(
            rows: n, draftSize: c.draftVocabularySize, zeroRowInVocabulary: draft.t2d[0], half: precision == .bf16)
        targetScratch = Tensor(zeros: [min(n, 128) * c.vocabularySize])
        p = Eagle3Draft.Weights(draft.parameters, layerCount: c.layerCount, gradients: false)
        g = Eagle3Draft.Weights(draft.parameters, layerCount: c.layerCount, gradients: true)
        draftIDs = draft.draftTargetIDs
        products = Products(precision: precision)
        rowLoss = .allocate(capacity: headBlock)
        rowOutcome = .allocate(capacity: headBlock)
        halves = precision == .bf16 ? BFloat16Copy(of: draft.parameters.parameters) : nil
    }

    deinit {
        rowLoss.deallocate()
        rowOutcome.deallocate()
    }

    /// The bf16 copy of a parameter view (nil in fp32).
    @inline(__always)
    func half(_ tensor: Tensor) -> UnsafePointer<UInt16>? { halves?.half(tensor) }

    /// The bf16 copy of a frozen target head, made once per head.
    private func targetHead(_ target: Eagle3Batch.Target) -> UnsafePointer<UInt16>? {
        guard products.isBF16, case .hidden(_, let head) = target else { return nil }
        if let cached = targetHeadHalf, cached.head === head { return UnsafePointer(cached.copy.buffer.pointer) }
        let copy = BFloat16Copy(of: head)
        targetHeadHalf = (head, copy)
        return UnsafePointer(copy.buffer.pointer)
    }

    /// The bytes of activation memory planned.
    public var activationBytes: Int {
        arena.byteCount + attentionWorkspace.byteCount + targets.byteCount + targetScratch.count * 4
    }

    /// Runs K steps forward and backward on `batch`, ACCUMULATING `scale`·∂total/∂θ into the
    /// draft's gradient buffer (zero it first; `scale` is e.g. 1/accumulation steps).
    /// With `train` false only the metrics are computed (no gradients; for evaluation).
    public func step(_ batch: Eagle3Batch, decay: Float, scale: Float = 1, train: Bool = true) -> Eagle3Metrics {
        precondition(batch.batch <= maxBatch && batch.length <= maxLength, "batch larger than planned")
        let (b, t) = (batch.batch, batch.length)
        let n = b * t
        precondition(
            Parallel.workerCount * draft.configuration.draftVocabularySize <= targets.rowScratch.count,
            "more threads than when the trainer was planned")
        prepareMask(batch)
        halves?.refresh()
        targets.fill(
            batch.target, rows: n, draftIDs: draftIDs, t2d: draft.t2d, scratch: targetScratch, products: products,
            headHalf: targetHead(batch.target))
        let c = draft.configuration
        Linear.forward(
            arena["h.0"].pointer, batch.auxiliary.pointer, weight: p.fc.pointer, weightHalf: half(p.fc), rows: n,
            inFeatures: 3 * c.targetHiddenSize, outFeatures: c.hiddenSize, products: products)
        var metrics = Eagle3Metrics(
            losses: [], total: 0, correct: [], lossMaskCount: [], positionCount: [], conditionalCorrect: [],
            conditionalCount: [])
        let allCorrect = UnsafeMutableRawPointer(arena["chain.correct"].pointer).assumingMemoryBound(to: Bool.self)
        allCorrect.update(repeating: true, count: n)
        var weight: Float = 1
        for k in 0..<steps {
            forwardStep(batch, k: k)
            let stepMetrics = headLoss(batch, k: k, weight: weight * scale, allCorrect: allCorrect, train: train)
            metrics.losses.append(stepMetrics.loss)
            metrics.total += weight * stepMetrics.loss
            metrics.correct.append(stepMetrics.correct)
            metrics.lossMaskCount.append(stepMetrics.lossMask)
            metrics.positionCount.append(stepMetrics.positions)
            metrics.conditionalCorrect.append(stepMetrics.conditionalCorrect)
            metrics.conditionalCount.append(stepMetrics.conditionalCount)
            weight *= decay
        }
        if train { backward(batch) }
        return metrics
    }

    // MARK: masks and inputs

    /// Key padding of the step-0 keys (the causal rule is the mask's own).
    private func prepareMask(_ batch: Eagle3Batch) {
        let capacity = steps * maxLength
        let valid = mask.keyValid!
        for row in 0..<batch.batch {
            let line = valid + row * capacity
            line.update(repeating: 0, count: capacity)
            for m in 0..<batch.lengths[row] { line[m] = 1 }
        }
    }

    /// Ground-truth token of step k at (b, t): x[b, t + k + 1], 0 past the end.
    @inline(__always)
    func shiftedToken(_ batch: Eagle3Batch, b: Int, t: Int, k: Int) -> Int32 {
        let source = t + k + 1
        return source < batch.length ? batch.ids[b * batch.length + source] : 0
    }
}
