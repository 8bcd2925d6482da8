import Foundation
import FledgeLlama
import FledgeTensor

/// What the draft trainer gets from the target for a batch of samples (docs/design.md §1.3).
///
/// Rows are right-padded to `length`; `lengths[b]` tokens of row b are real.
public struct TargetFeatures {
    public var batch: Int
    public var length: Int
    public var lengths: [Int]
    /// `[batch · length]` token ids (padding 0).
    public var ids: [Int32]
    /// `[batch · length]` loss mask (padding 0).
    public var lossMask: [UInt8]
    /// `[batch · length, 3H]`: the outputs of the three EAGLE-3 layers, low | mid | high.
    public var auxiliary: Tensor
    /// `[batch · length, H]`: the target's final-norm hidden state (its logits are `lm_head` of it).
    public var lastHidden: Tensor
}

/// The only thing the trainer knows about the target: online (the model runs per batch) and
/// offline (cache shards) training differ in which source they construct.
public protocol FeatureSource: AnyObject {
    /// The target hidden size H.
    var hiddenSize: Int { get }
    /// The target layers whose outputs make ``TargetFeatures/auxiliary`` (low | mid | high).
    var layers: [Int] { get }
    /// Features for `samples` (in order), padded to their longest.
    func features(for samples: [TokenizedSample]) throws -> TargetFeatures
}

/// The default EAGLE-3 feature layers (docs/design.md §2.1, §5.1): the outputs of layers
/// (1, N/2 − 1, N − 4), i.e. the inputs of layers (2, N/2, N − 3).
public func eagle3FeatureLayers(layerCount n: Int) -> [Int] { [1, n / 2 - 1, n - 4] }

/// Runs the target for every batch (online training, regeneration checks and the cache writer).
public final class OnlineFeatureSource: FeatureSource {
    public let model: LlamaModel
    public let layers: [Int]
    /// Whether the target's forward buffers are freed after each batch (memory for the
    /// training step in between, at the cost of allocating them again per batch).
    public var releasesBuffers = false
    /// The arithmetic of the target's products (bf16: oneDNN on the packed matrices of a model
    /// loaded with bf16 storage).
    public let precision: Precision

    public init(model: LlamaModel, layers: [Int]? = nil, precision: Precision = .fp32) throws {
        self.model = model
        self.precision = precision
        self.layers = layers ?? eagle3FeatureLayers(layerCount: model.configuration.layerCount)
        guard self.layers.count == 3, self.layers.allSatisfy({ $0 >= 0 && $0 < model.configuration.layerCount }) else {
            throw LlamaError(
                "feature layers \(self.layers) must be three layers of the "
                    + "\(model.configuration.layerCount)-layer target"
            )
        }
    }

    public var hiddenSize: Int { model.configuration.hiddenSize }

    public func features(for samples: [TokenizedSample]) throws -> TargetFeatures {
        let batch = TokenBatch(sequences: samples.map(\.ids))
        // One prefill, its cache thrown away: one key/value buffer serves every layer.
        let cache = model.makeCache(batch: samples.count, capacity: batch.length, sharingLayers: true)
        let result = try model.forward(
            batch, cache: cache,
            options: ForwardOptions(
                captureLayers: layers, finalHidden: true, logits: .none, kernels: .prefill(precision)))
        let h = hiddenSize
        let rows = batch.batch * batch.length
        let auxiliary = result.concatenatedCaptures(layers, rows: rows)
        let last = Tensor(zeros: [rows, h])
        last.pointer.update(from: result.finalHidden!.pointer, count: rows * h)
        var mask = [UInt8](repeating: 0, count: rows)
        for (b, sample) in samples.enumerated() {
            for i in 0..<sample.ids.count { mask[b * batch.length + i] = sample.lossMask[i] }
        }
        if releasesBuffers { model.releaseForwardBuffers() }  // everything returned is a copy
        return TargetFeatures(
            batch: batch.batch, length: batch.length, lengths: batch.validLengths, ids: batch.tokens,
            lossMask: mask, auxiliary: auxiliary, lastHidden: last)
    }
}
