import Foundation

/// Vectorised transcendental functions on `SIMD16<Float>` for the hot loops (softmax,
/// attention, SiLU). `exp` follows Cephes `expf` (range reduction by ln 2 in two parts and a
/// degree-6 polynomial): within 2 ulp of the correctly rounded result on [-87, 88]; inputs
/// below about -87.7 (and -inf) give exactly 0, inputs above 88 give exp(88) (softmax and
/// sigmoid only need x ≤ 0, and exp(88.72) already overflows Float).
public enum VectorMath {
    public typealias V = SIMD16<Float>

    @inlinable @inline(__always)
    public static func exp(_ x: V) -> V {
        // Clamping to ±88 keeps n in [-127, 127]; n = -127 gives a scale of exactly 0, so
        // inputs below about -87.7 (and -inf) return 0 without a lane-by-lane select.
        let clamped = pointwiseMin(pointwiseMax(x, V(repeating: -88)), V(repeating: 88))
        // n = round(x / ln 2) with the 1.5·2²³ trick: adding it rounds to an integer (ties to
        // even) and leaves n in the low mantissa bits, so no float→int conversion is needed.
        let magic: Float = 12_582_912
        let t = clamped * 1.442_695_04 + magic
        let n = t - magic
        var r = clamped - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p = V(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        p = p * (r * r) + r + 1
        let integer = unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((integer &+ 127) &<< 23, to: V.self)
        return p * scale
    }

    /// exp for one float with the same algorithm (used for loop tails so that every element
    /// of a row is computed identically).
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float {
        exp(V(repeating: x))[0]
    }

    /// The sum of the lanes of `v` in a fixed order.
    @inlinable @inline(__always)
    public static func sum(_ v: V) -> Float { v.sum() }

    /// The largest lane.
    @inlinable @inline(__always)
    public static func max(_ v: V) -> Float { v.max() }
}
