import Foundation

@testable import FledgeTokenizer

// A minimal GGUF (v2/v3) metadata reader for these tests only: FledgeTokenizer must not depend on
// FledgeWeights, whose reader is the real one. Layout: "GGUF", version u32, tensor count u64,
// metadata count u64, then (key string, value type u32, value) entries, little-endian.

struct GGUFMetadataError: Error, CustomStringConvertible {
    var description: String
}

/// A metadata value of a GGUF file.
enum GGUFValue {
    case integer(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    var integer: Int64? { if case .integer(let v) = self { return v } else { return nil } }
    var bool: Bool? { if case .bool(let v) = self { return v } else { return nil } }
    var string: String? { if case .string(let v) = self { return v } else { return nil } }
    var array: [GGUFValue]? { if case .array(let v) = self { return v } else { return nil } }
    var float: Double? { if case .float(let v) = self { return v } else { return nil } }
}

/// Reads every metadata entry of a GGUF file.
func readGGUFMetadata(_ url: URL) throws -> [String: GGUFValue] {
    let data = try Data(contentsOf: url, options: .alwaysMapped)
    return try data.withUnsafeBytes { raw -> [String: GGUFValue] in
        var cursor = GGUFCursor(raw: raw)
        guard try cursor.bytes(4).elementsEqual("GGUF".utf8) else {
            throw GGUFMetadataError(description: "not a GGUF file")
        }
        let version = try cursor.uint(4)
        guard version == 2 || version == 3 else { throw GGUFMetadataError(description: "GGUF version \(version)") }
        _ = try cursor.uint(8)
        let count = try cursor.uint(8)
        var out: [String: GGUFValue] = [:]
        for _ in 0..<count {
            let key = try cursor.string()
            let type = try cursor.uint(4)
            out[key] = try cursor.value(type: type)
        }
        return out
    }
}

private struct GGUFCursor {
    let raw: UnsafeRawBufferPointer
    var offset = 0

    mutating func bytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard offset + n <= raw.count else { throw GGUFMetadataError(description: "truncated metadata") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + n)])
    }

    mutating func uint(_ width: Int) throws -> UInt64 {
        let b = try bytes(width)
        var value: UInt64 = 0
        for i in (0..<width).reversed() { value = value << 8 | UInt64(b[i]) }
        return value
    }

    mutating func string() throws -> String {
        let length = Int(try uint(8))
        return String(decoding: try bytes(length), as: UTF8.self)
    }

    mutating func value(type: UInt64) throws -> GGUFValue {
        switch type {
        case 0: return .integer(Int64(try uint(1)))
        case 1: return .integer(Int64(Int8(truncatingIfNeeded: try uint(1))))
        case 2: return .integer(Int64(try uint(2)))
        case 3: return .integer(Int64(Int16(truncatingIfNeeded: try uint(2))))
        case 4: return .integer(Int64(try uint(4)))
        case 5: return .integer(Int64(Int32(truncatingIfNeeded: try uint(4))))
        case 6: return .float(Double(Float(bitPattern: UInt32(try uint(4)))))
        case 7: return .bool(try uint(1) != 0)
        case 8: return .string(try string())
        case 9:
            let elementType = try uint(4)
            let count = Int(try uint(8))
            var items: [GGUFValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try value(type: elementType)) }
            return .array(items)
        case 10, 11: return .integer(Int64(bitPattern: try uint(8)))
        case 12: return .float(Double(bitPattern: try uint(8)))
        default: throw GGUFMetadataError(description: "unknown GGUF value type \(type)")
        }
    }
}

/// The `tokenizer.ggml.*` entries of a GGUF file as a `GGUFVocabulary`.
func ggufVocabulary(_ metadata: [String: GGUFValue]) throws -> GGUFVocabulary {
    func id(_ key: String) -> Int32? { metadata["tokenizer.ggml.\(key)"]?.integer.map { Int32($0) } }
    guard let model = metadata["tokenizer.ggml.model"]?.string,
        let tokens = metadata["tokenizer.ggml.tokens"]?.array?.compactMap(\.string)
    else { throw GGUFMetadataError(description: "no tokenizer.ggml.model / tokens") }
    return GGUFVocabulary(
        model: model,
        pre: metadata["tokenizer.ggml.pre"]?.string,
        tokens: tokens,
        tokenTypes: metadata["tokenizer.ggml.token_type"]?.array?.compactMap { $0.integer.map { Int32($0) } },
        merges: metadata["tokenizer.ggml.merges"]?.array?.compactMap(\.string),
        scores: metadata["tokenizer.ggml.scores"]?.array?.compactMap { $0.float.map { Float($0) } },
        bosTokenID: id("bos_token_id"), eosTokenID: id("eos_token_id"), unknownTokenID: id("unknown_token_id"),
        paddingTokenID: id("padding_token_id"),
        addBOS: metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false,
        addEOS: metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false)
}
