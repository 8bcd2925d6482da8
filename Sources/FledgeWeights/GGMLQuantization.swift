import FledgeTensor

/// Dequantisation of ggml blocks to Float32, following ggml-quants.c (`dequantize_row_*`).
///
/// Block layouts (little-endian, `d`/`m`/`dmin` are f16):
/// - Q8_0  (32 values, 34 bytes):  d, int8 q[32];                       x = d·q
/// - Q4_0  (32 values, 18 bytes):  d, q[16] (low nibbles = values 0–15, high = 16–31);  x = d·(q − 8)
/// - Q4_1  (32 values, 20 bytes):  d, m, q[16];                          x = d·q + m
/// - Q4_K (256 values, 144 bytes): d, dmin, scales[12] (eight 6-bit scale/min pairs), q[128]
/// - Q6_K (256 values, 210 bytes): ql[128], qh[64], int8 scales[16], d
public enum GGMLQuantization {
    public static func dequantize(
        _ source: UnsafeRawPointer, type: GGMLType, count: Int, into y: UnsafeMutablePointer<Float>
    ) {
        let blocks = count / type.block.elements
        let stride = type.block.bytes
        let perBlock = type.block.elements
        Parallel.forChunks(count: blocks, grain: 256) { range in
            for block in range {
                let x = source + block * stride
                let out = y + block * perBlock
                switch type {
                case .f32: UnsafeMutableRawPointer(out).copyMemory(from: x, byteCount: 4)
                case .f16: out[0] = half(x, 0)
                case .bf16: out[0] = HalfPrecision.float(bf16: x.loadUnaligned(as: UInt16.self))
                case .q8_0: q8_0(x, out)
                case .q4_0: q4_0(x, out)
                case .q4_1: q4_1(x, out)
                case .q4_K: q4_K(x, out)
                case .q6_K: q6_K(x, out)
                }
            }
        }
    }

    @inline(__always)
    static func half(_ x: UnsafeRawPointer, _ offset: Int) -> Float {
        HalfPrecision.float(f16: x.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    static func byte(_ x: UnsafeRawPointer, _ offset: Int) -> UInt8 { x.load(fromByteOffset: offset, as: UInt8.self) }

    static func q8_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        for j in 0..<32 { y[j] = d * Float(x.load(fromByteOffset: 2 + j, as: Int8.self)) }
    }

    static func q4_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        for j in 0..<16 {
            let q = byte(x, 2 + j)
            y[j] = Float(Int(q & 0x0F) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    static func q4_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        let m = half(x, 2)
        for j in 0..<16 {
            let q = byte(x, 4 + j)
            y[j] = Float(q & 0x0F) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    /// The j-th 6-bit (scale, min) pair of a Q4_K block (`get_scale_min_k4`).
    @inline(__always)
    static func scaleMin(_ j: Int, _ scales: UnsafeRawPointer) -> (Float, Float) {
        let q = { (i: Int) in scales.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 { return (Float(q(j) & 63), Float(q(j + 4) & 63)) }
        let d = (q(j + 4) & 0x0F) | ((q(j - 4) >> 6) << 4)
        let m = (q(j + 4) >> 4) | ((q(j) >> 6) << 4)
        return (Float(d), Float(m))
    }

    static func q4_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 0)
        let dmin = half(x, 2)
        let scales = x + 4
        var q = x + 16
        var out = y
        var pair = 0
        for _ in stride(from: 0, to: 256, by: 64) {
            let (sc1, m1) = scaleMin(pair, scales)
            let (sc2, m2) = scaleMin(pair + 1, scales)
            let (d1, min1, d2, min2) = (d * sc1, dmin * m1, d * sc2, dmin * m2)
            for l in 0..<32 { out[l] = d1 * Float(q.load(fromByteOffset: l, as: UInt8.self) & 0x0F) - min1 }
            for l in 0..<32 { out[32 + l] = d2 * Float(q.load(fromByteOffset: l, as: UInt8.self) >> 4) - min2 }
            out += 64
            q += 32
            pair += 2
        }
    }

    static func q6_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 208)
        var ql = x
        var qh = x + 128
        var sc = x + 192
        var out = y
        for _ in 0..<2 {
            for l in 0..<32 {
                let s = l / 16
                let low0 = ql.load(fromByteOffset: l, as: UInt8.self)
                let low32 = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                let high = qh.load(fromByteOffset: l, as: UInt8.self)
                let q1 = Int((low0 & 0x0F) | ((high & 3) << 4)) - 32
                let q2 = Int((low32 & 0x0F) | (((high >> 2) & 3) << 4)) - 32
                let q3 = Int((low0 >> 4) | (((high >> 4) & 3) << 4)) - 32
                let q4 = Int((low32 >> 4) | (((high >> 6) & 3) << 4)) - 32
                let scale = { (i: Int) in Float(sc.load(fromByteOffset: i, as: Int8.self)) }
                out[l] = d * scale(s) * Float(q1)
                out[l + 32] = d * scale(s + 2) * Float(q2)
                out[l + 64] = d * scale(s + 4) * Float(q3)
                out[l + 96] = d * scale(s + 6) * Float(q4)
            }
            out += 128
            ql += 64
            qh += 32
            sc += 8
        }
    }
}
