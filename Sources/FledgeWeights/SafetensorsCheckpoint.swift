import Foundation
import FledgeTensor

/// The weights of a Hugging Face model folder: `model.safetensors`, or shards listed in
/// `model.safetensors.index.json` (`{"weight_map": {tensor: file}}`).
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let directory: URL
    private var files: [String: SafetensorsFile] = [:]
    private let location: [String: String]

    /// Opens the checkpoint in `directory`.
    /// - Throws: ``WeightsError`` when neither file exists, or a shard is missing or invalid.
    public init(directory: URL) throws {
        self.directory = directory
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        let single = directory.appendingPathComponent("model.safetensors")
        var location: [String: String] = [:]
        if FileManager.default.fileExists(atPath: index.path) {
            guard let data = try? Data(contentsOf: index),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let map = object["weight_map"] as? [String: String]
            else {
                throw WeightsError(file: index.path, "no \"weight_map\" object of tensor → file names")
            }
            location = map
        } else if FileManager.default.fileExists(atPath: single.path) {
            let file = try SafetensorsFile(url: single)
            files["model.safetensors"] = file
            for name in file.names { location[name] = "model.safetensors" }
        } else {
            throw WeightsError(
                file: directory.path, "no model.safetensors or model.safetensors.index.json",
                hint: "point at a Hugging Face model folder, or at a .gguf file")
        }
        self.location = location
        for shard in Set(location.values) where files[shard] == nil {
            let file = try SafetensorsFile(url: directory.appendingPathComponent(shard))
            files[shard] = file
        }
        for (name, shard) in location where files[shard]?.entries[name] == nil {
            throw WeightsError(
                file: directory.appendingPathComponent(shard).path,
                "the index lists \(name) here but the shard lacks it")
        }
    }

    /// Every tensor name.
    public var names: [String] { location.keys.sorted() }

    /// The header entry of `name`.
    public func entry(_ name: String) -> SafetensorsFile.Entry? {
        location[name].flatMap { files[$0]?.entries[name] }
    }

    /// The BF16 tensor `name` in its mapped shard, without a copy, and the shard that keeps
    /// it mapped (``SafetensorsFile/mappedBF16(_:)``); nil for another dtype.
    public func mappedBF16(_ name: String) -> (bits: UnsafePointer<UInt16>, owner: SafetensorsFile)? {
        guard let shard = location[name], let file = files[shard], let bits = file.mappedBF16(name) else { return nil }
        return (bits, file)
    }

    /// The tensor `name` as Float32.
    public func tensor(_ name: String) throws -> Tensor {
        guard let shard = location[name], let file = files[shard] else {
            throw WeightsError(file: directory.path, "no tensor named \(name)")
        }
        return try file.tensor(name)
    }
}
