import Foundation
import FledgeData
import FledgeLlama
import FledgeNN
import FledgeTensor
import FledgeWeights

/// EAGLE-1's registry entry (docs/design.md §1.4, §3): `fc([embed | final-norm feature])`, one
/// layer, the target's own head; it predicts over the target's whole vocabulary.
public struct Eagle1Method: DraftMethod {
    public init() {}

    public var name: String { "eagle1" }
    public var title: String { "EAGLE-1" }
    public var settingKeys: [String] { ["v_w", "p_w", "noise_low", "noise_high", "fc_bias"] }
    /// `eagle` (what training writes) is vLLM's layout for a bias-free draft, SGLang's otherwise.
    public var exportFormats: [String] { ["eagle"] + Eagle1Export.Format.allCases.map(\.rawValue) }

    /// The settings with their defaults filled in (noise nil: none).
    public static func losses(
        _ s: DraftSettings
    ) -> (vWeight: Float, pWeight: Float, noise: ClosedRange<Float>?, fcBias: Bool) {
        let low = s.noiseLow ?? -0.1, high = s.noiseHigh ?? 0.1
        return (s.vWeight ?? 1, s.pWeight ?? 0.1, low == 0 && high == 0 ? nil : low...high, s.fcBias ?? false)
    }

    /// EAGLE-1 drafts multiply by the target's head in Float32 (or bf16) while training and drafting.
    static func requireFloatHead(_ target: LlamaModel) throws {
        guard target.headBlocks == nil, target.embedding.count > 0 else {
            throw DraftError(
                "EAGLE-1 drafts need the target's head and embedding in Float32; this target keeps them as "
                    + "quantised blocks",
                hint: "load the target with --target-weights float32 (or bfloat16), or train an eagle3 draft")
        }
    }

    public func validate(_ settings: DraftSettings) throws {
        if (settings.noiseLow ?? -0.1) > (settings.noiseHigh ?? 0.1) {
            throw DraftError("noise_low: must not exceed noise_high")
        }
    }

    public func makeTraining(_ request: DraftTrainingRequest) throws -> any DraftAlgorithm {
        let settings = Self.losses(request.settings)
        let target = request.target
        try Self.requireFloatHead(target)
        let draft = Eagle1Draft(
            configuration: Eagle1Configuration(target: target.configuration, bias: settings.fcBias),
            embedding: target.embedding, head: target.head)
        draft.initialize(seed: request.settings.seed)
        return Eagle1Algorithm(
            draft: draft, maxBatch: request.maxBatch, maxLength: request.maxLength, vWeight: settings.vWeight,
            pWeight: settings.pWeight, noise: settings.noise, chainSteps: request.settings.steps,
            precision: request.precision)
    }

    public func recognizes(exportConfig config: [String: Any]) -> Bool { Eagle1Export.recognizes(config) }

    public func loadExport(from directory: URL, target: LlamaModel) throws -> any LoadedDraft {
        try Self.requireFloatHead(target)
        return try Eagle1Export.load(from: directory, embedding: target.embedding, head: target.head)
    }

    public func loadCheckpoint(
        from directory: URL, header: CheckpointHeader, target: LlamaModel
    ) throws -> any LoadedDraft {
        try Self.requireFloatHead(target)
        let file = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        let configuration = Eagle1Configuration(target: target.configuration, bias: file.names.contains("fc.bias"))
        let draft = Eagle1Draft(configuration: configuration, embedding: target.embedding, head: target.head)
        try CheckpointHeader.readParameters(directory, into: draft.parameters)
        return draft
    }
}

extension Eagle1Draft: LoadedDraft {
    public var method: any DraftMethod { Eagle1Method() }
    /// EAGLE-1 reads the target's final-norm hidden state, no layer outputs.
    public var featureLayers: [Int]? { nil }

    public func makeDrafter(target: LlamaModel, capacity: Int) throws -> any Drafter {
        guard configuration.vocabularySize == target.configuration.vocabularySize,
            configuration.hiddenSize == target.configuration.hiddenSize
        else {
            throw DraftError(
                "the draft was trained for a target with \(configuration.vocabularySize) tokens and hidden size "
                    + "\(configuration.hiddenSize); this one has \(target.configuration.vocabularySize) and "
                    + "\(target.configuration.hiddenSize)"
            )
        }
        // The draft's rotary tables end at its max_position_embeddings.
        return Eagle1Drafter(
            draft: self, capacity: min(capacity, configuration.maxPositions), target: target, quantize: true)
    }

    public func export(to directory: URL, format: String, target: Eagle3Export.TargetInfo, dtype: DType) throws {
        let layout: Eagle1Export.Format
        if format == "eagle" {
            layout = configuration.bias ? .sglang : .vllm
        } else if let named = Eagle1Export.Format(rawValue: format) {
            layout = named
        } else {
            throw DraftError(
                "--format \(format) does not apply to this eagle1 draft",
                hint: "use one of \(method.exportFormats.joined(separator: ", "))")
        }
        try Eagle1Export.write(self, format: layout, to: directory, target: target, dtype: dtype)
    }
}

/// EAGLE-1's training step behind the ``DraftAlgorithm`` interface (docs/design.md §3).
///
/// Metrics: `loss` (v_w·vloss + p_w·ploss), `vloss`, `ploss`, `acc/0` (top-1 of the next token
/// through the target head; the reporting position) and `top2`/`top3`. On the eval split also
/// the chained k-step accuracies of ``Eagle1ChainAccuracy`` (`acc/k`, `cond_acc/k` for
/// k < `chainSteps`) and `tau` = 1 + Σₖ Πⱼ≤ₖ cond_acc/j, the acceptance length of a chain of
/// that many steps; training records have `tau` = 1 + acc/0 (one step).
public final class Eagle1Algorithm: DraftAlgorithm {
    public let eagle1: Eagle1Draft
    let trainer: Eagle1Trainer
    let vWeight: Float
    let pWeight: Float
    /// Input-feature noise `U[low, high)·512/T` during training (§1.4); nil: none.
    let noise: ClosedRange<Float>?
    let noiseBuffer: Tensor
    let chain: Eagle1ChainAccuracy

    public init(
        draft: Eagle1Draft, maxBatch: Int, maxLength: Int, vWeight: Float = 1, pWeight: Float = 0.1,
        noise: ClosedRange<Float>? = -0.1...0.1,
        chainSteps: Int = 7, precision: Precision = .fp32
    ) {
        self.eagle1 = draft
        self.vWeight = vWeight
        self.pWeight = pWeight
        self.noise = noise
        trainer = Eagle1Trainer(draft: draft, maxBatch: maxBatch, maxLength: maxLength, precision: precision)
        noiseBuffer = Tensor(zeros: [maxBatch * maxLength * eagle1.configuration.hiddenSize])
        chain = Eagle1ChainAccuracy(draft: draft, steps: chainSteps, maxLength: maxLength)
    }

    public var method: any DraftMethod { Eagle1Method() }
    public var draft: any LoadedDraft { eagle1 }
    public var parameters: ParameterSet { eagle1.parameters }
    public var d2t: [Int64] { [] }
    public var t2d: [Bool] { [] }
    public var maxBatch: Int { trainer.maxBatch }
    public var maxLength: Int { trainer.maxLength }
    public var activationBytes: Int { trainer.activationBytes + noiseBuffer.count * 4 }
    public var precision: Precision { trainer.products.precision }
    /// The official recipe (docs/design.md §3.5): element-wise clipping at 0.5, no norm clipping.
    public var defaultGradientNormLimit: Float { .infinity }
    public var defaultGradientValueLimit: Float? { 0.5 }

    /// Σ mask + 1e-5 over the positions with a next token (docs/design.md §3.3).
    public func lossDenominator(_ samples: [TokenizedSample]) -> Double {
        Double(
            samples.reduce(0) { total, sample in total + sample.lossMask.dropLast().reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
            }) + 1e-5
    }

    public func step(_ features: TargetFeatures, scale: Float, train: Bool, context: StepContext) -> DraftMetrics {
        let batch = Eagle1Batch(
            batch: features.batch, length: features.length, lengths: features.lengths, ids: features.ids,
            lossMask: features.lossMask, features: features.lastHidden)
        var noisePointer: UnsafePointer<Float>? = nil
        if train, let noise {
            // Fresh noise at every step (a batch seen again in a later epoch gets new noise); a
            // resumed run draws the same noise as a straight one (the seed is the step's), and a
            // row the same noise on any rank and under any padding (a generator per row).
            let h = eagle1.configuration.hiddenSize
            let amplitude = 512 / Float(context.paddedLength)  // the whole micro-batch's T, as on one rank
            for row in 0..<features.batch {
                var generator = SeededGenerator(
                    seed: context.seed ^ (UInt64(context.firstRow + row) &* 0xD1B5_4A32_D192_ED03))
                let rowNoise = noiseBuffer.pointer + row * features.length * h
                generator.fillUniform(
                    Tensor(viewing: rowNoise, shape: [features.lengths[row] * h], owner: noiseBuffer),
                    low: noise.lowerBound * amplitude, high: noise.upperBound * amplitude)
                (rowNoise + features.lengths[row] * h).update(
                    repeating: 0, count: (features.length - features.lengths[row]) * h)
            }
            noisePointer = UnsafePointer(noiseBuffer.pointer)
        }
        let result = trainer.step(
            batch, vWeight: vWeight, pWeight: pWeight, noise: noisePointer, scale: scale, train: train)
        var metrics = DraftMetrics()
        metrics.addMean("loss", Double(result.total))
        metrics.addMean("vloss", Double(result.vloss))
        metrics.addMean("ploss", Double(result.ploss))
        metrics.add("acc/0", Double(result.correct[0]), count: Double(result.count))
        metrics.add("top2", Double(result.correct[1]), count: Double(result.count))
        metrics.add("top3", Double(result.correct[2]), count: Double(result.count))
        metrics.add("tokens", Double(features.lengths.reduce(0, +)), count: 1)
        if !train {
            var counts = Eagle1ChainAccuracy.Counts(steps: chain.steps)
            for row in 0..<features.batch {
                let start = row * features.length, end = start + features.lengths[row]
                counts.merge(
                    chain.evaluate(
                        ids: features.ids[start..<end], lossMask: features.lossMask[start..<end],
                        features: features.lastHidden.pointer + start * eagle1.configuration.hiddenSize,
                        length: features.lengths[row]))
            }
            for k in 0..<chain.steps {
                if k > 0 { metrics.add("acc/\(k)", Double(counts.correct[k]), count: Double(counts.count[k])) }
                metrics.add(
                    "cond_acc/\(k)", Double(counts.conditionalCorrect[k]), count: Double(counts.conditionalCount[k]))
            }
        }
        return metrics
    }

    public func summarize(_ metrics: DraftMetrics) -> [String: Double] {
        var values = metrics.values
        values["tokens"] = metrics.sums["tokens"]
        if values["cond_acc/0"] != nil {
            var product = 1.0, tau = 1.0
            for k in 0..<chain.steps {
                product *= values["cond_acc/\(k)"] ?? 0
                tau += product
            }
            values["tau"] = tau
        } else {
            values["tau"] = 1 + (values["acc/0"] ?? 0)
        }
        return values
    }
}
