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

extension GGUFValue: CustomStringConvertible {
    /// The value as an error message shows it (unsigned values as unsigned).
    public var description: String {
        switch self {
        case .uint(let v): "\(v)"
        case .int(let v): "\(v)"
        case .float(let v): "\(v)"
        case .bool(let v): "\(v)"
        case .string(let v): "\"\(v.prefix(80))\"" + (v.count > 80 ? "…" : "")
        case .array(let v): "an array of \(v.count) values"
        }
    }
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

    /// Opens and parses `url`. Every count, size and offset read from the file is checked
    /// against the file's size (with overflow-checked arithmetic) before anything is allocated.
    /// - Throws: ``WeightsError`` naming the file, the field and the byte offset where parsing failed.
    public init(url: URL) throws {
        self.url = url
        data = try readWeightsFile(url)
        var reader = ByteReader(data: data, file: url.path)
        guard try reader.bytes(4) == Data("GGUF".utf8) else {
            throw WeightsError(file: url.path, "not a GGUF file (the magic is not \"GGUF\")")
        }
        version = try reader.u32()
        guard version == 2 || version == 3 else {
            throw WeightsError(file: url.path, "GGUF version \(version) is not supported", hint: "versions 2 and 3 are")
        }
        // A tensor info takes at least 24 bytes (name length, dimension count, type, offset);
        // a key/value pair at least 13 (key length, value type, one byte of value).
        let tensorCount = try reader.count("tensor count", minimumBytesEach: 24)
        let metadataCount = try reader.count("metadata key/value count", minimumBytesEach: 13)
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<metadataCount {
            let key = try reader.string()
            let type = try reader.u32()
            metadata[key] = try reader.value(type: type, field: key)
            keys.append(key)
        }
        var tensors: [TensorInfo] = []
        var index: [String: Int] = [:]
        for _ in 0..<tensorCount {
            let name = try reader.string()
            let dimensionCount = try reader.u32()
            guard dimensionCount <= 4 else {
                throw reader.error("tensor \(printable(name)) has \(dimensionCount) dimensions (GGUF allows at most 4)")
            }
            var dimensions: [Int] = []
            var count = 1
            for axis in 0..<Int(dimensionCount) {
                let value = try reader.u64()
                guard let dimension = Int(exactly: value), dimension <= reader.data.count else {
                    throw reader.error(
                        "tensor \(printable(name)): dimension \(axis) is \(value), more values than the file has bytes")
                }
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow else {
                    throw reader.error(
                        "tensor \(printable(name)): the dimensions \(dimensions + [dimension]) overflow a count")
                }
                dimensions.append(dimension)
                count = product
            }
            let type = try reader.u32()
            let offsetValue = try reader.u64()
            guard let offset = Int(exactly: offsetValue) else {
                throw reader.error("tensor \(printable(name)): data offset \(offsetValue) lies outside the file")
            }
            guard index[name] == nil else { throw reader.error("tensor \(printable(name)) is listed twice") }
            index[name] = tensors.count
            tensors.append(TensorInfo(name: name, dimensions: dimensions, typeCode: type, offset: offset))
        }
        let alignment = try Self.alignment(metadata, file: url.path)
        // The data starts at the end of the header rounded up to the alignment.
        let (padded, overflow) = reader.offset.addingReportingOverflow(alignment - 1)
        guard !overflow, padded / alignment * alignment <= data.count || tensors.isEmpty else {
            throw WeightsError(
                file: url.path,
                "the tensor data would start past the end of the file (\(data.count) bytes): the header ends "
                    + "at byte \(reader.offset), rounded up to general.alignment \(alignment)",
                hint: "the file is truncated, or general.alignment is wrong")
        }
        dataStart = overflow ? data.count : min(padded / alignment * alignment, data.count)
        self.metadata = metadata
        self.metadataKeys = keys
        self.tensors = tensors
        self.tensorIndex = index
        for tensor in tensors {
            guard let type = GGMLType(rawValue: tensor.typeCode) else { continue }
            let count = tensor.count
            let block = type.block
            guard (tensor.dimensions.first ?? 1) % block.elements == 0 else {
                throw WeightsError(
                    file: url.path,
                    "tensor \(printable(tensor.name)): rows of \(tensor.dimensions[0]) values are not whole "
                        + "\(type) blocks of \(block.elements) values")
            }
            let (bytes, sizeOverflow) = (count / block.elements).multipliedReportingOverflow(by: block.bytes)
            let (begin, beginOverflow) = dataStart.addingReportingOverflow(tensor.offset)
            let (end, endOverflow) = begin.addingReportingOverflow(bytes)
            guard !sizeOverflow, !beginOverflow, !endOverflow else {
                throw WeightsError(
                    file: url.path,
                    "tensor \(printable(tensor.name)): \(count) values of \(type) at data offset \(tensor.offset) "
                        + "overflow the byte range of a file (this one has \(data.count) bytes)")
            }
            guard end <= data.count else {
                // A tensor that starts inside the file and runs past its end: the file was cut.
                // One that starts past the end: more likely a corrupt offset.
                throw WeightsError(
                    file: url.path,
                    "tensor \(printable(tensor.name)) (\(bytes) bytes at data offset \(tensor.offset)) ends at byte "
                        + "\(end), past the end of the file (\(data.count) bytes)",
                    hint: begin <= data.count ? "the file is truncated" : "a corrupt tensor offset, or a truncated file"
                )
            }
        }
    }

    /// `general.alignment` (default 32): a positive power of two.
    static func alignment(_ metadata: [String: GGUFValue], file: String) throws -> Int {
        guard let value = metadata["general.alignment"] else { return 32 }
        let text: String
        switch value {
        case .uint(let v):
            if v > 0, v.nonzeroBitCount == 1, let alignment = Int(exactly: v) { return alignment }
            text = "\(v)"
        case .int(let v):
            if v > 0, v.nonzeroBitCount == 1 { return Int(v) }
            text = "\(v)"
        default:
            text = "\(value)"
        }
        throw WeightsError(
            file: file, "general.alignment is \(text), not a power of two",
            hint: "GGUF files align their tensor data to a power of two (32 by default)")
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
                file: url.path,
                "tensor \(printable(name)) has ggml type \(info.typeCode), which Fledge cannot dequantise",
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
                file: url.path, "tensor \(printable(name)) has ggml type \(info.typeCode), which Fledge cannot read")
        }
        return try data.withUnsafeBytes { raw in try body(raw.baseAddress! + dataStart + info.offset, type) }
    }
}

/// `text` for an error message: control characters and undecodable bytes escaped, at most 80
/// characters, in quotes when empty or when something was escaped.
public func printable(_ text: String) -> String {
    var out = ""
    var escaped = text.isEmpty
    for scalar in text.unicodeScalars.prefix(80) {
        if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\u{FFFD}" || (0x80..<0xA0).contains(scalar.value) {
            out += "\\u{\(String(scalar.value, radix: 16))}"
            escaped = true
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    if text.unicodeScalars.count > 80 { out += "…" }
    return escaped ? "\"\(out)\"" : out
}

/// Reads a weights file memory-mapped; a folder or an unreadable file is an error naming it.
func readWeightsFile(_ url: URL) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
        throw WeightsError(file: url.path, "no such file")
    }
    guard !isDirectory.boolValue else {
        throw WeightsError(file: url.path, "is a folder, not a file", hint: "point at the weights file itself")
    }
    do {
        return try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
        var reason = error.localizedDescription
        if let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError,
            underlying.domain == NSPOSIXErrorDomain
        {
            reason = String(cString: strerror(Int32(underlying.code)))
        }
        throw WeightsError(file: url.path, "cannot read: \(reason)")
    }
}

/// Sequential little-endian reads with errors that name the file and offset. Lengths and
/// counts are checked against the bytes left before anything is allocated.
struct ByteReader {
    let data: Data
    let file: String
    var offset = 0
    /// Nesting depth of metadata arrays being read.
    var depth = 0

    var remaining: Int { data.count - offset }

    func error(_ message: String) -> WeightsError { WeightsError(file: file, "\(message) (at byte \(offset))") }

    mutating func bytes(_ count: Int) throws -> Data {
        guard count >= 0, count <= remaining else {
            throw error("unexpected end of file reading \(count) bytes (\(remaining) left)")
        }
        defer { offset += count }
        return data.subdata(in: offset..<(offset + count))
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw error("unexpected end of file reading \(size) bytes") }
        defer { offset += size }
        return T(littleEndian: data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) })
    }

    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }

    /// A u64 count of items taking at least `minimumBytesEach` bytes each, which must fit in
    /// the bytes left.
    mutating func count(_ field: String, minimumBytesEach: Int) throws -> Int {
        let value = try u64()
        guard value <= UInt64(remaining / minimumBytesEach) else {
            throw error(
                "\(field) \(value) cannot fit in the \(remaining) bytes left "
                    + "(each takes at least \(minimumBytesEach) bytes)")
        }
        return Int(value)
    }

    mutating func string() throws -> String {
        let length = try u64()
        guard length <= UInt64(remaining) else {
            throw error("string length \(length) exceeds the \(remaining) bytes left")
        }
        return String(decoding: try bytes(Int(length)), as: UTF8.self)
    }

    /// The smallest encoding of one value of `type` (unknown types are rejected when read).
    static func minimumSize(type: UInt32) -> Int {
        switch type {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        case 8: 8
        case 9: 12
        default: 8
        }
    }

    mutating func value(type: UInt32, field: String) throws -> GGUFValue {
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
            guard depth < 4 else { throw error("metadata \(printable(field)): arrays nested more than 4 deep") }
            let itemType = try u32()
            let count = try self.count(
                "metadata \(printable(field)): array length", minimumBytesEach: Self.minimumSize(type: itemType))
            var items: [GGUFValue] = []
            items.reserveCapacity(count)
            depth += 1
            defer { depth -= 1 }
            for _ in 0..<count { items.append(try value(type: itemType, field: field)) }
            return .array(items)
        case 10: return .uint(try u64())
        case 11: return .int(Int64(bitPattern: try u64()))
        case 12: return .float(Double(bitPattern: try u64()))
        default: throw error("metadata \(printable(field)): unknown value type \(type)")
        }
    }
}
