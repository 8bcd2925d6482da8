import ArgumentParser
import Foundation
import FledgeLlama
import FledgeTensor

/// `--target-weights float32|bfloat16|stored`: how a command holds the target's weights.
struct TargetWeightsOption: ParsableArguments {
    @Option(
        name: .customLong("target-weights"),
        help: ArgumentHelp(
            "The target's weights as float32, bfloat16 or stored (a GGUF's quantised blocks, integer products; no "
                + "Float32 copy). Default: float32 (bfloat16 with bf16 products) unless that takes more than half "
                + "of the RAM."))
    var targetWeights: String?

    func validate() throws {
        if let targetWeights, LlamaModel.WeightStorage(spelling: targetWeights) == nil {
            throw ValidationError("--target-weights \(targetWeights): expected float32, bfloat16 or stored")
        }
    }

    /// The storage named, nil when none is (the run chooses).
    var storage: LlamaModel.WeightStorage? { targetWeights.flatMap(LlamaModel.WeightStorage.init(spelling:)) }

    /// The storage for the target at `url` under `precision`.
    func resolved(model url: URL, precision: Precision) throws -> LlamaModel.WeightStorage {
        try LlamaModel.WeightStorage.resolve(storage, model: url, precision: precision)
    }
}
