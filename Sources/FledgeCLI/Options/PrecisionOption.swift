import ArgumentParser
import FledgeTensor

/// `--precision bf16|fp32` (also spelled `--dtype` and `--mixed-precision`, as the peers do).
struct PrecisionOption: ParsableArguments {
    @Option(
        name: [.customLong("precision"), .customLong("dtype"), .customLong("mixed-precision")],
        help: ArgumentHelp(
            "bf16 (bf16 products with fp32 accumulation, bf16 target weights) or fp32 "
                + "(default: bf16 where the CPU has AVX-512 BF16).")
    )
    var precision: String?

    /// The precision to run: the flag's, or bf16 where available; a one-line notice when bf16
    /// was asked for and this machine falls back to fp32.
    func resolved() throws -> Precision {
        var requested: Precision?
        if let precision {
            guard let value = Precision(spelling: precision) else {
                throw ValidationError("--precision: unknown precision \"\(precision)\"; use bf16 or fp32")
            }
            requested = value
        }
        let (result, notice) = Precision.resolve(requested)
        if let notice { printError(notice) }
        return result
    }
}
