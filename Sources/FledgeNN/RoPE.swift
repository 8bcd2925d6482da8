import Foundation
import FledgeTensor

/// How rotary frequencies are rescaled for long contexts (Hugging Face `rope_scaling`).
public enum RoPEScaling: Sendable, Equatable, Codable {
    /// Plain `1/θ^(2i/D)`.
    case none
    /// Positions divided by `factor` (HF `rope_type: linear`).
    case linear(factor: Float)
    /// Llama 3.1 frequency-dependent scaling (HF `_compute_llama3_parameters`).
    case llama3(factor: Float, lowFrequencyFactor: Float, highFrequencyFactor: Float, originalMaxPositions: Int)
    /// LongRoPE as MiniCPM's modeling code applies it: every inverse frequency divided by its
    /// own factor, `longFactors` when `maxPositions` (the model's `max_position_embeddings`)
    /// exceeds `originalMaxPositions`, else `shortFactors`, and cos and sin multiplied by the
    /// attention factor ``RoPEScaling/longRoPEAttentionFactor(maxPositions:originalMaxPositions:)``.
    case longrope(shortFactors: [Float], longFactors: [Float], originalMaxPositions: Int, maxPositions: Int)
    /// Every inverse frequency divided by its own factor: a GGUF's `rope_freqs.weight`, as
    /// llama.cpp applies it (Llama 3.1's frequency-dependent scaling, precomputed).
    case frequencyFactors([Float])

    /// `sqrt(1 + ln(max / original) / ln(original))`, 1 when the two are equal (MiniCPM4's
    /// shipped configurations).
    public static func longRoPEAttentionFactor(maxPositions: Int, originalMaxPositions: Int) -> Float {
        guard maxPositions != originalMaxPositions else { return 1 }
        let scale = Double(maxPositions) / Double(originalMaxPositions)
        return Float((1 + log(scale) / log(Double(originalMaxPositions))).squareRoot())
    }
}

/// Rotary position embedding in the Hugging Face `rotate_half` convention: a head vector is
/// split into halves [a | b] and rotated pairwise (a[i], b[i]) by angle pos·invFreq[i].
///
/// forward (in place):  x[N,H,D] ← x·cos + rotate_half(x)·sin at positions[N]
/// backward (in place): dx[N,H,D] ← the inverse rotation of dx (RoPE is orthogonal; times the
///                      attention factor under LongRoPE), which is the gradient of the forward
///                      (the transpose); it overwrites, it does not accumulate.
public final class RotaryEmbedding: @unchecked Sendable {
    /// Head dimension D (even).
    public let headDimension: Int
    /// Largest position + 1 the tables cover.
    public let maxPositions: Int
    /// The inverse frequencies, D/2 of them.
    public let inverseFrequencies: [Float]
    /// The factor cos and sin are multiplied by (LongRoPE's attention factor; 1 otherwise).
    public let attentionFactor: Float
    private let cosTable: Tensor  // [maxPositions, D/2]
    private let sinTable: Tensor

    /// Builds the tables; frequencies and angles are computed in Float32 as transformers does.
    public init(headDimension: Int, theta: Float, scaling: RoPEScaling = .none, maxPositions: Int) {
        precondition(headDimension % 2 == 0, "RoPE head dimension must be even")
        self.headDimension = headDimension
        self.maxPositions = maxPositions
        let half = headDimension / 2
        var scale: Float = 1
        var frequencies = (0..<half).map { i in
            1 / powf(theta, Float(2 * i) / Float(headDimension))
        }
        switch scaling {
        case .none:
            break
        case .linear(let factor):
            frequencies = frequencies.map { $0 / factor }
        case .llama3(let factor, let low, let high, let original):
            let lowWavelength = Float(original) / low
            let highWavelength = Float(original) / high
            frequencies = frequencies.map { f in
                let wavelength = 2 * Float.pi / f
                let scaled = wavelength > lowWavelength ? f / factor : f
                let smooth = (Float(original) / wavelength - low) / (high - low)
                let smoothed = (1 - smooth) * scaled / factor + smooth * scaled
                let medium = !(wavelength < highWavelength) && !(wavelength > lowWavelength)
                return medium ? smoothed : scaled
            }
        case .longrope(let short, let long, let original, let declared):
            let factors = declared > original ? long : short
            precondition(factors.count == half, "LongRoPE needs \(half) factors, got \(factors.count)")
            frequencies = (0..<half).map { i in (1 / factors[i]) * frequencies[i] }
            scale = RoPEScaling.longRoPEAttentionFactor(maxPositions: declared, originalMaxPositions: original)
        case .frequencyFactors(let factors):
            precondition(factors.count == half, "RoPE frequency factors: \(half) needed, got \(factors.count)")
            frequencies = (0..<half).map { i in frequencies[i] / factors[i] }
        }
        inverseFrequencies = frequencies
        attentionFactor = scale
        cosTable = Tensor(zeros: [maxPositions, half])
        sinTable = Tensor(zeros: [maxPositions, half])
        for position in 0..<maxPositions {
            for i in 0..<half {
                let angle = Float(position) * frequencies[i]
                cosTable[position * half + i] = cosf(angle) * scale
                sinTable[position * half + i] = sinf(angle) * scale
            }
        }
    }

    /// Rotates `x[N, heads, D]` in place for the given positions.
    public func forward(_ x: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>, rows n: Int, heads: Int) {
        apply(x, positions: positions, rows: n, heads: heads, direction: 1)
    }

    /// Replaces `dx[N, heads, D]` (the gradient at the rotated output) by the gradient at the input.
    public func backward(_ dx: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>, rows n: Int, heads: Int) {
        apply(dx, positions: positions, rows: n, heads: heads, direction: -1)
    }

    private func apply(
        _ x: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>, rows n: Int, heads: Int, direction: Float
    ) {
        let d = headDimension
        let half = d / 2
        let cosBase = cosTable.pointer
        let sinBase = sinTable.pointer
        let limit = maxPositions
        Parallel.forChunks(count: n, grain: max(1, 4_096 / max(heads * d, 1))) { rows in
            for row in rows {
                let position = Int(positions[row])
                precondition(position >= 0 && position < limit, "RoPE position \(position) outside 0..<\(limit)")
                let cosRow = cosBase + position * half
                let sinRow = sinBase + position * half
                for head in 0..<heads {
                    let a = x + (row * heads + head) * d
                    let b = a + half
                    for i in 0..<half {
                        let c = cosRow[i]
                        let s = sinRow[i] * direction
                        let xa = a[i]
                        let xb = b[i]
                        a[i] = xa * c - xb * s
                        b[i] = xb * c + xa * s
                    }
                }
            }
        }
    }
}
