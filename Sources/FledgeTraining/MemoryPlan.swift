import Foundation
import FledgeDraft
import FledgeLlama
import FledgeTensor

/// What a training run will hold in memory, printed before it starts; a run whose plan
/// exceeds the machine's memory is refused with the plan and what would shrink it.
public struct MemoryPlan: Sendable {
    public var targetWeights: Int
    public var targetStorage: LlamaModel.WeightStorage
    /// Trainable parameters, their gradients and both AdamW moments (fp32), and their bf16
    /// copy in bf16 runs.
    public var draft: Int
    /// The trainer's planned activations.
    public var activations: Int
    /// Online: the target's forward over one micro-batch (KV cache, layer buffers, captured
    /// features); offline: the features read from the cache.
    public var features: Int
    public var online: Bool

    public var total: Int { targetWeights + draft + activations + features }

    /// The plan of a run about to start.
    public init(
        target: LlamaModel, storage: LlamaModel.WeightStorage, parameters: Int, precision: Precision,
        activations: Int, maxBatch: Int, maxLength: Int, online: Bool
    ) {
        let c = target.configuration
        targetWeights = target.weightBytes
        targetStorage = storage
        draft = parameters * (16 + (precision == .bf16 ? 2 : 0))
        self.activations = activations
        self.online = online
        let n = maxBatch * maxLength
        let h = c.hiddenSize, q = c.headCount * c.headDimension, kv = c.kvHeadCount * c.headDimension
        // The features handed to the trainer: three captured layers and the final hidden state.
        var bytes = n * 4 * h * 4
        if online {
            bytes += n * kv * 2 * 4  // keys and values (one buffer shared by the layers)
            bytes += n * (2 * h + 2 * q + 2 * kv + 2 * c.intermediateSize) * 4  // layer buffers
            bytes += n * 3 * h * 4  // the captures before they are concatenated
        }
        features = bytes
    }

    /// The plan as printed.
    public var lines: [String] {
        let d = MachineMemory.describe
        return [
            "memory plan: \(d(total)) of \(d(MachineMemory.total)) RAM (\(d(MachineMemory.available)) available)",
            "  target weights   \(d(targetWeights)) (\(targetStorage.spelling))",
            "  draft            \(d(draft)) (parameters, gradients, AdamW moments)",
            "  activations      \(d(activations))",
            "  \(online ? "target forward" : "feature buffers")  \(d(features))",
        ]
    }

    /// What would make a run smaller.
    public func suggestion(maxLength: Int, precision: Precision) -> String {
        var options = ["a shorter --max-length (now \(maxLength))"]
        if precision != .bf16 && BFloat16.support.available { options.append("--precision bf16") }
        if targetStorage != .quantized { options.append("--target-weights stored (a GGUF target's quantised blocks)") }
        if online { options.append("an offline feature cache (fledge cache build, then --cache-path)") }
        options.append("fewer --ttt-steps, a smaller --draft-vocab-size, --batch-size 1")
        return options.joined(separator: ", ")
    }

    /// Throws when the plan does not fit the machine's memory.
    public func check(maxLength: Int, precision: Precision) throws {
        guard total > MachineMemory.total else { return }
        throw TrainingError(
            "the run needs \(MachineMemory.describe(total)), more than this machine's "
                + "\(MachineMemory.describe(MachineMemory.total)) of RAM:\n" + lines.joined(separator: "\n"),
            hint: "try " + suggestion(maxLength: maxLength, precision: precision))
    }
}
