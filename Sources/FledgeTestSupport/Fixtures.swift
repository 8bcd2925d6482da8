import Foundation
import FledgeTensor

/// Golden tensors written by a `Scripts/reference` script: a `manifest.json` naming raw
/// little-endian `.bin` files.
public struct FixtureSet {
    private struct Entry: Decodable {
        var shape: [Int]
        var dtype: String
        var file: String
    }

    private struct Manifest: Decodable {
        var format: String
        var version: Int
        var tensors: [String: Entry]
    }

    public let directory: URL
    private let manifest: Manifest
    /// The raw `meta` object of the manifest.
    public let meta: [String: Any]

    /// Loads the manifest in `directory`; throws if it is missing or malformed.
    public init(directory: URL) throws {
        self.directory = directory
        let data = try Data(contentsOf: directory.appendingPathComponent("manifest.json"))
        manifest = try JSONDecoder().decode(Manifest.self, from: data)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        meta = object?["meta"] as? [String: Any] ?? [:]
    }

    /// The names of all tensors.
    public var names: [String] { manifest.tensors.keys.sorted() }

    /// The float tensor called `name`.
    public func tensor(_ name: String) throws -> Tensor {
        let (entry, data) = try load(name, dtype: "f32")
        let tensor = Tensor(zeros: Shape(entry.shape))
        data.withUnsafeBytes { raw in
            for i in 0..<tensor.count {
                tensor[i] = Float(
                    bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
        }
        return tensor
    }

    /// The integer tensor called `name`.
    public func integers(_ name: String) throws -> [Int32] {
        let (entry, data) = try load(name, dtype: "i32")
        let count = entry.shape.reduce(1, *)
        return data.withUnsafeBytes { raw in
            (0..<count).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        }
    }

    /// The shape of the tensor called `name`.
    public func shape(_ name: String) throws -> [Int] {
        guard let entry = manifest.tensors[name] else { throw FixtureError("no tensor \(name) in \(directory.path)") }
        return entry.shape
    }

    private func load(_ name: String, dtype: String) throws -> (Entry, Data) {
        guard let entry = manifest.tensors[name] else { throw FixtureError("no tensor \(name) in \(directory.path)") }
        guard entry.dtype == dtype else { throw FixtureError("\(name) is \(entry.dtype), not \(dtype)") }
        let data = try Data(contentsOf: directory.appendingPathComponent(entry.file))
        let count = entry.shape.reduce(1, *)
        guard data.count == 4 * count else {
            throw FixtureError(
                "\(entry.file) holds \(data.count) bytes, expected \(4 * count) for shape \(entry.shape)")
        }
        return (entry, data)
    }
}

/// A fixture that cannot be read.
public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
