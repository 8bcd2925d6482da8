// GPT-2's byte-level alphabet: every byte 0...255 is written as one printable Unicode scalar, so
// that a byte-level BPE vocabulary is a set of ordinary strings. Bytes that are printable Latin-1
// (`!`...`~`, `¡`...`¬`, `®`...`ÿ`) stand for themselves; the other 68 are mapped, in byte order,
// to U+0100, U+0101, ... (space → `Ġ`, newline → `Ċ`).
// Ported from `bytes_to_unicode` in openai/gpt-2 `src/encoder.py` and
// huggingface/tokenizers `tokenizers/src/pre_tokenizers/byte_level.rs`.

/// The byte ↔ scalar tables of the byte-level alphabet.
enum ByteLevel {
    /// `scalarForByte[b]` is the scalar that writes byte `b`.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse of `scalarForByte`, indexed by scalar value (all of them are below U+0144).
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 512)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    /// The byte a scalar of the alphabet stands for, or nil for any other scalar.
    @inline(__always)
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = Int(scalar.value)
        guard value < byteForScalar.count, byteForScalar[value] >= 0 else { return nil }
        return UInt8(byteForScalar[value])
    }

    /// Writes the UTF-8 bytes of `scalars` in the byte-level alphabet.
    static func encode<S: Sequence>(_ scalars: S) -> [Unicode.Scalar] where S.Element == Unicode.Scalar {
        let table = scalarForByte
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.underestimatedCount * 2)
        for scalar in scalars {
            if scalar.value < 0x80 {
                out.append(table[Int(scalar.value)])
            } else {
                for byte in UTF8.encode(scalar)! { out.append(table[Int(byte)]) }
            }
        }
        return out
    }

    /// The bytes written by a token of the alphabet, or the token's own UTF-8 when it holds any
    /// other scalar (an added token such as `<|im_start|>` whose scalars are all printable ASCII
    /// maps to itself either way). As `ByteLevel::decode_chain` in `byte_level.rs`.
    static func bytes(ofToken token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            guard let byte = byte(for: scalar) else { return Array(token.utf8) }
            out.append(byte)
        }
        return out
    }
}
