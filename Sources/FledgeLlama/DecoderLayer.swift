import FledgeNN
import FledgeTensor

/// One Llama-style decoder layer at inference: the part shared by the target's forward and
/// the EAGLE drafts' steps (the trainers' fused forward/backward are separate).
///
/// The caller prepares the q/k/v input rows `[n, inputWidth]` (the target's input norm,
/// EAGLE-3's `[input_layernorm(e) | hidden_norm(h)]`, EAGLE-1's `fc` output) and the residual
/// rows `[n, H]`; ``forward(input:residual:rows:positions:rope:scratch:fewRows:kernels:attend:)``
/// then runs q/k/v (+ bias), the optional q/k norms, RoPE, the caller's attention,
/// `residual += o(attn)`, the post-attention norm, the SwiGLU MLP and `residual += down(…)`.
public struct DecoderLayer {
    /// The sizes of a layer.
    public struct Dimensions: Sendable, Equatable {
        public var hiddenSize: Int
        /// Width of the q/k/v input rows (H, or 2H for EAGLE-3).
        public var inputWidth: Int
        public var headCount: Int
        public var kvHeadCount: Int
        public var headDimension: Int
        public var intermediateSize: Int
        public var rmsNormEps: Float
        /// What each sublayer's output is multiplied by before it joins the residual stream
        /// (MiniCPM's `scale_depth / √L`; 1 elsewhere).
        public var residualScale: Float

        public init(
            hiddenSize: Int, inputWidth: Int? = nil, headCount: Int, kvHeadCount: Int, headDimension: Int,
            intermediateSize: Int, rmsNormEps: Float, residualScale: Float = 1
        ) {
            self.hiddenSize = hiddenSize
            self.inputWidth = inputWidth ?? hiddenSize
            self.headCount = headCount
            self.kvHeadCount = kvHeadCount
            self.headDimension = headDimension
            self.intermediateSize = intermediateSize
            self.rmsNormEps = rmsNormEps
            self.residualScale = residualScale
        }

        public var qWidth: Int { headCount * headDimension }
        public var kvWidth: Int { kvHeadCount * headDimension }
    }

    /// Quantised copies of a layer's matrices (a GGUF's Q4_1/Q8_0 blocks), where it has them.
    public struct QuantizedWeights {
        public var q, k, v, o, gate, up, down: QuantizedMatrix?

        public init(
            q: QuantizedMatrix? = nil, k: QuantizedMatrix? = nil, v: QuantizedMatrix? = nil, o: QuantizedMatrix? = nil,
            gate: QuantizedMatrix? = nil, up: QuantizedMatrix? = nil, down: QuantizedMatrix? = nil
        ) {
            (self.q, self.k, self.v, self.o, self.gate, self.up, self.down) = (q, k, v, o, gate, up, down)
        }

        /// Q8_0 copies of Float32 matrices (a draft's layer, for decoding).
        public init(quantizing q: Tensor, k: Tensor, v: Tensor, o: Tensor, gate: Tensor, up: Tensor, down: Tensor) {
            self.init(
                q: QuantizedMatrix(quantizing: q), k: QuantizedMatrix(quantizing: k),
                v: QuantizedMatrix(quantizing: v), o: QuantizedMatrix(quantizing: o),
                gate: QuantizedMatrix(quantizing: gate), up: QuantizedMatrix(quantizing: up),
                down: QuantizedMatrix(quantizing: down))
        }
    }

    /// The layer's matrices in bfloat16 (same layout), for bf16 products.
    public struct HalfWeights {
        public var q, k, v, o, gate, up, down: UnsafePointer<UInt16>

        public init(
            q: UnsafePointer<UInt16>, k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>, o: UnsafePointer<UInt16>,
            gate: UnsafePointer<UInt16>, up: UnsafePointer<UInt16>, down: UnsafePointer<UInt16>
        ) {
            (self.q, self.k, self.v, self.o, self.gate, self.up, self.down) = (q, k, v, o, gate, up, down)
        }
    }

    /// The weights of one layer (Float32, PyTorch layout `[out, in]`): q/k/v read `inputWidth`
    /// columns, the rest H (o: `qWidth`, down: the intermediate size).
    public struct Weights {
        public var q, k, v, o, gate, up, down: Tensor
        public var postNorm: Tensor
        public var qBias, kBias, vBias: Tensor?
        /// Per-head RMSNorm of q and k before RoPE (Qwen3), `[headDimension]` each.
        public var qNorm, kNorm: Tensor?
        public var quantized: QuantizedWeights
        /// bf16 copies of the matrices, used by bf16 products (prefill under a bf16 policy).
        public var halves: HalfWeights?

        public init(
            q: Tensor, k: Tensor, v: Tensor, o: Tensor, gate: Tensor, up: Tensor, down: Tensor, postNorm: Tensor,
            qBias: Tensor? = nil, kBias: Tensor? = nil, vBias: Tensor? = nil, qNorm: Tensor? = nil,
            kNorm: Tensor? = nil,
            quantized: QuantizedWeights = QuantizedWeights()
        ) {
            (self.q, self.k, self.v, self.o, self.gate, self.up, self.down) = (q, k, v, o, gate, up, down)
            self.postNorm = postNorm
            (self.qBias, self.kBias, self.vBias, self.qNorm, self.kNorm) = (qBias, kBias, vBias, qNorm, kNorm)
            self.quantized = quantized
        }
    }

    /// The caller's scratch rows (at least n rows each; nothing is allocated per call).
    /// `normed` may be the buffer of the q/k/v input (it is written after q/k/v are computed).
    public struct Scratch {
        /// `[n, qWidth]`, `[n, kvWidth]`, `[n, kvWidth]`: after RoPE when attention runs.
        public var q, k, v: UnsafeMutablePointer<Float>
        /// `[n, qWidth]` attention output and `[n · headCount]` log-sum-exp.
        public var attention, lse: UnsafeMutablePointer<Float>
        /// `[n, H]` post-attention norm output.
        public var normed: UnsafeMutablePointer<Float>
        /// `[n]`, or `[n · headCount]` with q/k norms.
        public var rstd: UnsafeMutablePointer<Float>
        /// `[n, intermediate]` each; `gate` ends up holding the SwiGLU output.
        public var gate, up: UnsafeMutablePointer<Float>

        public init(
            q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
            attention: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
            normed: UnsafeMutablePointer<Float>,
            rstd: UnsafeMutablePointer<Float>, gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>
        ) {
            (self.q, self.k, self.v, self.attention, self.lse) = (q, k, v, attention, lse)
            (self.normed, self.rstd, self.gate, self.up) = (normed, rstd, gate, up)
        }
    }

    /// The attention of one layer call: `(q, k, v, out, lse)` for the n rows (q and k after
    /// RoPE). The caller stores k and v in its cache and attends q into `out` `[n, qWidth]`
    /// and `lse` `[n · headCount]` with its own mask.
    public typealias Attend = (
        _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
        _ out: UnsafeMutablePointer<Float>, _ lse: UnsafeMutablePointer<Float>
    ) -> Void

    public var dimensions: Dimensions
    public var weights: Weights

    public init(dimensions: Dimensions, weights: Weights) {
        self.dimensions = dimensions
        self.weights = weights
    }

    /// Runs the layer on `n` rows, updating `residual` `[n, H]` in place.
    /// - Parameters:
    ///   - input: the q/k/v input rows `[n, inputWidth]` (already normed or fused by the caller).
    ///   - positions: the RoPE position of each row.
    ///   - fewRows, kernels: whether the call continues a cached context, and the kernel policy of
    ///     every product (see
    ///     ``project(_:_:weight:quantized:bias:rows:inFeatures:outFeatures:accumulate:fewRows:kernels:)``).
    ///   - products: the arithmetic of the calls that do not take the row-exact kernels (bf16
    ///     products use ``Weights/halves`` where they are set).
    ///   - attend: called once, between q/k/v and the output projection.
    public func forward(
        input: UnsafePointer<Float>, residual: UnsafeMutablePointer<Float>, rows n: Int,
        positions: UnsafePointer<Int32>, rope: RotaryEmbedding, scratch s: Scratch,
        fewRows: Bool, kernels: KernelPolicy, products: Products = .fp32, attend: Attend
    ) {
        let d = dimensions, w = weights
        let (h, din, inter) = (d.hiddenSize, d.inputWidth, d.intermediateSize)
        func project(
            _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: Tensor,
            _ quantized: QuantizedMatrix?, _ half: UnsafePointer<UInt16>?,
            bias: Tensor? = nil, inFeatures: Int, outFeatures: Int, accumulate: Bool = false
        ) {
            Self.project(
                out, inp, weight: weight, quantized: quantized, half: half, bias: bias?.pointer, rows: n,
                inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate, fewRows: fewRows,
                kernels: kernels, products: products)
        }
        let half = w.halves
        // Integer products round each input once for the matrices that read it and compute
        // them in one parallel region (matrices kept only as blocks: every call).
        let continuing = fewRows && kernels.integerContinuations
        let qz = w.quantized
        if continuing || w.q.count == 0, let q = qz.q, let k = qz.k, let v = qz.v {
            IntegerMatmul.forward(
                input, rows: n, .init(out: s.q, matrix: q), .init(out: s.k, matrix: k), .init(out: s.v, matrix: v))
            if let bias = w.qBias { Linear.addBias(s.q, bias.pointer, rows: n, outFeatures: d.qWidth) }
            if let bias = w.kBias { Linear.addBias(s.k, bias.pointer, rows: n, outFeatures: d.kvWidth) }
            if let bias = w.vBias { Linear.addBias(s.v, bias.pointer, rows: n, outFeatures: d.kvWidth) }
        } else {
            project(s.q, input, w.q, qz.q, half?.q, bias: w.qBias, inFeatures: din, outFeatures: d.qWidth)
            project(s.k, input, w.k, qz.k, half?.k, bias: w.kBias, inFeatures: din, outFeatures: d.kvWidth)
            project(s.v, input, w.v, qz.v, half?.v, bias: w.vBias, inFeatures: din, outFeatures: d.kvWidth)
        }
        if let qNorm = w.qNorm, let kNorm = w.kNorm {
            RMSNorm.forward(
                s.q, rstd: s.rstd, s.q, weight: qNorm.pointer, rows: n * d.headCount, channels: d.headDimension,
                eps: d.rmsNormEps)
            RMSNorm.forward(
                s.k, rstd: s.rstd, s.k, weight: kNorm.pointer, rows: n * d.kvHeadCount, channels: d.headDimension,
                eps: d.rmsNormEps)
        }
        rope.forward(s.q, positions: positions, rows: n, heads: d.headCount)
        rope.forward(s.k, positions: positions, rows: n, heads: d.kvHeadCount)
        attend(s.q, s.k, s.v, s.attention, s.lse)
        // Residual adds are folded into the output projections (accumulate); a residual scale
        // multiplies their inputs (the projections are linear), so every kernel accumulates as is.
        if d.residualScale != 1 {
            Elementwise.scale(s.attention, by: d.residualScale, s.attention, count: n * d.qWidth)
        }
        project(
            residual, s.attention, w.o, w.quantized.o, half?.o, inFeatures: d.qWidth, outFeatures: h, accumulate: true)
        RMSNorm.forward(
            s.normed, rstd: s.rstd, residual, weight: w.postNorm.pointer, rows: n, channels: h, eps: d.rmsNormEps)
        if continuing || w.gate.count == 0, let gate = qz.gate, let up = qz.up {
            IntegerMatmul.forward(s.normed, rows: n, .init(out: s.gate, matrix: gate), .init(out: s.up, matrix: up))
        } else {
            project(s.gate, s.normed, w.gate, qz.gate, half?.gate, inFeatures: h, outFeatures: inter)
            project(s.up, s.normed, w.up, qz.up, half?.up, inFeatures: h, outFeatures: inter)
        }
        SwiGLU.forward(s.gate, gate: s.gate, up: s.up, count: n * inter)
        if d.residualScale != 1 { Elementwise.scale(s.gate, by: d.residualScale, s.gate, count: n * inter) }
        project(
            residual, s.gate, w.down, w.quantized.down, half?.down, inFeatures: inter, outFeatures: h,
            accumulate: true)
    }

    /// `out (= or +=) inp · weightᵀ (+ bias)` under `kernels`: a matrix kept only as blocks
    /// (`weight` is ``LlamaModel/blocksOnly``) always takes ``IntegerMatmul``; a continuing call
    /// (`fewRows`) on a matrix with a quantised copy takes it whatever its row count under an
    /// integer policy (``KernelPolicy/integerContinuations``); otherwise a continuing call of at
    /// most `kernels.exactRows` rows takes the row-exact kernels (``QuantizedMatmul`` on the
    /// quantised copy up to `kernels.quantizedRows` rows, the same outputs as ``FewRowsMatmul``
    /// bit for bit, then ``FewRowsMatmul``); everything else `products` (OpenBLAS in fp32; in
    /// bf16 oneDNN on `half`, the weight's bf16 copy, or the weight rounded for the call).
    @inline(__always)
    public static func project(
        _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, weight: Tensor, quantized: QuantizedMatrix?,
        half: UnsafePointer<UInt16>? = nil, bias: UnsafePointer<Float>? = nil, rows n: Int, inFeatures i: Int,
        outFeatures o: Int, accumulate: Bool = false, fewRows: Bool, kernels: KernelPolicy, products: Products = .fp32
    ) {
        let exact = fewRows && n <= kernels.exactRows
        if (fewRows && kernels.integerContinuations) || weight.count == 0, let quantized {
            IntegerMatmul.forward(out, inp, matrix: quantized, rows: n, accumulate: accumulate)
        } else if exact, n <= kernels.quantizedRows, let quantized {
            QuantizedMatmul.forward(out, inp, matrix: quantized, rows: n, accumulate: accumulate)
        } else if !exact && products.isBF16 {
            Linear.forward(
                out, inp, weight: weight.pointer, weightHalf: half, rows: n, inFeatures: i, outFeatures: o,
                accumulate: accumulate, products: products)
        } else {
            Linear.forward(
                out, inp, weight: weight.pointer, rows: n, inFeatures: i, outFeatures: o, accumulate: accumulate,
                fewRows: exact)
        }
        if let bias { Linear.addBias(out, bias, rows: n, outFeatures: o) }
    }
}
