import Foundation
import FledgeTensor

/// A safetensors file, memory-mapped: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}` and the data.
///
/// The header is validated on open: known dtypes, offsets inside the file, sizes that
/// match the shapes, no overlapping tensors. See docs/formats.md.
public final class SafetensorsFile: @unchecked Sendable {
    /// One tensor's header entry.
    public struct Entry: Sendable, Equatable {
        public var dtype: DType
        public var shape: [Int]
        public var begin: Int
        public var end: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public let url: URL
    /// Tensor entries by name.
    public let entries: [String: Entry]
    /// The `__metadata__` strings.
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    /// Opens and validates `url`: the header length, every shape and offset are checked against
    /// the file's size with overflow-checked arithmetic before anything is allocated.
    /// - Throws: ``WeightsError`` naming the file and the field that is wrong.
    public init(url: URL) throws {
        self.url = url
        let name = url.path
        data = try readWeightsFile(url)
        guard data.count >= 8 else {
            throw WeightsError(
                file: name, "the file has \(data.count) bytes, fewer than the 8-byte header length",
                hint: "the file is truncated or not a safetensors file")
        }
        let length = data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard length > 0, length <= UInt64(data.count - 8), length < 100_000_000 else {
            throw WeightsError(
                file: name, "header length \(length) does not fit a file of \(data.count) bytes",
                hint: length > UInt64(data.count - 8) && length < 100_000_000
                    ? "the file is truncated or not a safetensors file" : "this is not a safetensors file")
        }
        dataStart = 8 + Int(length)
        let header = data.subdata(in: 8..<dataStart)
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: header) as? [String: Any] else {
                throw WeightsError(file: name, "the header is not a JSON object")
            }
            object = parsed
        } catch let error as WeightsError {
            throw error
        } catch {
            throw WeightsError(file: name, "the header is not valid JSON (\(error.localizedDescription))")
        }
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (key, value) in object {
            if key == "__metadata__" {
                for (metaKey, metaValue) in value as? [String: Any] ?? [:] { metadata[metaKey] = "\(metaValue)" }
                continue
            }
            entries[key] = try Self.parseEntry(key, value, file: name, dataLength: data.count - dataStart)
        }
        let sorted = entries.sorted { $0.value.begin < $1.value.begin }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.value.end > next.value.begin {
            throw WeightsError(file: name, "tensors \(previous.key) and \(next.key) overlap")
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// A JSON number that is an integer within Int's range (not 1.5, 1e400 or 2^64).
    private static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        return Int(number.stringValue)
    }

    private static func parseEntry(_ key: String, _ value: Any, file: String, dataLength: Int) throws -> Entry {
        guard let fields = value as? [String: Any] else {
            throw WeightsError(file: file, "tensor \(key): entry is not an object")
        }
        guard let typeName = fields["dtype"] as? String else {
            throw WeightsError(file: file, "tensor \(key): missing dtype")
        }
        guard let dtype = DType(rawValue: typeName) else {
            throw WeightsError(
                file: file, "tensor \(key): unsupported dtype \(typeName)",
                hint: "supported: \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let shapeValues = fields["shape"] as? [Any]
        guard let shapeValues, let shape = Optional(shapeValues.compactMap(integer)), shape.count == shapeValues.count,
            shape.allSatisfy({ $0 >= 0 })
        else {
            throw WeightsError(
                file: file,
                "tensor \(key): shape \(fields["shape"].map { "\($0)" } ?? "(missing)") "
                    + "is not a list of non-negative integers")
        }
        let offsetValues = fields["data_offsets"] as? [Any]
        guard let offsetValues, let offsets = Optional(offsetValues.compactMap(integer)), offsets.count == 2,
            offsetValues.count == 2
        else {
            throw WeightsError(file: file, "tensor \(key): data_offsets must be two integers")
        }
        let entry = Entry(dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
        guard entry.begin >= 0, entry.end >= entry.begin else {
            throw WeightsError(file: file, "tensor \(key): data_offsets \(offsets) are not a byte range")
        }
        guard entry.end <= dataLength else {
            throw WeightsError(
                file: file, "tensor \(key): data_offsets \(offsets) lie outside the \(dataLength) data bytes",
                hint: "the file is truncated")
        }
        var bytes = dtype.size
        for dimension in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= dataLength else {
                throw WeightsError(
                    file: file,
                    "tensor \(key): shape \(shape) of \(typeName) needs more bytes than the file's \(dataLength)")
            }
            bytes = product
        }
        guard entry.end - entry.begin == bytes else {
            throw WeightsError(
                file: file,
                "tensor \(key): \(entry.end - entry.begin) bytes for shape \(shape) of \(typeName) "
                    + "(which takes \(bytes))")
        }
        return entry
    }

    /// Tensor names in file order.
    public var names: [String] { entries.sorted { $0.value.begin < $1.value.begin }.map(\.key) }

    /// Calls `body` with the raw bytes of `name`.
    public func withRawBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let entry = entries[name] else { throw WeightsError(file: url.path, "no tensor named \(name)") }
        return try data.withUnsafeBytes { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[(dataStart + entry.begin)..<(dataStart + entry.end)]))
        }
    }

    /// The tensor `name` converted to Float32 (from F32, F16, BF16 or an integer type).
    public func tensor(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else { throw WeightsError(file: url.path, "no tensor named \(name)") }
        let tensor = Tensor(zeros: Shape(entry.shape))
        try withRawBytes(name) { raw in
            if let base = raw.baseAddress {
                DTypeConversion.toFloat(base, type: entry.dtype, count: entry.count, into: tensor.pointer)
            }
        }
        return tensor
    }

    /// The integer tensor `name` (I64, I32, U8 or BOOL) as Int64 values.
    public func integers(_ name: String) throws -> [Int64] {
        guard let entry = entries[name] else { throw WeightsError(file: url.path, "no tensor named \(name)") }
        return try withRawBytes(name) { raw in
            switch entry.dtype {
            case .i64: return (0..<entry.count).map { raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self) }
            case .i32: return (0..<entry.count).map { Int64(raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
            case .u8, .bool: return (0..<entry.count).map { Int64(raw[$0]) }
            default:
                throw WeightsError(file: url.path, "tensor \(name) is \(entry.dtype.rawValue), not an integer type")
            }
        }
    }
}

/// Writes safetensors files atomically (a temporary name, then a rename).
public struct SafetensorsWriter {
    /// One tensor to write: its name, element type, shape and little-endian bytes.
    public struct Item {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var bytes: Data

        public init(name: String, dtype: DType, shape: [Int], bytes: Data) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// A Float tensor stored as `dtype` (F32, F16 or BF16, rounded to nearest even).
        public init(name: String, tensor: Tensor, as dtype: DType = .f32) {
            precondition(dtype.isFloatingPoint, "\(dtype) is not a floating-point storage type")
            var bytes = Data(count: tensor.count * dtype.size)
            bytes.withUnsafeMutableBytes { raw in
                switch dtype {
                case .f32:
                    raw.baseAddress!.copyMemory(from: tensor.pointer, byteCount: tensor.count * 4)
                case .bf16:
                    HalfPrecision.toBF16(
                        tensor.pointer, raw.baseAddress!.assumingMemoryBound(to: UInt16.self), count: tensor.count)
                default:
                    HalfPrecision.toF16(
                        tensor.pointer, raw.baseAddress!.assumingMemoryBound(to: UInt16.self), count: tensor.count)
                }
            }
            self.init(name: name, dtype: dtype, shape: tensor.shape.dims, bytes: bytes)
        }

        /// An I64 tensor.
        public init(name: String, int64: [Int64], shape: [Int]? = nil) {
            let bytes = int64.withUnsafeBytes { Data($0) }
            self.init(name: name, dtype: .i64, shape: shape ?? [int64.count], bytes: bytes)
        }

        /// A BOOL tensor.
        public init(name: String, bools: [Bool], shape: [Int]? = nil) {
            self.init(name: name, dtype: .bool, shape: shape ?? [bools.count], bytes: Data(bools.map { $0 ? 1 : 0 }))
        }
    }

    public init() {}

    /// Writes `items` (in this order) with optional string metadata to `url`.
    public func write(_ items: [Item], metadata: [String: String] = [:], to url: URL) throws {
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let meta = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
                .joined(separator: ",")
            parts.append("\"__metadata__\":{\(meta)}")
        }
        var offset = 0
        for item in items {
            precondition(
                item.bytes.count == item.shape.reduce(1, *) * item.dtype.size,
                "\(item.name): byte count does not match its shape")
            let shape = item.shape.map(String.init).joined(separator: ",")
            parts.append(
                "\(jsonString(item.name)):{\"dtype\":\"\(item.dtype.rawValue)\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(offset),\(offset + item.bytes.count)]}"
            )
            offset += item.bytes.count
        }
        header += parts.joined(separator: ",") + "}"
        // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
        while (header.utf8.count % 8) != 0 { header += " " }
        var output = Data()
        var length = UInt64(header.utf8.count).littleEndian
        output.append(Data(bytes: &length, count: 8))
        output.append(Data(header.utf8))
        for item in items { output.append(item.bytes) }
        try AtomicFile.write(output, to: url)
    }

    private func jsonString(_ value: String) -> String {
        let data = try? JSONSerialization.data(withJSONObject: [value], options: [.withoutEscapingSlashes])
        let text = data.map { String(decoding: $0, as: UTF8.self) } ?? "[\"\"]"
        return String(text.dropFirst().dropLast())
    }
}
