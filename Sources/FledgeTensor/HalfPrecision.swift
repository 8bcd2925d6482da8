/// bf16 and f16 storage formats and their exact conversion to and from Float32.
///
/// Float32 → 16-bit rounds to nearest, ties to even (as PyTorch's `.to(torch.bfloat16)` and
/// `.half()`); NaN stays NaN (quiet), infinities and signed zeros are kept. 16-bit → Float32
/// is exact.
public enum HalfPrecision {
    /// Rounds a float to bfloat16 bits (round to nearest even).
    @inline(__always)
    public static func bf16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    /// The float with the given bfloat16 bits.
    @inline(__always)
    public static func float(bf16 bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Rounds a float to IEEE half-precision bits (round to nearest even, overflow to ±inf).
    @inline(__always)
    public static func f16Bits(_ value: Float) -> UInt16 { Float16(value).bitPattern }

    /// The float with the given IEEE half-precision bits.
    @inline(__always)
    public static func float(f16 bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

    /// Converts `count` floats to bfloat16 bits.
    public static func toBF16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
        for index in 0..<count { destination[index] = bf16Bits(source[index]) }
    }

    /// Converts `count` bfloat16 values to floats.
    public static func fromBF16(_ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int)
    {
        for index in 0..<count { destination[index] = float(bf16: source[index]) }
    }

    /// Converts `count` floats to IEEE half bits.
    public static func toF16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<UInt16>, count: Int) {
        for index in 0..<count { destination[index] = f16Bits(source[index]) }
    }

    /// Converts `count` IEEE half values to floats.
    public static func fromF16(_ source: UnsafePointer<UInt16>, _ destination: UnsafeMutablePointer<Float>, count: Int)
    {
        for index in 0..<count { destination[index] = float(f16: source[index]) }
    }
}
