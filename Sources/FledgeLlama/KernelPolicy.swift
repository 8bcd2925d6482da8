import FledgeNN
import FledgeTensor

/// Which matrix kernels a forward call uses, passed in with every call (``ForwardOptions``)
/// rather than kept in global state.
///
/// Calls that continue a cached context (decode steps, speculative verification) with at most
/// ``exactRows`` rows take the row-exact kernels: ``QuantizedMatmul`` on a GGUF's quantised
/// blocks for at most ``quantizedRows`` rows, ``FewRowsMatmul`` on the Float32 weights above
/// that. Both sum every output in the same order whatever the row count, and so does the
/// attention of those calls (`Attention.forwardRowExact`), so a verification of M rows gives
/// each row the bits of a one-row decode step and greedy speculation is lossless.
/// Prefills and longer calls take OpenBLAS, whose results depend on the shape of the call.
public struct KernelPolicy: Sendable, Equatable, CustomStringConvertible {
    /// The most rows of a continuing call that take the row-exact kernels (0: never).
    public var exactRows: Int
    /// The most rows that read the quantised copies of the matrices (0: never).
    public var quantizedRows: Int
    /// The arithmetic of the other products (prefills, feature capture): fp32 (OpenBLAS) or
    /// bf16 (oneDNN; requires ``BFloat16/support``).
    public var precision: Precision

    public init(
        exactRows: Int = FewRowsMatmul.rowLimit, quantizedRows: Int = QuantizedMatmul.rowLimit,
        precision: Precision = .fp32
    ) {
        self.exactRows = min(max(exactRows, 0), FewRowsMatmul.rowLimit)
        self.quantizedRows = min(max(quantizedRows, 0), self.exactRows)
        self.precision = precision == .bf16 && BFloat16.support.available ? .bf16 : .fp32
    }

    /// The standard policy with prefills in `precision`.
    public static func prefill(_ precision: Precision) -> KernelPolicy { KernelPolicy(precision: precision) }

    /// The default: quantised blocks for a few rows, Float32 few-rows kernels up to 64 rows.
    public static let standard = KernelPolicy()
    /// Row-exact Float32 kernels only (the quantised copies unused).
    public static let float32 = KernelPolicy(quantizedRows: 0)
    /// OpenBLAS for every product (a benchmark reference; not lossless for speculation).
    public static let openBLAS = KernelPolicy(exactRows: 0, quantizedRows: 0)

    /// The most tokens one verification may hold while each of its rows still equals a
    /// one-token decode step bit for bit (0: speculation would not be lossless).
    public var losslessVerificationRows: Int { exactRows }

    public var description: String {
        (precision == .bf16 ? "bf16 prefill; " : "")
            + (exactRows == 0
                ? "OpenBLAS"
                : quantizedRows == 0
                    ? "Float32 few-rows (≤ \(exactRows) rows)"
                    : "quantised (≤ \(quantizedRows) rows), Float32 few-rows (≤ \(exactRows) rows)")
    }
}
