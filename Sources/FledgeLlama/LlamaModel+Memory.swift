import Foundation
import FledgeNN
import FledgeTensor
import FledgeWeights

extension LlamaModel.WeightStorage {
    /// The bytes the weights of the model at `url` take once loaded with this storage, from
    /// the file's tensor list alone (nothing is read or dequantised): Float32 tensors 4 bytes a
    /// value, bf16 layer matrices 2, quantised blocks as ``QuantizedMatrix`` keeps them (Q4_0,
    /// Q4_1, Q4_K as Q4_1: 0.75 bytes a weight; Q8_0 1.125; Q6_K as Q8_16 1.25), kept next to
    /// the Float32 copy by `.float32` storage (for decoding) and instead of it by `.quantized`.
    public func estimatedBytes(of url: URL) throws -> Int {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        guard !isDirectory.boolValue else {
            let checkpoint = try SafetensorsCheckpoint(directory: url)
            return checkpoint.names.reduce(0) { total, name in
                let count = checkpoint.entry(name)?.shape.reduce(1, *) ?? 0
                return total + count * (self == .bfloat16 && Self.isLayerMatrix(name) ? 2 : 4)
            }
        }
        let file = try GGUFFile(url: url)
        let tied = file.info("output.weight") == nil
        var total = 0
        for info in file.tensors {
            let name = TensorNames.huggingFace(fromGGUF: info.name) ?? info.name
            // Float32 storage keeps the embedding's blocks only as a tied head's.
            let keptBlocks = self == .quantized || name != "model.embed_tokens.weight" || tied
            let blocks = keptBlocks ? Self.blockBytes(info, name: name) : nil
            let layerMatrix = Self.isLayerMatrix(name)
            switch self {
            case .float32: total += info.count * 4 + (blocks ?? 0)
            case .bfloat16: total += info.count * (layerMatrix ? 2 : 4)
            case .quantized:
                if let blocks {
                    total += blocks
                } else {
                    total += info.count * 4
                }
            }
        }
        return total
    }

    /// Whether `name` is a decoder layer's matrix (the ones bf16 storage packs).
    static func isLayerMatrix(_ name: String) -> Bool {
        name.hasPrefix("model.layers.") && (name.hasSuffix("proj.weight"))
    }

    /// The bytes of the quantised copy the loader keeps of a GGUF tensor, nil if it keeps none.
    static func blockBytes(_ info: GGUFFile.TensorInfo, name: String) -> Int? {
        guard info.shape.count == 2, info.shape[1] % QuantizedMatrix.blockSize == 0,
            name.hasSuffix("proj.weight") || name == "model.embed_tokens.weight" || name == "lm_head.weight",
            let type = GGMLType(rawValue: info.typeCode)
        else { return nil }
        let blocks = info.count / QuantizedMatrix.blockSize
        switch type {
        case .q4_0, .q4_1, .q4_K: return blocks * 24
        case .q8_0: return blocks * 36
        case .q6_K: return blocks * 40
        default: return nil
        }
    }

    /// The storage a command uses when none is given (`given` nil): the target in Float32 (its
    /// layer matrices in bf16 when the products are bf16), unless that would take more than
    /// half of the machine's memory and the file keeps its matrices as quantised blocks; then
    /// as stored.
    public static func resolve(_ given: Self?, model url: URL, precision: Precision) throws -> Self {
        if let given { return given }
        let preferred: Self = precision == .bf16 ? .bfloat16 : .float32
        guard url.pathExtension.lowercased() == "gguf",
            try preferred.estimatedBytes(of: url) > MachineMemory.total / 2,
            try Self.quantized.estimatedBytes(of: url) < Self.float32.estimatedBytes(of: url) / 3
        else { return preferred }
        return .quantized
    }

    /// How the command line names it.
    public var spelling: String {
        switch self {
        case .float32: "float32"
        case .bfloat16: "bfloat16"
        case .quantized: "stored"
        }
    }
}
