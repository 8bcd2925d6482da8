import Foundation
import FledgeDraft
import FledgeLlama
import FledgeTensor

/// Everything a training run is made of, settable by CLI flags (SpecForge / speculators /
/// EAGLE names) or by a JSON or YAML config file whose unknown keys are errors.
public struct TrainingConfiguration: Codable, Sendable, Equatable {
    /// The draft algorithm, by its registry name (``DraftMethods``).
    public var method = DraftMethods.standard.name
    public var targetModelPath: String?
    public var dataPath: String?
    public var evalDataPath: String?
    /// A feature cache folder (offline training); nil trains online.
    public var cachePath: String?
    public var savePath = "runs/draft"
    public var runName: String?
    public var epochs = 1
    public var maxSteps: Int?
    public var learningRate: Float = 1e-4
    public var warmupRatio: Float = 0.015
    public var scheduler = LearningRateSchedule.Kind.cosine
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var weightDecay: Float = 0
    /// Global gradient-norm clipping; nil: the algorithm's default (EAGLE-3 0.5, EAGLE-1 none).
    public var maxGradNorm: Float?
    /// Element-wise gradient clipping; nil: the algorithm's default (EAGLE-1 0.5, EAGLE-3 none).
    public var gradClip: Float?
    /// EAGLE-1 only (errors with another method): the weights of the feature regression and
    /// of the token loss (default 1 and 0.1), the input-feature noise range scaled by 512/T
    /// (default ±0.1) and whether `fc` has a bias (default no). Resolved by
    /// ``Eagle1Method/losses(_:)``.
    public var vWeight: Float?
    public var pWeight: Float?
    public var noiseLow: Float?
    public var noiseHigh: Float?
    public var fcBias: Bool?
    public var batchSize = 1
    /// A token budget per micro-batch (rows × longest row); nil means `batchSize` rows.
    public var totalSequenceLength: Int?
    public var gradientAccumulation = 1
    public var maxLength = 2048
    public var dropLong = false
    public var systemPrompt: String?
    public var tttSteps = 7
    public var tttStepLossDecay: Float = 0.8
    /// EAGLE-3 only: the draft vocabulary built from the data (default 32,000) when no d2t is given.
    public var draftVocabSize: Int?
    public var d2tPath: String?
    public var t2dPath: String?
    public var initHeadFromTarget = false
    /// EAGLE-3: decoder layers of the draft (speculators' `--num-layers`; nil: 1).
    public var numLayers: Int?
    /// The three target layers whose outputs feed an EAGLE-3 draft (nil: the defaults, or the
    /// feature cache's layers when training offline).
    public var auxHiddenStateLayers: [Int]?
    public var seed: UInt64 = 0
    public var saveInterval = 500
    public var evalInterval = 500
    public var keepCheckpoints = 2
    public var resume = true
    public var loggers = ["jsonl"]
    public var logDir: String?
    /// Training records go to the logs every this many steps (the terminal shows every step).
    public var logInterval = 1
    public var maxTrainSamples: Int?
    public var maxEvalSamples: Int? = 200
    /// Seconds a data-parallel collective (gradient sum, broadcast) may wait for the other
    /// ranks before the run stops with an error (a rank died or hangs).
    public var collectiveTimeout: Double = 300
    /// The arithmetic of the products (draft training and the target's forward); nil: bf16
    /// where the CPU runs it (``Precision/resolve(_:support:)``), else fp32.
    public var precision: Precision?
    /// How the target's weights are held (float32, bfloat16, stored); nil: chosen by
    /// ``FledgeLlama/LlamaModel/WeightStorage/resolve(_:model:precision:)``.
    public var targetWeights: LlamaModel.WeightStorage?

    public init() {}

    /// The method-specific settings, for the registry entry of ``method``.
    public var draftSettings: DraftSettings {
        var s = DraftSettings()
        s.steps = tttSteps
        s.stepLossDecay = tttStepLossDecay
        s.seed = seed
        s.draftVocabSize = draftVocabSize
        s.d2tPath = d2tPath
        s.t2dPath = t2dPath
        s.initHeadFromTarget = initHeadFromTarget
        s.layerCount = numLayers
        (s.vWeight, s.pWeight, s.noiseLow, s.noiseHigh, s.fcBias) = (vWeight, pWeight, noiseLow, noiseHigh, fcBias)
        return s
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case method, epochs, scheduler, seed, resume
        case loggers = "logger"
        case targetModelPath = "target_model_path", dataPath = "data_path", evalDataPath = "eval_data_path", cachePath =
            "cache_path"
        case savePath = "save_path", runName = "run_name", maxSteps = "max_steps", learningRate = "lr", warmupRatio =
            "warmup_ratio"
        case beta1 = "b1", beta2 = "b2", weightDecay = "weight_decay", maxGradNorm = "max_grad_norm", batchSize =
            "batch_size"
        case gradClip = "grad_clip", vWeight = "v_w", pWeight = "p_w", noiseLow = "noise_low", noiseHigh = "noise_high",
            fcBias = "fc_bias"
        case totalSequenceLength = "total_seq_len", gradientAccumulation = "grad_accum", maxLength = "max_length",
            dropLong = "drop_long"
        case systemPrompt = "system_prompt", tttSteps = "ttt_steps", tttStepLossDecay = "ttt_step_loss_decay"
        case draftVocabSize = "draft_vocab_size", d2tPath = "d2t_path", t2dPath = "t2d_path", initHeadFromTarget =
            "init_head_from_target"
        case numLayers = "num_layers"
        case auxHiddenStateLayers = "aux_hidden_state_layers"
        case saveInterval = "save_interval", evalInterval = "eval_interval", keepCheckpoints = "keep_checkpoints"
        case logDir = "log_dir", logInterval = "log_interval", maxTrainSamples = "max_train_samples", maxEvalSamples =
            "max_eval_samples"
        case collectiveTimeout = "collective_timeout"
        case precision
        case targetWeights = "target_weights"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TrainingConfiguration()
        method = try c.decodeIfPresent(String.self, forKey: .method) ?? defaults.method
        targetModelPath = try c.decodeIfPresent(String.self, forKey: .targetModelPath)
        dataPath = try c.decodeIfPresent(String.self, forKey: .dataPath)
        evalDataPath = try c.decodeIfPresent(String.self, forKey: .evalDataPath)
        cachePath = try c.decodeIfPresent(String.self, forKey: .cachePath)
        savePath = try c.decodeIfPresent(String.self, forKey: .savePath) ?? defaults.savePath
        runName = try c.decodeIfPresent(String.self, forKey: .runName)
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? defaults.epochs
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps)
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? defaults.learningRate
        warmupRatio = try c.decodeIfPresent(Float.self, forKey: .warmupRatio) ?? defaults.warmupRatio
        if let name = try c.decodeIfPresent(String.self, forKey: .scheduler) {
            guard let kind = LearningRateSchedule.Kind(rawValue: name) else {
                let names = LearningRateSchedule.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                throw TrainingError("scheduler: unknown scheduler \"\(name)\"", hint: "the schedulers are \(names)")
            }
            scheduler = kind
        } else {
            scheduler = defaults.scheduler
        }
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? defaults.beta1
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? defaults.beta2
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? defaults.weightDecay
        maxGradNorm = try c.decodeIfPresent(Float.self, forKey: .maxGradNorm)
        gradClip = try c.decodeIfPresent(Float.self, forKey: .gradClip)
        vWeight = try c.decodeIfPresent(Float.self, forKey: .vWeight)
        pWeight = try c.decodeIfPresent(Float.self, forKey: .pWeight)
        noiseLow = try c.decodeIfPresent(Float.self, forKey: .noiseLow)
        noiseHigh = try c.decodeIfPresent(Float.self, forKey: .noiseHigh)
        fcBias = try c.decodeIfPresent(Bool.self, forKey: .fcBias)
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? defaults.batchSize
        totalSequenceLength = try c.decodeIfPresent(Int.self, forKey: .totalSequenceLength)
        gradientAccumulation =
            try c.decodeIfPresent(Int.self, forKey: .gradientAccumulation) ?? defaults.gradientAccumulation
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength) ?? defaults.maxLength
        dropLong = try c.decodeIfPresent(Bool.self, forKey: .dropLong) ?? defaults.dropLong
        systemPrompt = try c.decodeIfPresent(String.self, forKey: .systemPrompt)
        tttSteps = try c.decodeIfPresent(Int.self, forKey: .tttSteps) ?? defaults.tttSteps
        tttStepLossDecay = try c.decodeIfPresent(Float.self, forKey: .tttStepLossDecay) ?? defaults.tttStepLossDecay
        draftVocabSize = try c.decodeIfPresent(Int.self, forKey: .draftVocabSize)
        d2tPath = try c.decodeIfPresent(String.self, forKey: .d2tPath)
        t2dPath = try c.decodeIfPresent(String.self, forKey: .t2dPath)
        initHeadFromTarget =
            try c.decodeIfPresent(Bool.self, forKey: .initHeadFromTarget) ?? defaults.initHeadFromTarget
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers)
        auxHiddenStateLayers = try c.decodeIfPresent([Int].self, forKey: .auxHiddenStateLayers)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? defaults.seed
        saveInterval = try c.decodeIfPresent(Int.self, forKey: .saveInterval) ?? defaults.saveInterval
        evalInterval = try c.decodeIfPresent(Int.self, forKey: .evalInterval) ?? defaults.evalInterval
        keepCheckpoints = try c.decodeIfPresent(Int.self, forKey: .keepCheckpoints) ?? defaults.keepCheckpoints
        resume = try c.decodeIfPresent(Bool.self, forKey: .resume) ?? defaults.resume
        loggers = try c.decodeIfPresent([String].self, forKey: .loggers) ?? defaults.loggers
        logDir = try c.decodeIfPresent(String.self, forKey: .logDir)
        logInterval = try c.decodeIfPresent(Int.self, forKey: .logInterval) ?? defaults.logInterval
        maxTrainSamples = try c.decodeIfPresent(Int.self, forKey: .maxTrainSamples)
        maxEvalSamples = try c.decodeIfPresent(Int.self, forKey: .maxEvalSamples) ?? defaults.maxEvalSamples
        collectiveTimeout = try c.decodeIfPresent(Double.self, forKey: .collectiveTimeout) ?? defaults.collectiveTimeout
        if let spelling = try c.decodeIfPresent(String.self, forKey: .precision) {
            guard let value = Precision(spelling: spelling) else {
                throw TrainingError("precision: unknown precision \"\(spelling)\"", hint: "use bf16 or fp32")
            }
            precision = value
        }
        if let spelling = try c.decodeIfPresent(String.self, forKey: .targetWeights) {
            guard let value = LlamaModel.WeightStorage(spelling: spelling) else {
                throw TrainingError(
                    "target_weights: unknown storage \"\(spelling)\"", hint: "use float32, bfloat16 or stored")
            }
            targetWeights = value
        }
        try validate()
    }

    /// Checks ranges; throws naming the key (and the value).
    public func validate() throws {
        func require(_ ok: Bool, _ key: CodingKeys, _ message: String) throws {
            if !ok { throw TrainingError("\(key.rawValue): \(message)") }
        }
        func positive(_ value: Float?, _ key: CodingKeys) throws {
            guard let value else { return }
            try require(value.isFinite && value > 0, key, "must be a finite number above 0 (got \(value))")
        }
        func nonNegative(_ value: Float?, _ key: CodingKeys) throws {
            guard let value else { return }
            try require(value.isFinite && value >= 0, key, "must be a finite number, at least 0 (got \(value))")
        }
        func atLeast(_ minimum: Int, _ value: Int?, _ key: CodingKeys) throws {
            guard let value else { return }
            try require(value >= minimum, key, "must be at least \(minimum) (got \(value))")
        }
        do {
            try DraftMethods.validate(draftSettings, method: method)
        } catch let error as DraftError {
            // Messages that name a key start with it; the rest are about the method.
            let named = CodingKeys.allCases.contains { error.message.hasPrefix($0.rawValue + ":") }
            throw TrainingError(
                named ? error.message : "\(CodingKeys.method.rawValue): \(error.message)", hint: error.hint)
        }
        try positive(learningRate, .learningRate)
        try require(
            warmupRatio.isFinite && warmupRatio >= 0 && warmupRatio < 1, .warmupRatio,
            "must be in [0, 1) (got \(warmupRatio))")
        try require(beta1.isFinite && beta1 >= 0 && beta1 < 1, .beta1, "must be in [0, 1) (got \(beta1))")
        try require(beta2.isFinite && beta2 >= 0 && beta2 < 1, .beta2, "must be in [0, 1) (got \(beta2))")
        try nonNegative(weightDecay, .weightDecay)
        try require(
            maxGradNorm.map { !$0.isNaN && $0 > 0 } ?? true, .maxGradNorm, "must be above 0 (got \(maxGradNorm ?? 0))")
        try require(gradClip.map { !$0.isNaN && $0 > 0 } ?? true, .gradClip, "must be above 0 (got \(gradClip ?? 0))")
        try nonNegative(vWeight, .vWeight)
        try nonNegative(pWeight, .pWeight)
        for (value, key) in [(noiseLow, CodingKeys.noiseLow), (noiseHigh, .noiseHigh)] {
            try require(value.map(\.isFinite) ?? true, key, "must be a finite number (got \(value ?? 0))")
        }
        try require(
            auxHiddenStateLayers.map { $0.count == 3 && $0.allSatisfy { $0 >= 0 } } ?? true, .auxHiddenStateLayers,
            "three layer ids, each at least 0 (got \(auxHiddenStateLayers ?? []))")
        try atLeast(1, epochs, .epochs)
        try atLeast(1, maxSteps, .maxSteps)
        try atLeast(1, batchSize, .batchSize)
        try atLeast(1, totalSequenceLength, .totalSequenceLength)
        try atLeast(1, gradientAccumulation, .gradientAccumulation)
        try atLeast(2, maxLength, .maxLength)
        try require(tttSteps >= 1 && tttSteps <= 16, .tttSteps, "must be between 1 and 16 (got \(tttSteps))")
        try positive(tttStepLossDecay, .tttStepLossDecay)
        try require(
            collectiveTimeout.isFinite && collectiveTimeout > 0, .collectiveTimeout,
            "must be a finite number of seconds above 0 (got \(collectiveTimeout))")
        try atLeast(1, logInterval, .logInterval)
        try atLeast(1, saveInterval, .saveInterval)
        try atLeast(1, evalInterval, .evalInterval)
        try atLeast(1, keepCheckpoints, .keepCheckpoints)
        try atLeast(1, maxTrainSamples, .maxTrainSamples)
        try atLeast(0, maxEvalSamples, .maxEvalSamples)
        for (path, key) in [
            (targetModelPath, CodingKeys.targetModelPath), (dataPath, .dataPath), (evalDataPath, .evalDataPath),
            (cachePath, .cachePath), (logDir, .logDir),
        ] {
            try require(path.map { !$0.isEmpty } ?? true, key, "an empty path")
        }
        try require(!savePath.isEmpty, .savePath, "an empty path")
        try require(
            !loggers.isEmpty && loggers.allSatisfy { ["jsonl", "tensorboard", "none"].contains($0) }, .loggers,
            "loggers are jsonl, tensorboard or none (got \(loggers.joined(separator: ", ")))")
    }

    /// Reads a JSON or YAML (a flat `key: value` subset) config file; unknown keys are errors,
    /// and every error names the file, the line and the key (``ConfigFile``).
    public static func load(_ url: URL) throws -> TrainingConfiguration {
        try ConfigFile.load(url)
    }
}
