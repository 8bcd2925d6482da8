import Foundation

/// A seeded random number generator (SplitMix64): the same seed gives the same stream on
/// every machine, so every source of randomness in Fledge takes an explicit seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    /// The full generator state; saving and restoring it resumes the stream exactly.
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform float in [0, 1) with 24 random bits.
    public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// A standard normal sample (Box–Muller on two uniforms in (0, 1]).
    public mutating func nextNormal() -> Float {
        let u1 = Double((next() >> 11) + 1) * (1.0 / 9_007_199_254_740_992.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Fills `tensor` with normal samples of the given standard deviation.
    public mutating func fillNormal(_ tensor: Tensor, std: Float = 1) {
        for index in 0..<tensor.count { tensor.pointer[index] = nextNormal() * std }
    }

    /// Fills `tensor` with uniform samples in [low, high).
    public mutating func fillUniform(_ tensor: Tensor, low: Float, high: Float) {
        for index in 0..<tensor.count { tensor.pointer[index] = low + (high - low) * nextUniform() }
    }
}
