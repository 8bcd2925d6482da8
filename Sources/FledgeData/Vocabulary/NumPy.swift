import Foundation

/// Minimal `.npy` (format 1.0) reading and writing for one-dimensional int64 and bool arrays,
/// as `numpy.save` writes them (what speculators stores as `d2t.npy` / `t2d.npy`).
public enum NumPy {
    static func header(descr: String, count: Int) -> Data {
        var text = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(count),), }"
        // magic (6) + version (2) + length (2) + header, padded with spaces and ended by '\n' to 64 bytes.
        let total = 10 + text.utf8.count + 1
        text += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var data = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0])
        var length = UInt16(text.utf8.count).littleEndian
        data.append(Data(bytes: &length, count: 2))
        data.append(Data(text.utf8))
        return data
    }

    public static func array(int64 values: [Int64]) -> Data {
        header(descr: "<i8", count: values.count) + values.withUnsafeBytes { Data($0) }
    }

    public static func array(bool values: [Bool]) -> Data {
        header(descr: "|b1", count: values.count) + Data(values.map { $0 ? 1 : 0 })
    }

    static func read(_ url: URL) throws -> (descr: String, count: Int, body: Data) {
        guard let data = try? Data(contentsOf: url) else {
            throw DataError(.invalidVocabulary, "\(url.path): cannot read")
        }
        guard data.count >= 10, data.prefix(6) == Data([0x93]) + Data("NUMPY".utf8) else {
            throw DataError(.invalidVocabulary, "\(url.path): not a .npy file")
        }
        let major = data[6]
        let headerLength: Int
        let start: Int
        if major == 1 {
            headerLength = Int(data[8]) | Int(data[9]) << 8
            start = 10
        } else {
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            start = 12
        }
        guard start + headerLength <= data.count else {
            throw DataError(.invalidVocabulary, "\(url.path): truncated header")
        }
        let header = String(decoding: data[start..<(start + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "' ")),
            let shape = field("shape", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "() ,")),
            let count = Int(shape)
        else {
            throw DataError(
                .invalidVocabulary,
                "\(url.path): unsupported header \(header.trimmingCharacters(in: .whitespacesAndNewlines))",
                hint: "a one-dimensional array is expected")
        }
        if header.contains("'fortran_order': True") {
            throw DataError(.invalidVocabulary, "\(url.path): Fortran order is not supported")
        }
        return (descr, count, data[(start + headerLength)...])
    }

    /// The text after `'key':` up to the next top-level comma (a tuple counts as one value).
    static func field(_ key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)':") else { return nil }
        var depth = 0
        var value = ""
        for character in header[range.upperBound...] {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if (character == "," && depth == 0) || character == "}" { break }
            value.append(character)
        }
        return value
    }

    public static func readInt64(_ url: URL) throws -> [Int64] {
        let (descr, count, body) = try read(url)
        guard descr == "<i8" || descr == "<i4" else {
            throw DataError(.invalidVocabulary, "\(url.path): dtype \(descr), expected int64")
        }
        let size = descr == "<i8" ? 8 : 4
        guard body.count == count * size else {
            throw DataError(.invalidVocabulary, "\(url.path): \(body.count) data bytes for \(count) values")
        }
        return body.withUnsafeBytes { raw in
            (0..<count).map {
                size == 8
                    ? raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)
                    : Int64(raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))
            }
        }
    }

    public static func readBool(_ url: URL) throws -> [Bool] {
        let (descr, count, body) = try read(url)
        guard descr == "|b1" || descr == "|u1" else {
            throw DataError(.invalidVocabulary, "\(url.path): dtype \(descr), expected bool")
        }
        guard body.count == count else {
            throw DataError(.invalidVocabulary, "\(url.path): \(body.count) data bytes for \(count) values")
        }
        return body.map { $0 != 0 }
    }
}
