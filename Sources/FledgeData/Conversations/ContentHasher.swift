/// A fast, stable 128-bit hash of conversation contents, for de-duplication and content ids.
///
/// Two independent lanes, each a Murmur3-style multiply-rotate over 8-byte little-endian
/// words (the last partial word zero-padded and tagged with its length), finished with
/// Murmur3's `fmix64` over both lanes and the total length. It is not cryptographic (inputs
/// are not adversarial here) and reads 8 bytes per step, so it stays fast in debug builds,
/// where `SHA256Hasher` over every conversation would dominate the run time.
/// The value is part of the prepared format (content ids): changing it needs a format version.
struct ContentHasher {
    private var a: UInt64 = 0x9E37_79B9_7F4A_7C15
    private var b: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private var length: UInt64 = 0

    init() {}

    /// Hashes `bytes` after everything hashed so far. Splitting input differently between
    /// calls gives a different hash; callers always split the same way.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        var offset = 0
        while offset + 8 <= count {
            mix(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
            offset += 8
        }
        if offset < count {
            var word: UInt64 = 0
            for k in 0..<(count - offset) { word |= UInt64(bytes[offset + k]) << UInt64(8 * k) }
            mix(word ^ UInt64(count - offset) << 56)
        }
        length &+= UInt64(count)
    }

    /// The 16-byte hash, big-endian lane `a` then lane `b`.
    func finalize() -> (high: UInt64, low: UInt64) {
        var a = self.a ^ length
        var b = self.b ^ (length &* 0x9E37_79B9_7F4A_7C15)
        a = a &+ b
        b = b &+ a
        a = Self.fmix(a)
        b = Self.fmix(b)
        a = a &+ b
        b = b &+ a
        return (a, b)
    }

    @inline(__always) private mutating func mix(_ word: UInt64) {
        a ^= word &* 0x87C3_7B91_1142_53D5
        a = (a << 27 | a >> 37) &* 5 &+ 0x52DC_E729
        b ^= (word << 33 | word >> 31) &* 0x4CF5_AD43_2745_937F
        b = (b << 31 | b >> 33) &* 5 &+ 0x3849_5AB5
    }

    private static func fmix(_ value: UInt64) -> UInt64 {
        var k = value
        k ^= k >> 33
        k = k &* 0xFF51_AFD7_ED55_8CCD
        k ^= k >> 33
        k = k &* 0xC4CE_B9FE_1A85_EC53
        k ^= k >> 33
        return k
    }
}
