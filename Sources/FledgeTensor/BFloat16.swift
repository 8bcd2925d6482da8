import CFledgeKernels
import Foundation

/// The arithmetic of matrix products in training and prefill.
///
/// `fp32`: OpenBLAS sgemm. `bf16`: mixed precision as GPU trainers run it (PyTorch's
/// `autocast(bfloat16)`): both operands of a product rounded to bfloat16, products accumulated
/// and stored in Float32 by oneDNN's AVX-512 BF16 kernels; everything else (norms, softmax,
/// losses, gradients' sums, the optimiser) stays Float32.
public enum Precision: String, Sendable, CaseIterable, Codable {
    case fp32
    case bf16

    /// Parses the spellings of the peers: `bf16`, `bfloat16`, `fp32`, `float32`, `no` (accelerate's
    /// `--mixed-precision no`), case-insensitively.
    public init?(spelling: String) {
        switch spelling.lowercased() {
        case "bf16", "bfloat16", "torch.bfloat16": self = .bf16
        case "fp32", "float32", "float", "f32", "no", "torch.float32": self = .fp32
        default: return nil
        }
    }

    /// The precision a run uses for `requested` (nil: the machine's default, bf16 where it
    /// runs), and a one-line notice when bf16 was asked for or was the default but this machine
    /// falls back to fp32.
    public static func resolve(
        _ requested: Precision?, support: BFloat16.Support = BFloat16.support
    ) -> (precision: Precision, notice: String?) {
        switch requested {
        case .fp32: return (.fp32, nil)
        case .bf16, nil:
            if support.available { return (.bf16, nil) }
            return (.fp32, "fledge: bf16 is not available here (\(support.reason)); running in fp32")
        }
    }
}

/// bfloat16 conversions and products (the C kernels of `CFledgeKernels`).
public enum BFloat16 {
    /// Whether bf16 products run on this machine, and why not.
    public struct Support: Sendable {
        public var available: Bool
        /// "oneDNN 2.6.3, avx512_core_bf16", or why bf16 is unavailable.
        public var reason: String

        public init(available: Bool, reason: String) {
            self.available = available
            self.reason = reason
        }
    }

    /// Products need a CPU with AVX-512 BF16 and oneDNN (`libdnnl.so.2`) that uses it.
    /// `FLEDGE_BF16=off` in the environment turns bf16 off (to run or test the fp32 fallback).
    public static let support: Support = {
        if ProcessInfo.processInfo.environment["FLEDGE_BF16"] == "off" {
            return Support(available: false, reason: "turned off by FLEDGE_BF16=off")
        }
        guard fledge_cpu_has_avx512_bf16() != 0 else {
            return Support(available: false, reason: "this CPU lacks AVX-512 BF16")
        }
        guard fledge_dnnl_load() == 0 else {
            return Support(available: false, reason: String(cString: fledge_dnnl_error()))
        }
        let isa = String(cString: fledge_dnnl_isa())
        let name = "oneDNN \(String(cString: fledge_dnnl_version())), \(isa)"
        guard isa.contains("bf16") || isa.contains("amx") else {
            return Support(available: false, reason: "\(name) does not use AVX-512 BF16")
        }
        return Support(available: true, reason: name)
    }()

    /// The instruction set of the conversions ("avx512bf16", "avx512f", "portable").
    public static var conversionISA: String { String(cString: fledge_bf16_convert_isa()) }

    /// Rounds `count` floats to bfloat16 (nearest even), in parallel for large counts.
    public static func round(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<UInt16>, count: Int)
    {
        if count < 1 << 16 {
            fledge_f32_to_bf16(source, destination, count)
            return
        }
        Parallel.forChunks(count: count, grain: 1 << 15) { range in
            fledge_f32_to_bf16(source + range.lowerBound, destination + range.lowerBound, range.count)
        }
    }

    /// Widens `count` bfloat16 values to Float32 (exact).
    public static func widen(_ source: UnsafePointer<UInt16>, into destination: UnsafeMutablePointer<Float>, count: Int)
    {
        fledge_bf16_to_f32(source, destination, count)
    }

    nonisolated(unsafe) private static var threads = 0

    /// `C = op(A)·op(B) + beta·C` on bfloat16 operands with Float32 accumulation and output,
    /// row-major (the arguments of ``BLAS/gemm(_:_:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``);
    /// `beta` is 0 or 1. Requires ``support``. Runs on ``Parallel/workerCount`` threads.
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, a: UnsafePointer<UInt16>, lda: Int,
        b: UnsafePointer<UInt16>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(beta == 0 || beta == 1, "bf16 products take beta 0 or 1")
        if m == 0 || n == 0 { return }
        if k == 0 {
            if beta == 0 { for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) } }
            return
        }
        if threads != Parallel.workerCount {
            threads = Parallel.workerCount
            fledge_dnnl_set_threads(Int32(threads))
        }
        let status = fledge_dnnl_gemm_bf16(
            transA == .transposed ? 1 : 0, transB == .transposed ? 1 : 0, Int64(m), Int64(n), Int64(k), a,
            Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
        precondition(status == 0, "bf16 product \(m)×\(n)×\(k) failed: \(String(cString: fledge_dnnl_error()))")
    }

    /// The oneDNN implementation of the most recently created product (e.g. "brg:avx512_core_bf16").
    public static var lastImplementation: String { String(cString: fledge_dnnl_last_impl()) }

    /// How many products oneDNN has compiled so far (one per new shape).
    public static var primitivesCreated: Int { Int(fledge_dnnl_primitives_created()) }
}

/// A growable buffer of bfloat16 values (64-byte aligned); grows only, so a run that reuses it
/// allocates only while it meets a larger request than before.
public final class BFloat16Buffer: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<UInt16>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 32)
        pointer = Self.allocate(self.capacity)
    }

    deinit { free(pointer) }

    /// Room for `count` values (the contents are lost when it grows).
    public func reserve(_ count: Int) -> UnsafeMutablePointer<UInt16> {
        if count > capacity {
            free(pointer)
            capacity = count
            pointer = Self.allocate(count)
        }
        return pointer
    }

    /// `count` floats rounded into this buffer.
    @discardableResult
    public func round(_ source: UnsafePointer<Float>, count: Int) -> UnsafePointer<UInt16> {
        let destination = reserve(count)
        BFloat16.round(source, into: destination, count: count)
        return UnsafePointer(destination)
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<UInt16> {
        let bytes = (count * 2 + 63) / 64 * 64
        guard let raw = aligned_alloc(64, bytes) else { fatalError("out of memory: \(bytes) bytes of bf16") }
        return raw.assumingMemoryBound(to: UInt16.self)
    }
}
