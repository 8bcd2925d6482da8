import Foundation
import FledgeTensor

/// A metadata value of a GGUF file.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .uint(let v): Int(exactly: v)
        case .int(let v): Int(exactly: v)
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case .float(let v): v
        case .uint(let v): Double(v)
        case .int(let v): Double(v)
        default: nil
        }
    }

    public var string: String? { if case .string(let v) = self { v } else { nil } }
    public var bool: Bool? { if case .bool(let v) = self { v } else { nil } }
    public var array: [GGUFValue]? { if case .array(let v) = self { v } else { nil } }
}

/// The ggml tensor types Fledge can dequantise (values as in ggml.h).
public enum GGMLType: UInt32, Sendable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8, q4_K = 12, q6_K = 14, bf16 = 30

    /// Elements per block and bytes per block.
    public var block: (elements: Int, bytes: Int) {
        switch self {
        case .f32: (1, 4)
        case .f16, .bf16: (1, 2)
        case .q4_0: (32, 18)
        case .q4_1: (32, 20)
        case .q8_0: (32, 34)
        case .q4_K: (256, 144)
        case .q6_K: (256, 210)
        }
    }
}

/// A GGUF (v2 or v3) file, memory-mapped: metadata, tensor infos and dequantisation.
///
/// Layout: magic "GGUF", version, tensor count, metadata count, the metadata key/values,
/// the tensor infos (name, dimensions innermost first, type, offset), padding to
/// `general.alignment` (default 32), then the tensor data. See docs/formats.md.
public final class GGUFFile: @unchecked Sendable {
    public struct TensorInfo: Sendable {
        public var name: String
        /// Dimensions innermost first (ggml's `ne`); the PyTorch shape is the reverse.
        public var dimensions: [Int]
        public var typeCode: UInt32
        public var offset: Int
        public var count: Int { dimensions.reduce(1, *) }
        /// The PyTorch-order shape.
        public var shape: [Int] { dimensions.reversed() }
    }

    public let url: URL
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [String: GGUFValue]
    public let metadataKeys: [String]
    public let tensors: [TensorInfo]
    private let tensorIndex: [String: Int]
    private let data: Data
    private let dataStart: Int

    /// Opens and parses `url`.
    /// - Throws: ``WeightsError`` naming the file and the byte offset where parsing failed.
    public init(url: URL) throws {
        self.url = url
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw WeightsError(file: url.path, "cannot read: \(error.localizedDescription)")
        }
        var reader = ByteReader(data: data, file: url.path)
        guard try reader.bytes(4) == Data("GGUF".utf8) else {
            throw WeightsError(file: url.path, "not a GGUF file (the magic is not \"GGUF\")")
        }
        version = try reader.u32()
        guard version == 2 || version == 3 else {
            throw WeightsError(file: url.path, "GGUF version \(version) is not supported", hint: "versions 2 and 3 are")
        }
        let tensorCount = Int(try reader.u64())
        let metadataCount = Int(try reader.u64())
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<metadataCount {
            let key = try reader.string()
            let type = try reader.u32()
            metadata[key] = try reader.value(type: type)
            keys.append(key)
        }
        var tensors: [TensorInfo] = []
        var index: [String: Int] = [:]
        for _ in 0..<tensorCount {
            let name = try reader.string()
            let dimensionCount = Int(try reader.u32())
            guard dimensionCount <= 4 else { throw reader.error("tensor \(name) has \(dimensionCount) dimensions") }
            let dimensions = try (0..<dimensionCount).map { _ in Int(try reader.u64()) }
            let type = try reader.u32()
            let offset = Int(try reader.u64())
            index[name] = tensors.count
            tensors.append(TensorInfo(name: name, dimensions: dimensions, typeCode: type, offset: offset))
        }
        let alignment = metadata["general.alignment"]?.int ?? 32
        dataStart = (reader.offset + alignment - 1) / alignment * alignment
        self.metadata = metadata
        self.metadataKeys = keys
        self.tensors = tensors
        self.tensorIndex = index
        for tensor in tensors {
            guard let type = GGMLType(rawValue: tensor.typeCode) else { continue }
            let bytes = tensor.count / type.block.elements * type.block.bytes
            guard tensor.count % type.block.elements == 0, dataStart + tensor.offset + bytes <= data.count else {
                throw WeightsError(
                    file: url.path, "tensor \(tensor.name) (\(bytes) bytes at \(tensor.offset)) lies outside the file",
                    hint: "the file is truncated")
            }
        }
    }

    /// The architecture (`general.architecture`), e.g. "llama".
    public var architecture: String? { metadata["general.architecture"]?.string }

    /// The tensor info called `name`.
    public func info(_ name: String) -> TensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The tensor `name` dequantised to Float32, in PyTorch shape order.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = info(name) else { throw WeightsError(file: url.path, "no tensor named \(name)") }
        guard let type = GGMLType(rawValue: info.typeCode) else {
            throw WeightsError(
                file: url.path, "tensor \(name) has ggml type \(info.typeCode), which Fledge cannot dequantise",
                hint: "supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K")
        }
        let tensor = Tensor(zeros: Shape(info.shape))
        data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart + info.offset
            GGMLQuantization.dequantize(base, type: type, count: info.count, into: tensor.pointer)
        }
        return tensor
    }
}

extension GGUFFile {
    /// Calls `body` with the stored bytes of tensor `name` (ggml blocks, rows of the PyTorch
    /// shape's last dimension) and their type; the pointer is valid only inside `body`.
    public func withBlocks<R>(_ name: String, _ body: (UnsafeRawPointer, GGMLType) throws -> R) throws -> R {
        guard let info = info(name) else { throw WeightsError(file: url.path, "no tensor named \(name)") }
        guard let type = GGMLType(rawValue: info.typeCode) else {
            throw WeightsError(
                file: url.path, "tensor \(name) has ggml type \(info.typeCode), which Fledge cannot read")
        }
        return try data.withUnsafeBytes { raw in try body(raw.baseAddress! + dataStart + info.offset, type) }
    }
}

/// Sequential little-endian reads with errors that name the file and offset.
struct ByteReader {
    let data: Data
    let file: String
    var offset = 0

    func error(_ message: String) -> WeightsError { WeightsError(file: file, "\(message) (at byte \(offset))") }

    mutating func bytes(_ count: Int) throws -> Data {
        guard count >= 0, offset + count <= data.count else {
            throw error("unexpected end of file reading \(count) bytes")
        }
        defer { offset += count }
        return data.subdata(in: offset..<(offset + count))
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= data.count else { throw error("unexpected end of file") }
        defer { offset += size }
        return T(littleEndian: data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) })
    }

    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }

    mutating func string() throws -> String {
        let length = Int(try u64())
        guard length < 1 << 30 else { throw error("string length \(length) is implausible") }
        return String(decoding: try bytes(length), as: UTF8.self)
    }

    mutating func value(type: UInt32) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try load(UInt8.self)))
        case 1: return .int(Int64(try load(Int8.self)))
        case 2: return .uint(UInt64(try load(UInt16.self)))
        case 3: return .int(Int64(try load(Int16.self)))
        case 4: return .uint(UInt64(try u32()))
        case 5: return .int(Int64(try load(Int32.self)))
        case 6: return .float(Double(Float(bitPattern: try u32())))
        case 7: return .bool(try load(UInt8.self) != 0)
        case 8: return .string(try string())
        case 9:
            let itemType = try u32()
            let count = Int(try u64())
            guard count < 1 << 28 else { throw error("array length \(count) is implausible") }
            var items: [GGUFValue] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try value(type: itemType)) }
            return .array(items)
        case 10: return .uint(try u64())
        case 11: return .int(Int64(bitPattern: try u64()))
        case 12: return .float(Double(bitPattern: try u64()))
        default: throw error("unknown metadata value type \(type)")
        }
    }
}
