import Foundation
import FledgeNN
import FledgeTensor

/// The tokens of one forward call: `batch` rows of `length` tokens (row-major, padded), of
/// which the first `validLengths[b]` are real. New tokens are appended to each row's cache.
public struct TokenBatch: Sendable {
    public var tokens: [Int32]
    public var batch: Int
    public var length: Int
    public var validLengths: [Int]
    /// Explicit positions `[batch · length]`; nil means `cache.lengths[b] + i`.
    public var positions: [Int32]?
    /// For tree verification (batch 1): the parent of each token within this call, or −1
    /// for a token whose parent is the cached prefix. Attention then follows ancestors only.
    public var treeParents: [Int]?

    public init(
        tokens: [Int32], batch: Int = 1, length: Int? = nil, validLengths: [Int]? = nil, positions: [Int32]? = nil,
        treeParents: [Int]? = nil
    ) {
        let length = length ?? tokens.count / max(batch, 1)
        precondition(tokens.count == batch * length, "\(tokens.count) tokens for \(batch) rows of \(length)")
        self.tokens = tokens
        self.batch = batch
        self.length = length
        self.validLengths = validLengths ?? Array(repeating: length, count: batch)
        self.positions = positions
        self.treeParents = treeParents
    }

    /// Several sequences of different lengths, right-padded with `padding`.
    public init(sequences: [[Int32]], padding: Int32 = 0) {
        let length = sequences.map(\.count).max() ?? 0
        var tokens: [Int32] = []
        for sequence in sequences { tokens += sequence + Array(repeating: padding, count: length - sequence.count) }
        self.init(tokens: tokens, batch: sequences.count, length: length, validLengths: sequences.map(\.count))
    }
}

/// What a forward call should return.
public struct ForwardOptions: Sendable {
    /// Which logits to compute.
    public enum Logits: Sendable { case none, last, all }
    /// Layers whose output (the residual stream after the layer, 0-based) to capture.
    public var captureLayers: [Int]
    /// Whether to return the final-norm hidden state of every position.
    public var finalHidden: Bool
    public var logits: Logits
    /// The matrix kernels of this call.
    public var kernels: KernelPolicy

    public init(
        captureLayers: [Int] = [], finalHidden: Bool = false, logits: Logits = .last, kernels: KernelPolicy = .standard
    ) {
        self.captureLayers = captureLayers
        self.finalHidden = finalHidden
        self.logits = logits
        self.kernels = kernels
    }
}

/// The results of a forward call. Tensors live in the model's workspace and stay valid
/// until the next call on the same model (copy what you keep).
public struct ForwardResult {
    /// Captured layer outputs `[batch · length, hidden]` by layer index.
    public var captured: [Int: Tensor]
    /// Final-norm hidden states `[batch · length, hidden]` as the head reads them (logits =
    /// finalHidden · headᵀ): MiniCPM's are multiplied by its logit multiplier
    /// (``LlamaConfiguration/logitMultiplier``), everyone else's are the final norm's output.
    public var finalHidden: Tensor?
    /// `[batch, vocabulary]` for `.last` (each row's last valid token), `[batch · length, vocabulary]` for `.all`.
    public var logits: Tensor?
}

extension ForwardResult {
    /// The captured outputs of `layers`, concatenated per row (`[rows, layers.count · H]`,
    /// in the given order): EAGLE-3's fused features `[low | mid | high]`.
    public func concatenatedCaptures(_ layers: [Int], rows: Int) -> Tensor {
        let h = captured[layers[0]]!.shape[-1]
        let width = layers.count * h
        let output = Tensor(zeros: [rows, width])
        for (slot, layer) in layers.enumerated() {
            guard let source = captured[layer]?.pointer else { preconditionFailure("layer \(layer) was not captured") }
            for row in 0..<rows { (output.pointer + row * width + slot * h).update(from: source + row * h, count: h) }
        }
        return output
    }
}

/// Reusable activation buffers, grown only when a call needs more rows than before.
final class LlamaWorkspace: @unchecked Sendable {
    let lock = NSLock()
    var buffers: [String: Tensor] = [:]
    var attention: AttentionWorkspace?
    var attentionKey = (0, 0, 0)
    var masks: [String: AttentionMask] = [:]
    /// The bf16 products of prefills under a bf16 policy (made at the first one).
    var products: Products?

    /// Drops every buffer (the next forward allocates them again).
    func release() {
        lock.lock()
        defer { lock.unlock() }
        buffers = [:]
        attention = nil
        attentionKey = (0, 0, 0)
        masks = [:]
    }

    func tensor(_ name: String, _ count: Int) -> Tensor {
        if let existing = buffers[name], existing.count >= count { return existing }
        let tensor = Tensor(zeros: [count])
        buffers[name] = tensor
        return tensor
    }
}

extension LlamaModel {
    /// Frees the activation buffers the forward keeps between calls (they grow to the longest
    /// batch met), for a caller that needs the memory in between, such as online training of
    /// a large target; the next forward allocates them again. A tensor a forward returned
    /// keeps its memory while the caller holds it.
    public func releaseForwardBuffers() { workspace.release() }

    /// Runs the model over `batch`, appending its keys and values to `cache`.
    ///
    /// Calls on one model are serialised (they share the activation workspace); the returned
    /// tensors stay valid until the next call.
    /// - Throws: ``LlamaError`` when a row does not fit its cache or a token is out of range.
    public func forward(
        _ batch: TokenBatch, cache: KVCache, options: ForwardOptions = ForwardOptions()
    ) throws -> ForwardResult {
        workspace.lock.lock()
        defer { workspace.lock.unlock() }
        return try forwardLocked(batch, cache: cache, options: options)
    }

    private func forwardLocked(_ batch: TokenBatch, cache: KVCache, options: ForwardOptions) throws -> ForwardResult {
        let c = configuration
        let (b, t) = (batch.batch, batch.length)
        guard b == cache.batch else { throw LlamaError("forward: \(b) rows for a cache of \(cache.batch)") }
        guard !cache.sharesLayers || cache.lengths.allSatisfy({ $0 == 0 }) else {
            throw LlamaError("forward: a cache whose layers share one buffer holds one prefill only")
        }
        for row in 0..<b where cache.lengths[row] + t > cache.capacity {
            throw LlamaError(
                "forward: row \(row) needs \(cache.lengths[row] + t) positions, the cache holds \(cache.capacity)",
                hint: "make the cache larger (the model allows \(c.maxPositions) positions)")
        }
        for layer in options.captureLayers where layer < 0 || layer >= c.layerCount {
            throw LlamaError("forward: cannot capture layer \(layer) of a \(c.layerCount)-layer model")
        }
        for token in batch.tokens where token < 0 || Int(token) >= c.vocabularySize {
            throw LlamaError("forward: token id \(token) outside the vocabulary of \(c.vocabularySize)")
        }
        if batch.treeParents != nil && b != 1 { throw LlamaError("forward: tree verification takes one sequence") }
        let n = b * t
        let (h, qWidth, kvWidth) = (c.hiddenSize, c.headCount * c.headDimension, c.kvHeadCount * c.headDimension)
        let ws = workspace
        let x = ws.tensor("x", n * h), xn = ws.tensor("xn", n * h), rstd = ws.tensor("rstd", n * max(c.headCount, 1))
        let q = ws.tensor("q", n * qWidth), k = ws.tensor("k", n * kvWidth), v = ws.tensor("v", n * kvWidth)
        let att = ws.tensor("att", n * qWidth), lse = ws.tensor("lse", n * c.headCount)
        let gate = ws.tensor("gate", n * c.intermediateSize), up = ws.tensor("up", n * c.intermediateSize)
        let positions = makePositions(batch, cache: cache)
        let mask = makeMask(batch, cache: cache)
        let keys = (0..<b).map { cache.lengths[$0] + t }.max() ?? 0
        let attentionWorkspace = attentionWorkspace(batch: b, queries: t, keys: keys)
        let shape = Attention.Shape(
            batch: b, queries: t, keys: keys, heads: c.headCount, kvHeads: c.kvHeadCount,
            headDimension: c.headDimension, keyCapacity: cache.capacity)
        // Steps that continue a cached context (decoding, speculative verification) take the
        // row-exact kernels of the policy; prefills (and so feature capture for training) OpenBLAS.
        let fewRows = (0..<b).allSatisfy { cache.lengths[$0] > 0 }
        let kernels = options.kernels
        // The attention of those steps too: each row on its own, so verification rows carry the
        // bits of the decode steps they replace.
        let rowExactAttention = fewRows && (t <= kernels.exactRows || kernels.integerContinuations)
        var captured: [Int: Tensor] = [:]
        batch.tokens.withUnsafeBufferPointer { ids in embeddingTable.gather(x.pointer, ids: ids.baseAddress!, count: n)
        }
        if c.embeddingMultiplier != 1 {
            Elementwise.scale(x.pointer, by: c.embeddingMultiplier, x.pointer, count: n * h)
        }
        let dimensions = DecoderLayer.Dimensions(
            hiddenSize: h, headCount: c.headCount, kvHeadCount: c.kvHeadCount, headDimension: c.headDimension,
            intermediateSize: c.intermediateSize, rmsNormEps: c.rmsNormEps, residualScale: c.residualMultiplier)
        // The post-attention norm reuses xn (the q/k/v input is read before it is written).
        let scratch = DecoderLayer.Scratch(
            q: q.pointer, k: k.pointer, v: v.pointer, attention: att.pointer, lse: lse.pointer,
            normed: xn.pointer, rstd: rstd.pointer, gate: gate.pointer, up: up.pointer)
        positions.withUnsafeBufferPointer { pos in
            let products = kernels.precision == .bf16 && !fewRows ? halfProducts() : Products.fp32
            for (index, layer) in layers.enumerated() {
                var weights = layer.decoder
                if products.isBF16, let halves = halves(layer: index) {
                    weights.halves = halves  // the packed bf16 matrices, used as they are
                } else {
                    unpack(layer: index)
                }
                RMSNorm.forward(
                    xn.pointer, rstd: rstd.pointer, x.pointer, weight: layer.inputNorm.pointer, rows: n, channels: h,
                    eps: c.rmsNormEps)
                DecoderLayer(dimensions: dimensions, weights: weights).forward(
                    input: xn.pointer, residual: x.pointer, rows: n, positions: pos.baseAddress!, rope: rope,
                    scratch: scratch, fewRows: fewRows, kernels: kernels, products: products
                ) { q, k, v, out, lse in
                    append(k: k, v: v, layer: index, batch: batch, cache: cache)
                    if rowExactAttention {
                        Attention.forwardRowExact(
                            out: out, lse: lse, q: q, k: cache.keys[index].pointer, v: cache.values[index].pointer,
                            shape: shape, mask: mask)
                    } else {
                        Attention.forward(
                            out: out, lse: lse, q: q, k: cache.keys[index].pointer, v: cache.values[index].pointer,
                            shape: shape, mask: mask, workspace: attentionWorkspace)
                    }
                }
                if options.captureLayers.contains(index) {
                    let copy = ws.tensor("capture.\(index)", n * h)
                    copy.pointer.update(from: x.pointer, count: n * h)
                    captured[index] = Tensor(viewing: copy.pointer, shape: [n, h], owner: copy)
                }
            }
        }
        for row in 0..<b { cache.lengths[row] += batch.validLengths[row] }
        RMSNorm.forward(
            xn.pointer, rstd: rstd.pointer, x.pointer, weight: finalNorm.pointer, rows: n, channels: h,
            eps: c.rmsNormEps)
        // MiniCPM's logit scale applies to the head's input, which is what finalHidden holds.
        if c.logitMultiplier != 1 { Elementwise.scale(xn.pointer, by: c.logitMultiplier, xn.pointer, count: n * h) }
        var result = ForwardResult(captured: captured)
        if options.finalHidden { result.finalHidden = Tensor(viewing: xn.pointer, shape: [n, h], owner: xn) }
        result.logits = logits(options.logits, hidden: xn, batch: batch, fewRows: fewRows, kernels: kernels)
        return result
    }

    /// The model's bf16 products (their rounding scratch is the workspace's; calls are serialised).
    private func halfProducts() -> Products {
        if let products = workspace.products { return products }
        let products = Products(precision: .bf16)
        workspace.products = products
        return products
    }

    /// `out = inp · weightᵀ` for the head:
    /// ``DecoderLayer/project(_:_:weight:quantized:bias:rows:inFeatures:outFeatures:accumulate:fewRows:kernels:)``.
    @inline(__always)
    private func project(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: Tensor,
        _ quantized: QuantizedMatrix?,
        rows n: Int, inFeatures i: Int, outFeatures o: Int, fewRows: Bool, kernels: KernelPolicy
    ) {
        DecoderLayer.project(
            out, inp, weight: weight, quantized: quantized, rows: n, inFeatures: i, outFeatures: o,
            fewRows: fewRows, kernels: kernels)
    }

    /// `out = hidden · headᵀ` for `rows` final-norm rows `[rows, H]` → `[rows, V]`: the head
    /// as decoding applies it (the quantised copy for a few rows; the same values as the
    /// Float32 head through ``FewRowsMatmul``). For drafts that reuse the target's head.
    public func projectHead(
        _ out: UnsafeMutablePointer<Float>, _ hidden: UnsafePointer<Float>, rows: Int, kernels: KernelPolicy = .standard
    ) {
        project(
            out, hidden, head, quantizedHead, rows: rows, inFeatures: configuration.hiddenSize,
            outFeatures: configuration.vocabularySize, fewRows: true, kernels: kernels)
    }

    private func logits(
        _ selection: ForwardOptions.Logits, hidden: Tensor, batch: TokenBatch, fewRows: Bool, kernels: KernelPolicy
    ) -> Tensor? {
        let c = configuration
        let h = c.hiddenSize
        switch selection {
        case .none:
            return nil
        case .all:
            let n = batch.batch * batch.length
            let out = workspace.tensor("logits", n * c.vocabularySize)
            project(
                out.pointer, hidden.pointer, head, quantizedHead, rows: n, inFeatures: h, outFeatures: c.vocabularySize,
                fewRows: fewRows, kernels: kernels)
            return Tensor(viewing: out.pointer, shape: [n, c.vocabularySize], owner: out)
        case .last:
            let rows = workspace.tensor("lastHidden", batch.batch * h)
            for row in 0..<batch.batch {
                let last = row * batch.length + max(batch.validLengths[row] - 1, 0)
                (rows.pointer + row * h).update(from: hidden.pointer + last * h, count: h)
            }
            let out = workspace.tensor("logits", batch.batch * c.vocabularySize)
            project(
                out.pointer, rows.pointer, head, quantizedHead, rows: batch.batch, inFeatures: h,
                outFeatures: c.vocabularySize, fewRows: fewRows, kernels: kernels)
            return Tensor(viewing: out.pointer, shape: [batch.batch, c.vocabularySize], owner: out)
        }
    }

    /// `cache.lengths[b] + i`, the tree depth for tree verification, or the caller's positions.
    private func makePositions(_ batch: TokenBatch, cache: KVCache) -> [Int32] {
        if let positions = batch.positions { return positions }
        if let parents = batch.treeParents {
            var depth = [Int](repeating: 0, count: parents.count)
            for i in 0..<parents.count { depth[i] = parents[i] < 0 ? 0 : depth[parents[i]] + 1 }
            return depth.map { Int32(cache.lengths[0] + $0) }
        }
        var positions: [Int32] = []
        positions.reserveCapacity(batch.batch * batch.length)
        for row in 0..<batch.batch {
            for i in 0..<batch.length { positions.append(Int32(cache.lengths[row] + i)) }
        }
        return positions
    }

    /// Causal attention with per-row offsets, or the ancestor mask of a token tree.
    private func makeMask(_ batch: TokenBatch, cache: KVCache) -> AttentionMask {
        if let parents = batch.treeParents {
            let prefix = cache.lengths[0]
            let t = parents.count
            let mask = AttentionMask(causal: false, queryCapacity: t, keyCapacity: cache.capacity, dense: true)
            for i in 0..<t {
                let row = mask.allowed! + i * cache.capacity
                row.update(repeating: 0, count: cache.capacity)
                row.update(repeating: 1, count: prefix)
                var node = i
                while node >= 0 {
                    row[prefix + node] = 1
                    node = parents[node]
                }
            }
            mask.updateBlocks()
            return mask
        }
        let key = "causal.\(batch.batch).\(batch.length).\(cache.capacity)"
        let mask =
            workspace.masks[key]
            ?? AttentionMask(
                causal: true, queryCapacity: batch.length, keyCapacity: cache.capacity,
                batchCapacity: batch.batch, perRowOffsets: true)
        workspace.masks[key] = mask
        for row in 0..<batch.batch { mask.batchQueryOffsets![row] = Int32(cache.lengths[row]) }
        return mask
    }

    private func attentionWorkspace(batch: Int, queries: Int, keys: Int) -> AttentionWorkspace {
        let c = configuration
        let ws = workspace
        if let existing = ws.attention, ws.attentionKey.0 >= batch, ws.attentionKey.1 >= queries,
            ws.attentionKey.2 >= keys
        {
            return existing
        }
        let sizes = (max(batch, ws.attentionKey.0), max(queries, ws.attentionKey.1), max(keys, ws.attentionKey.2))
        let created = AttentionWorkspace(
            batch: sizes.0, queries: sizes.1, keys: sizes.2, heads: c.headCount,
            headDimension: c.headDimension, groupedQuery: false)
        ws.attention = created
        ws.attentionKey = sizes
        return created
    }

    /// Writes this call's keys and values after each row's cached positions.
    private func append(k: UnsafePointer<Float>, v: UnsafePointer<Float>, layer: Int, batch: TokenBatch, cache: KVCache)
    {
        let width = cache.rowSize
        for row in 0..<batch.batch {
            let start = cache.lengths[row]
            let keyRows = cache.keys[layer].pointer + (row * cache.capacity + start) * width
            let valueRows = cache.values[layer].pointer + (row * cache.capacity + start) * width
            keyRows.update(from: k + row * batch.length * width, count: batch.length * width)
            valueRows.update(from: v + row * batch.length * width, count: batch.length * width)
        }
    }
}
