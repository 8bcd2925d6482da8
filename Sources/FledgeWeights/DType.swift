import FledgeTensor

/// The element types Fledge reads and writes in safetensors files.
public enum DType: String, Sendable, Codable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case i64 = "I64"
    case i32 = "I32"
    case bool = "BOOL"
    case u8 = "U8"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .i64: 8
        case .bool, .u8: 1
        }
    }

    /// Whether the type holds floating-point values that convert to Float.
    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

/// Conversions between raw little-endian storage and Float.
public enum DTypeConversion {
    /// Converts `count` elements of `type` at `source` to floats.
    public static func toFloat(
        _ source: UnsafeRawPointer, type: DType, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        switch type {
        case .f32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .f16:
            for i in 0..<count {
                destination[i] = HalfPrecision.float(f16: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .bf16:
            for i in 0..<count {
                destination[i] = HalfPrecision.float(bf16: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            }
        case .i64:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
        case .i32:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        case .bool, .u8:
            for i in 0..<count { destination[i] = Float(source.load(fromByteOffset: i, as: UInt8.self)) }
        }
    }
}
