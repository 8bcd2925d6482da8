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

    /// The BF16 tensor `name` where it lies in the mapped file, without a copy; nil for another
    /// dtype or an odd offset. Valid while this file is alive: `data` maps the file read-only
    /// and is never mutated, so its bytes never move.
    public func mappedBF16(_ name: String) -> UnsafePointer<UInt16>? {
        guard let entry = entries[name], entry.dtype == .bf16, entry.count > 0 else { return nil }
        return data.withUnsafeBytes { raw -> UnsafePointer<UInt16>? in
            guard let base = raw.baseAddress else { return nil }
            let start = base + dataStart + entry.begin
            guard Int(bitPattern: start) % 2 == 0 else { return nil }
            return start.assumingMemoryBound(to: UInt16.self)
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
    /// One tensor to write: its name, element type, shape and where its values come from.
    /// Float values are encoded in pieces while the file is written, so a writer never holds
    /// a second copy of a large tensor.
    public struct Item {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        let payload: Payload

        enum Payload {
            case bytes(Data)
            /// A Float tensor's values, encoded piece by piece when written.
            case floats(Tensor)
            /// `rows` rows of `width` Float values each, filled into the scratch on demand.
            case rows(count: Int, width: Int, fill: (Int, UnsafeMutablePointer<Float>) -> Void)
        }

        public init(name: String, dtype: DType, shape: [Int], bytes: Data) {
            (self.name, self.dtype, self.shape, payload) = (name, dtype, shape, .bytes(bytes))
        }

        /// A Float tensor stored as `dtype` (F32, F16 or BF16, rounded to nearest even); its
        /// values are read when the file is written.
        public init(name: String, tensor: Tensor, as dtype: DType = .f32) {
            precondition(dtype.isFloatingPoint, "\(dtype) is not a floating-point storage type")
            (self.name, self.dtype, self.shape, payload) = (name, dtype, tensor.shape.dims, .floats(tensor))
        }

        /// A Float matrix `[rows, width]` (or `shape`) whose rows `fill(row, into)` produces
        /// when the file is written (e.g. dequantised embedding rows), stored as `dtype`.
        public init(
            name: String, shape: [Int], rows: Int, width: Int, as dtype: DType = .f32,
            fill: @escaping (Int, UnsafeMutablePointer<Float>) -> Void
        ) {
            precondition(dtype.isFloatingPoint, "\(dtype) is not a floating-point storage type")
            precondition(rows * width == shape.reduce(1, *), "\(name): rows × width does not match the shape")
            (self.name, self.dtype, self.shape) = (name, dtype, shape)
            payload = .rows(count: rows, width: width, fill: fill)
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

        /// The bytes it takes in the file.
        var byteCount: Int {
            switch payload {
            case .bytes(let data): data.count
            case .floats(let tensor): tensor.count * dtype.size
            case .rows(let count, let width, _): count * width * dtype.size
            }
        }

        /// Writes the bytes to `handle`, at most about `chunk` bytes at a time.
        func write(to handle: FileHandle, chunk: Int = 8 << 20) throws {
            switch payload {
            case .bytes(let data):
                try handle.write(contentsOf: data)
            case .floats(let tensor):
                // F32 straight from the tensor's memory; F16/BF16 through one piece of scratch.
                let step = max(1, chunk / 4)
                var encoded = dtype == .f32 ? Data() : Data(count: min(step, tensor.count) * dtype.size)
                var start = 0
                while start < tensor.count {
                    let values = min(step, tensor.count - start), source = tensor.pointer + start
                    if dtype == .f32 {
                        try handle.write(
                            contentsOf: Data(bytesNoCopy: source, count: values * 4, deallocator: .none))
                    } else {
                        Self.encode(source, count: values, as: dtype, into: &encoded)
                        try handle.write(contentsOf: encoded.prefix(values * dtype.size))
                    }
                    start += values
                }
            case .rows(let count, let width, let fill):
                let rowsPerChunk = max(1, chunk / max(1, width * 4))
                let floats = Tensor(zeros: [min(rowsPerChunk, max(count, 1)) * width])
                var encoded = Data(count: floats.count * dtype.size)
                var row = 0
                while row < count {
                    let rows = min(rowsPerChunk, count - row)
                    for r in 0..<rows { fill(row + r, floats.pointer + r * width) }
                    let values = rows * width
                    Self.encode(floats.pointer, count: values, as: dtype, into: &encoded)
                    try handle.write(contentsOf: encoded.prefix(values * dtype.size))
                    row += rows
                }
            }
        }

        /// `count` floats encoded as `dtype` at the start of `encoded` (large enough).
        static func encode(_ source: UnsafePointer<Float>, count: Int, as dtype: DType, into encoded: inout Data) {
            encoded.withUnsafeMutableBytes { raw in
                let out = raw.baseAddress!
                switch dtype {
                case .f32: out.copyMemory(from: source, byteCount: count * 4)
                case .bf16: HalfPrecision.toBF16(source, out.assumingMemoryBound(to: UInt16.self), count: count)
                default: HalfPrecision.toF16(source, out.assumingMemoryBound(to: UInt16.self), count: count)
                }
            }
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
                item.byteCount == item.shape.reduce(1, *) * item.dtype.size,
                "\(item.name): byte count does not match its shape")
            let shape = item.shape.map(String.init).joined(separator: ",")
            parts.append(
                "\(jsonString(item.name)):{\"dtype\":\"\(item.dtype.rawValue)\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(offset),\(offset + item.byteCount)]}"
            )
            offset += item.byteCount
        }
        header += parts.joined(separator: ",") + "}"
        // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
        while (header.utf8.count % 8) != 0 { header += " " }
        var length = UInt64(header.utf8.count).littleEndian
        let prefix = Data(bytes: &length, count: 8) + Data(header.utf8)
        try AtomicFile.write(to: url) { handle in
            try handle.write(contentsOf: prefix)
            for item in items { try item.write(to: handle) }
        }
    }

    private func jsonString(_ value: String) -> String {
        let data = try? JSONSerialization.data(withJSONObject: [value], options: [.withoutEscapingSlashes])
        let text = data.map { String(decoding: $0, as: UTF8.self) } ?? "[\"\"]"
        return String(text.dropFirst().dropLast())
    }
}
