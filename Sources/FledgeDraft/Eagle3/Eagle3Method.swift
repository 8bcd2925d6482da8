import Foundation
import FledgeData
import FledgeLlama
import FledgeNN
import FledgeTensor
import FledgeWeights

/// EAGLE-3's registry entry (docs/design.md §1.4, §2): a draft over the fused outputs of three
/// target layers, a draft vocabulary, training-time test.
public struct Eagle3Method: DraftMethod {
    public init() {}

    public var name: String { "eagle3" }
    public var title: String { "EAGLE-3" }
    public var settingKeys: [String] {
        ["draft_vocab_size", "d2t_path", "t2d_path", "init_head_from_target", "num_layers"]
    }
    public var exportFormats: [String] { Eagle3Export.Format.allCases.map(\.rawValue) }

    /// The default captured layers of an L-layer target: the outputs of `[1, L/2 − 1, L − 4]`.
    public static func defaultFeatureLayers(targetLayerCount l: Int) -> [Int] { eagle3FeatureLayers(layerCount: l) }

    public func validate(_ settings: DraftSettings) throws {
        if let size = settings.draftVocabSize, size < 1 {
            throw DraftError("draft_vocab_size: must be positive (got \(size))")
        }
        if let layers = settings.layerCount, !(1...Eagle3Configuration.maxLayerCount).contains(layers) {
            throw DraftError(
                "num_layers: must be between 1 and \(Eagle3Configuration.maxLayerCount) (got \(layers))")
        }
        if (settings.d2tPath == nil) != (settings.t2dPath == nil), settings.d2tPath?.hasSuffix(".safetensors") != true {
            // A path that does not exist says so (the files themselves are checked when the run
            // starts: a recipe parses its stages before earlier ones have written them).
            for (path, key) in [(settings.d2tPath, "d2t_path"), (settings.t2dPath, "t2d_path")] {
                if let path, !FileManager.default.fileExists(atPath: path) {
                    throw DraftError("\(key): \(path) does not exist", hint: "fledge vocab writes vocab.safetensors")
                }
            }
            throw DraftError(
                settings.d2tPath == nil
                    ? "t2d_path: given without d2t_path" : "d2t_path: a .npy d2t needs its t2d file too (t2d_path)",
                hint: "give both d2t and t2d, or one vocab.safetensors")
        }
    }

    public func makeTraining(_ request: DraftTrainingRequest) throws -> any DraftAlgorithm {
        let s = request.settings
        let target = request.target
        let vocabularySize = target.configuration.vocabularySize
        let vocabulary: DraftVocabulary
        if let d2t = s.d2tPath {
            vocabulary = try DraftVocabulary.load(
                d2t: URL(fileURLWithPath: d2t), t2d: s.t2dPath.map { URL(fileURLWithPath: $0) },
                targetSize: vocabularySize)
            if let size = s.draftVocabSize, size != vocabulary.draftSize {
                throw DraftError(
                    "draft_vocab_size: \(size), but \(d2t) holds a draft vocabulary of \(vocabulary.draftSize) tokens",
                    hint: "leave draft_vocab_size out (the d2t file sets it) or make them agree")
            }
        } else {
            let size = min(s.draftVocabSize ?? Eagle3Method.defaultDraftVocabularySize, vocabularySize)
            vocabulary = try DraftVocabulary.build(counts: request.tokenCounts(), draftSize: size)
        }
        var configuration = Eagle3Configuration(target: target.configuration, draftVocabularySize: vocabulary.draftSize)
        let defaults = Self.defaultFeatureLayers(targetLayerCount: target.configuration.layerCount)
        configuration.featureLayers = request.featureLayers == defaults ? nil : request.featureLayers
        configuration.layerCount = s.layerCount ?? 1
        let draft = Eagle3Draft(
            configuration: configuration, table: target.embeddingTable, d2t: vocabulary.d2t, t2d: vocabulary.t2d)
        draft.initialize(seed: s.seed)
        if s.initHeadFromTarget {
            if let blocks = target.headBlocks {
                draft.initializeHead(fromBlocks: blocks)
            } else {
                draft.initializeHead(fromTarget: target.head)
            }
        }
        return Eagle3Algorithm(
            draft: draft, targetHead: target.head, targetHeadBlocks: target.headBlocks, maxBatch: request.maxBatch,
            maxLength: request.maxLength, steps: s.steps, decay: s.stepLossDecay, precision: request.precision)
    }

    /// The draft vocabulary built from the data when no size is given.
    public static let defaultDraftVocabularySize = 32_000

    public func recognizes(exportConfig config: [String: Any]) -> Bool {
        if config["speculators_model_type"] as? String == "eagle3" { return true }
        let architectures = config["architectures"] as? [String] ?? []
        return architectures.contains { $0.contains("Eagle3") }
            || (architectures.isEmpty && config["draft_vocab_size"] != nil)
    }

    public func loadExport(from directory: URL, target: LlamaModel) throws -> any LoadedDraft {
        try Eagle3Export.load(from: directory, table: target.embeddingTable)
    }

    public func loadCheckpoint(
        from directory: URL, header: CheckpointHeader, target: LlamaModel
    ) throws -> any LoadedDraft {
        let file = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        let d2t = try file.integers("d2t"), t2d = try file.integers("t2d").map { $0 != 0 }
        try DraftConfigReader.checkVocabulary(
            d2t: d2t, t2d: t2d, draftSize: d2t.count, targetSize: target.configuration.vocabularySize,
            file: file.url.path)
        var configuration = Eagle3Configuration(target: target.configuration, draftVocabularySize: d2t.count)
        configuration.featureLayers = header.featureLayers
        // Layers after the first are stored as `layers.i.*`.
        configuration.layerCount =
            1
            + (1..<Eagle3Configuration.maxLayerCount).prefix {
                file.entries["layers.\($0).input_layernorm.weight"] != nil
            }.count
        let draft = Eagle3Draft(configuration: configuration, table: target.embeddingTable, d2t: d2t, t2d: t2d)
        try CheckpointHeader.readParameters(directory, into: draft.parameters)
        return draft
    }
}

extension Eagle3Draft: LoadedDraft {
    public var method: any DraftMethod { Eagle3Method() }
    public var featureLayers: [Int]? { configuration.featureLayers }

    public func makeDrafter(target: LlamaModel, capacity: Int) throws -> any Drafter {
        let count = target.configuration.layerCount
        let layers = configuration.featureLayers ?? Eagle3Method.defaultFeatureLayers(targetLayerCount: count)
        guard layers.count == 3, layers.allSatisfy({ (0..<count).contains($0) }) else {
            throw DraftError(
                "the draft reads target layers \(layers), the target has \(count) layers",
                hint: "use the target the draft was trained for")
        }
        guard configuration.vocabularySize == target.configuration.vocabularySize,
            configuration.targetHiddenSize == target.configuration.hiddenSize
        else {
            throw DraftError(
                "the draft was trained for a target with \(configuration.vocabularySize) tokens and hidden size "
                    + "\(configuration.targetHiddenSize); this one has \(target.configuration.vocabularySize) and "
                    + "\(target.configuration.hiddenSize)"
            )
        }
        // The draft's rotary tables end at its max_position_embeddings.
        return Eagle3Drafter(
            draft: self, capacity: min(capacity, configuration.maxPositions), layers: layers, quantize: true)
    }

    public func export(to directory: URL, format: String, target: Eagle3Export.TargetInfo, dtype: DType) throws {
        guard let layout = Eagle3Export.Format(rawValue: format) else {
            throw DraftError(
                "--format \(format) does not apply to this eagle3 draft",
                hint: "use one of \(method.exportFormats.joined(separator: ", "))")
        }
        try Eagle3Export.write(self, format: layout, to: directory, target: target, dtype: dtype)
    }
}

/// EAGLE-3's training step behind the ``DraftAlgorithm`` interface (docs/design.md §2.4–§2.7).
public final class Eagle3Algorithm: DraftAlgorithm {
    public let eagle3: Eagle3Draft
    let trainer: Eagle3Trainer
    let targetHead: Tensor
    let targetHeadBlocks: QuantizedMatrix?
    let decay: Float

    /// - Parameters:
    ///   - targetHead: the target's `lm_head` `[V, H]` (its logits are the labels).
    ///   - targetHeadBlocks: the head as quantised blocks when it has no Float32 copy.
    public init(
        draft: Eagle3Draft, targetHead: Tensor, targetHeadBlocks: QuantizedMatrix? = nil, maxBatch: Int,
        maxLength: Int, steps: Int, decay: Float, precision: Precision = .fp32
    ) {
        self.eagle3 = draft
        self.targetHead = targetHead
        self.targetHeadBlocks = targetHeadBlocks
        self.decay = decay
        trainer = Eagle3Trainer(
            draft: draft, maxBatch: maxBatch, maxLength: maxLength, steps: steps, precision: precision)
    }

    public var method: any DraftMethod { Eagle3Method() }
    public var draft: any LoadedDraft { eagle3 }
    public var parameters: ParameterSet { eagle3.parameters }
    public var d2t: [Int64] { eagle3.d2t }
    public var t2d: [Bool] { eagle3.t2d }
    public var maxBatch: Int { trainer.maxBatch }
    public var maxLength: Int { trainer.maxLength }
    /// Bytes of planned activation memory.
    public var activationBytes: Int { trainer.activationBytes }
    public var precision: Precision { trainer.products.precision }
    /// Global gradient-norm clipping at 0.5 (docs/design.md §5.9).
    public var defaultGradientNormLimit: Float { 0.5 }
    public var defaultGradientValueLimit: Float? { nil }

    /// B·T: the soft cross-entropy is averaged over every (padded) position (docs/design.md §2.6).
    public func lossDenominator(_ samples: [TokenizedSample]) -> Double {
        Double(samples.count * (samples.map(\.ids.count).max() ?? 0))
    }

    public func step(_ features: TargetFeatures, scale: Float, train: Bool, context: StepContext) -> DraftMetrics {
        let batch = Eagle3Batch(
            batch: features.batch, length: features.length, lengths: features.lengths, ids: features.ids,
            lossMask: features.lossMask, auxiliary: features.auxiliary,
            target: targetHeadBlocks.map { .hiddenQuantizedHead(features.lastHidden, head: $0) }
                ?? .hidden(features.lastHidden, head: targetHead))
        let result = trainer.step(batch, decay: decay, scale: scale, train: train)
        var metrics = DraftMetrics()
        metrics.addMean("loss", Double(result.total))
        for k in result.losses.indices {
            metrics.addMean("loss/\(k)", Double(result.losses[k]))
            metrics.add("acc/\(k)", Double(result.correct[k]), count: Double(result.lossMaskCount[k]))
            metrics.add(
                "cond_acc/\(k)", Double(result.conditionalCorrect[k]), count: Double(result.conditionalCount[k]))
        }
        metrics.add("tokens", Double(features.lengths.reduce(0, +)), count: 1)
        return metrics
    }

    public func summarize(_ metrics: DraftMetrics) -> [String: Double] {
        var values = metrics.values
        values["tokens"] = metrics.sums["tokens"]
        var product = 1.0, tau = 1.0
        for k in 0..<trainer.steps {
            product *= values["cond_acc/\(k)"] ?? 0
            tau += product
        }
        values["tau"] = tau
        return values
    }
}
