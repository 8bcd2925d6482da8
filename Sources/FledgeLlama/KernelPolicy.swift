import FledgeNN
import FledgeTensor

/// Which matrix kernels a forward call uses, passed in with every call (``ForwardOptions``)
/// rather than kept in global state.
///
/// Calls that continue a cached context (decode steps, speculative verification) with at most
/// ``exactRows`` rows take row-exact kernels: every output is summed in an order that does not
/// depend on the other rows of the call, and so is the attention of those calls
/// (`Attention.forwardRowExact`), so a verification of M rows gives each row the bits of a
/// one-row decode step and greedy speculation is lossless. Matrices kept as a GGUF's quantised
/// blocks take ``quantized`` (integer products by default, as llama.cpp: 8-bit activation
/// blocks × the weight blocks; or the dequantising kernel, whose outputs equal the Float32
/// path bit for bit) for at most ``quantizedRows`` rows; the others ``FewRowsMatmul`` on the
/// Float32 weights. Prefills and longer calls take OpenBLAS (or oneDNN in bf16), whose results
/// depend on the shape of the call.
public struct KernelPolicy: Sendable, Equatable, CustomStringConvertible {
    /// How the row-exact calls multiply quantised blocks.
    public enum Quantized: String, Sendable, CaseIterable {
        /// Activation rows rounded to 8-bit blocks, exact integer dot products (``IntegerMatmul``).
        case integer
        /// Each weight converted to Float32 in registers (``QuantizedMatmul``): the Float32
        /// path's bits.
        case dequantising
    }

    /// The most rows of a continuing call that take the row-exact kernels (0: never).
    public var exactRows: Int
    /// The most rows that read the quantised copies of the matrices (0: never).
    public var quantizedRows: Int
    /// The arithmetic of those reads.
    public var quantized: Quantized
    /// The arithmetic of the other products (prefills, feature capture): fp32 (OpenBLAS) or
    /// bf16 (oneDNN; requires ``BFloat16/support``).
    public var precision: Precision

    /// `quantizedRows` nil: every row-exact call for integer products (a verification must
    /// take the kernel of the decode steps it replaces, and integer products differ from the
    /// Float32 ones), ``QuantizedMatmul/rowLimit`` for the dequantising kernel (same bits as
    /// the Float32 one, which is faster from about 12 rows on).
    public init(
        exactRows: Int = FewRowsMatmul.rowLimit, quantizedRows: Int? = nil, quantized: Quantized = .integer,
        precision: Precision = .fp32
    ) {
        self.exactRows = min(max(exactRows, 0), FewRowsMatmul.rowLimit)
        self.quantized = quantized
        let rows = quantizedRows ?? (quantized == .integer ? self.exactRows : QuantizedMatmul.rowLimit)
        // Integer products below the exact limit only as all or nothing: rows beyond them would
        // take Float32 sums, and a verification would no longer equal its decode steps.
        self.quantizedRows =
            quantized == .integer && rows > 0 ? self.exactRows : min(max(rows, 0), self.exactRows)
        self.precision = precision == .bf16 && BFloat16.support.available ? .bf16 : .fp32
    }

    /// The standard policy with prefills in `precision`.
    public static func prefill(_ precision: Precision) -> KernelPolicy { KernelPolicy(precision: precision) }

    /// The default: integer products on quantised blocks, Float32 few-rows kernels for the
    /// other matrices, up to 64 rows.
    public static let standard = KernelPolicy()
    /// Quantised blocks through the dequantising kernel (≤ 8 rows), Float32 above: the bits
    /// of ``float32``.
    public static let dequantising = KernelPolicy(quantized: .dequantising)
    /// Row-exact Float32 kernels only (the quantised copies unused).
    public static let float32 = KernelPolicy(quantizedRows: 0, quantized: .dequantising)
    /// OpenBLAS for every product (a benchmark reference; not lossless for speculation).
    public static let openBLAS = KernelPolicy(exactRows: 0, quantizedRows: 0)

    /// The policy a command-line spelling names: integer, dequantising, float32.
    public init?(spelling: String) {
        switch spelling.lowercased() {
        case "integer", "int8", "q8": self = .standard
        case "dequantising", "dequantizing", "dequantised", "dequantized": self = .dequantising
        case "float32", "fp32", "f32": self = .float32
        default: return nil
        }
    }

    /// The most tokens one verification may hold while each of its rows still equals a
    /// one-token decode step bit for bit (0: speculation would not be lossless).
    public var losslessVerificationRows: Int { exactRows }

    /// Whether every continuing call, whatever its row count, takes the integer products on
    /// quantised blocks (and row-exact attention). Integer products differ from the Float32
    /// ones by the 8-bit rounding of activations, so a continuing call must not switch to
    /// OpenBLAS above ``exactRows``: a speculative session that re-runs a few cached positions
    /// together with a new turn would otherwise store other keys and values for them than the
    /// decode steps that first wrote them. Row-exact kernels give every row the same bits in
    /// a call of any size.
    public var integerContinuations: Bool { quantized == .integer && quantizedRows > 0 }

    public var description: String {
        (precision == .bf16 ? "bf16 prefill; " : "")
            + (exactRows == 0
                ? "OpenBLAS"
                : quantizedRows == 0
                    ? "Float32 few-rows (≤ \(exactRows) rows)"
                    : quantized == .integer
                        ? "integer products on quantised blocks, Float32 few-rows otherwise (≤ \(exactRows) rows)"
                        : "dequantised blocks (≤ \(quantizedRows) rows), Float32 few-rows (≤ \(exactRows) rows)")
    }
}
