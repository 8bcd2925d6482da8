import Foundation
import FledgeTensor

/// Writes small GGUF v3 files for tests (layout in docs/formats.md): metadata key/values, tensor
/// infos with dimensions innermost first, padding to the alignment, then the tensor bytes.
public struct GGUFWriter {
    /// A metadata value and its GGUF type.
    public enum Value {
        case u32(UInt32)
        case i32(Int32)
        case u64(UInt64)
        case f32(Float)
        case bool(Bool)
        case string(String)
        case strings([String])
        case i32s([Int32])
        case f32s([Float])
    }

    /// A tensor: its name, PyTorch-order shape, ggml type code and stored bytes.
    public struct Tensor {
        public var name: String
        public var shape: [Int]
        public var type: UInt32
        public var bytes: Data

        public init(name: String, shape: [Int], type: UInt32, bytes: Data) {
            self.name = name
            self.shape = shape
            self.type = type
            self.bytes = bytes
        }

        /// An F32 tensor of `values`.
        public init(name: String, shape: [Int], f32 values: [Float]) {
            self.init(name: name, shape: shape, type: 0, bytes: values.withUnsafeBytes { Data($0) })
        }

        /// A Q8_0 tensor (blocks of 32 values: an f16 scale and 32 int8), rounded from `values`.
        public init(name: String, shape: [Int], q8_0 values: [Float]) {
            var bytes = Data()
            for start in stride(from: 0, to: values.count, by: 32) {
                let block = values[start..<min(start + 32, values.count)]
                let scale = max(block.map(abs).max() ?? 0, 1e-8) / 127
                var half = HalfPrecision.f16Bits(scale).littleEndian
                bytes.append(Data(bytes: &half, count: 2))
                for value in block { bytes.append(UInt8(bitPattern: Int8((value / scale).rounded()))) }
            }
            self.init(name: name, shape: shape, type: 8, bytes: bytes)
        }

        /// An F16 tensor of `values`.
        public init(name: String, shape: [Int], f16 values: [Float]) {
            let halves = values.map { HalfPrecision.f16Bits($0).littleEndian }
            self.init(name: name, shape: shape, type: 1, bytes: halves.withUnsafeBytes { Data($0) })
        }
    }

    public var metadata: [(String, Value)] = []
    public var tensors: [Tensor] = []
    public var alignment = 32

    public init() {}

    /// The file's bytes.
    public func data() -> Data {
        var out = Data("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) {
            u64(UInt64(s.utf8.count))
            out.append(contentsOf: Array(s.utf8))
        }
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, value) in metadata {
            string(key)
            switch value {
            case .u32(let v): u32(4); u32(v)
            case .i32(let v): u32(5); u32(UInt32(bitPattern: v))
            case .u64(let v): u32(10); u64(v)
            case .f32(let v): u32(6); u32(v.bitPattern)
            case .bool(let v): u32(7); out.append(v ? 1 : 0)
            case .string(let v): u32(8); string(v)
            case .strings(let v): u32(9); u32(8); u64(UInt64(v.count)); v.forEach(string)
            case .i32s(let v): u32(9); u32(5); u64(UInt64(v.count)); v.forEach { u32(UInt32(bitPattern: $0)) }
            case .f32s(let v): u32(9); u32(6); u64(UInt64(v.count)); v.forEach { u32($0.bitPattern) }
            }
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset += (tensor.bytes.count + alignment - 1) / alignment * alignment
        }
        for (tensor, offset) in zip(tensors, offsets) {
            string(tensor.name)
            u32(UInt32(tensor.shape.count))
            for dimension in tensor.shape.reversed() { u64(UInt64(dimension)) }
            u32(tensor.type)
            u64(UInt64(offset))
        }
        out.append(Data(count: (alignment - out.count % alignment) % alignment))
        for tensor in tensors {
            out.append(tensor.bytes)
            out.append(Data(count: (alignment - tensor.bytes.count % alignment) % alignment))
        }
        return out
    }
}
