import ArgumentParser
import Foundation
import FledgeLlama
import FledgeDistributed
import FledgeDraft
import FledgeTensor
import FledgeTraining

/// `fledge train`: train an EAGLE-3 draft (flag names as in SpecForge / speculators / EAGLE).
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract:
            "Train a draft model online (the target runs in the loop) or offline (--cache-path), "
            + "resumable from its checkpoints."
    )

    @Option(
        help: """
            A JSON or YAML file of settings (keys as the flags with underscores); flags override it; \
            unknown keys are errors.
            """
    )
    var config: String?
    @Option(
        name: [.customLong("target-model-path"), .customLong("verifier-name-or-path")],
        help: "The target: a Hugging Face folder or a .gguf file (default: the fetched SmolLM2).")
    var targetModelPath: String?
    @Option(
        name: .customLong("method"),
        help: ArgumentHelp("The draft algorithm: \(DraftMethods.names.joined(separator: ", ")) (default eagle3)."))
    var method: String?
    @Option(name: .customLong("data-path"), help: "Prepared data (folder from fledge data prepare, or unified JSONL).")
    var dataPath: String?
    @Option(name: .customLong("eval-data-path"), help: "Eval conversations (default: eval.jsonl of the data folder).")
    var evalDataPath: String?
    @Option(name: .customLong("cache-path"), help: "Train offline from this feature cache (fledge cache build).")
    var cachePath: String?
    @Option(name: .customLong("save-path"), help: "Run folder: checkpoints, logs, report, export.")
    var savePath: String?
    @Option(name: .customLong("run-name"), help: "A name for the report.")
    var runName: String?
    @Option(name: .customLong("epochs"), parsing: .unconditional, help: "Epochs.") var epochs: Int?
    @Option(name: .customLong("max-steps"), parsing: .unconditional, help: "Stop after this many optimizer steps.")
    var maxSteps: Int?
    @Option(name: .customLong("lr"), parsing: .unconditional, help: "Peak learning rate.") var lr: Float?
    @Option(name: .customLong("warmup-ratio"), parsing: .unconditional, help: "Fraction of steps of linear warmup.")
    var warmupRatio: Float?
    @Option(name: .customLong("scheduler"), help: "cosine, linear or constant.") var scheduler: String?
    @Option(name: .customLong("b1"), parsing: .unconditional, help: "AdamW β1.") var beta1: Float?
    @Option(name: .customLong("b2"), parsing: .unconditional, help: "AdamW β2.") var beta2: Float?
    @Option(name: .customLong("weight-decay"), parsing: .unconditional, help: "AdamW decoupled weight decay.")
    var weightDecay: Float?
    @Option(
        name: .customLong("max-grad-norm"), parsing: .unconditional,
        help: "Global gradient-norm clip (default 0.5 for eagle3, none for eagle1)."
    ) var maxGradNorm: Float?
    @Option(
        name: .customLong("grad-clip"), parsing: .unconditional,
        help: "Element-wise gradient clip (default 0.5 for eagle1, none for eagle3).")
    var gradClip: Float?
    @Option(
        name: .customLong("v-w"), parsing: .unconditional, help: "EAGLE-1: weight of the feature regression (SmoothL1)."
    ) var vWeight: Float?
    @Option(
        name: .customLong("p-w"), parsing: .unconditional,
        help: "EAGLE-1: weight of the token loss through the target head.") var pWeight: Float?
    @Option(
        name: .customLong("noise-low"), parsing: .unconditional,
        help: "EAGLE-1: input-feature noise low end, scaled by 512/T.")
    var noiseLow: Float?
    @Option(
        name: .customLong("noise-high"), parsing: .unconditional,
        help: "EAGLE-1: input-feature noise high end, scaled by 512/T.")
    var noiseHigh: Float?
    @Flag(name: .customLong("fc-bias"), help: "EAGLE-1: give fc a bias (SGLang export only).") var fcBias = false
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Rows per micro-batch.") var batchSize: Int?
    @Option(
        name: .customLong("total-seq-len"), parsing: .unconditional,
        help: "Token budget per micro-batch (rows × longest row).")
    var totalSeqLen: Int?
    @Option(name: .customLong("grad-accum"), parsing: .unconditional, help: "Micro-batches per optimizer step.")
    var gradAccum: Int?
    @Option(name: .customLong("max-length"), parsing: .unconditional, help: "Longest sample in tokens.") var maxLength:
        Int?
    @Flag(name: .customLong("drop-long"), help: "Drop over-long samples instead of truncating.") var dropLong = false
    @Option(name: .customLong("system-prompt"), help: "Replace (or add) every conversation's system message.")
    var systemPrompt: String?
    @Option(
        name: .customLong("ttt-steps"), parsing: .unconditional,
        help: "Training-time-test steps K (EAGLE-3); EAGLE-1: the chained steps measured on the eval split.")
    var tttSteps: Int?
    @Option(name: .customLong("ttt-step-loss-decay"), parsing: .unconditional, help: "Weight decay of later TTT steps.")
    var tttStepLossDecay: Float?
    @Option(name: .customLong("draft-vocab-size"), parsing: .unconditional, help: "Draft vocabulary size Vd.")
    var draftVocabSize: Int?
    @Option(name: .customLong("d2t-path"), help: "d2t.npy (with --t2d-path) or vocab.safetensors from fledge vocab.")
    var d2tPath: String?
    @Option(name: .customLong("t2d-path"), help: "t2d.npy.") var t2dPath: String?
    @Flag(name: .customLong("init-head-from-target"), help: "Initialise the draft head from the target head's rows.")
    var initHeadFromTarget = false
    @Option(
        name: .customLong("num-layers"), parsing: .unconditional,
        help: "EAGLE-3: decoder layers of the draft (the first reads [embedding | hidden], the others its output).")
    var numLayers: Int?
    @Option(
        name: .customLong("aux-hidden-state-layers"), parsing: .upToNextOption,
        help: """
            EAGLE-3 online: the three target layers whose outputs are fused (default 1, N/2-1, N-4; \
            offline: the cache's).
            """
    )
    var auxHiddenStateLayers: [Int] = []
    @Option(
        name: .customLong("log-interval"), parsing: .unconditional,
        help: "Log every N-th training step (the last step always).")
    var logInterval: Int?
    @Option(name: .customLong("seed"), parsing: .unconditional, help: "Seed of initialisation and data order.")
    var seed: UInt64?
    @Option(
        name: .customLong("save-interval"), parsing: .unconditional,
        help: "Checkpoint every N steps (and at each epoch end).")
    var saveInterval: Int?
    @Option(name: .customLong("eval-interval"), parsing: .unconditional, help: "Evaluate every N steps.")
    var evalInterval: Int?
    @Option(name: .customLong("keep-checkpoints"), parsing: .unconditional, help: "Checkpoints kept.")
    var keepCheckpoints: Int?
    @Flag(name: .customLong("no-resume-from-checkpoint"), help: "Start fresh even if the save path has checkpoints.")
    var noResume = false
    @Option(name: .customLong("logger"), help: "jsonl, tensorboard or none (repeatable).") var logger: [String] = []
    @Option(name: .customLong("log-dir"), help: "Where logs go (default: SAVE/logs).") var logDir: String?
    @Option(
        name: .customLong("max-train-samples"), parsing: .unconditional, help: "Use only the first N training samples.")
    var maxTrainSamples: Int?
    @Option(name: .customLong("max-eval-samples"), parsing: .unconditional, help: "Evaluate on at most N samples.")
    var maxEvalSamples: Int?
    @Option(
        name: .customLong("collective-timeout"), parsing: .unconditional,
        help: "Under mpirun: seconds a gradient sum may wait for the other ranks (default 300).") var collectiveTimeout:
        Double?

    @Option(
        name: [.customLong("precision"), .customLong("dtype"), .customLong("mixed-precision")],
        help: "bf16 (mixed precision: bf16 products, fp32 master weights) or fp32 (default: bf16 where the CPU has it)."
    )
    var precision: String?

    @OptionGroup var weightsOption: TargetWeightsOption

    /// The configuration: the file (or defaults), then every flag given.
    func resolved() throws -> TrainingConfiguration {
        var c = try config.map { try TrainingConfiguration.load(URL(fileURLWithPath: $0)) } ?? TrainingConfiguration()
        func set<T>(_ value: T?, _ path: WritableKeyPath<TrainingConfiguration, T>) {
            if let value { c[keyPath: path] = value }
        }
        func set<T>(_ value: T?, _ path: WritableKeyPath<TrainingConfiguration, T?>) {
            if let value { c[keyPath: path] = value }
        }
        set(targetModelPath, \.targetModelPath); set(method, \.method); set(dataPath, \.dataPath);
        set(evalDataPath, \.evalDataPath)
        set(cachePath, \.cachePath); set(savePath, \.savePath); set(runName, \.runName); set(epochs, \.epochs);
        set(maxSteps, \.maxSteps)
        set(lr, \.learningRate); set(warmupRatio, \.warmupRatio); set(beta1, \.beta1); set(beta2, \.beta2);
        set(weightDecay, \.weightDecay)
        set(maxGradNorm, \.maxGradNorm); set(gradClip, \.gradClip); set(vWeight, \.vWeight); set(pWeight, \.pWeight)
        set(noiseLow, \.noiseLow); set(noiseHigh, \.noiseHigh); if fcBias { c.fcBias = true }
        set(batchSize, \.batchSize); set(totalSeqLen, \.totalSequenceLength); set(gradAccum, \.gradientAccumulation)
        set(maxLength, \.maxLength); set(systemPrompt, \.systemPrompt); set(tttSteps, \.tttSteps);
        set(tttStepLossDecay, \.tttStepLossDecay)
        set(draftVocabSize, \.draftVocabSize); set(d2tPath, \.d2tPath); set(t2dPath, \.t2dPath); set(seed, \.seed)
        set(saveInterval, \.saveInterval); set(evalInterval, \.evalInterval); set(keepCheckpoints, \.keepCheckpoints);
        set(logDir, \.logDir)
        set(maxTrainSamples, \.maxTrainSamples); set(maxEvalSamples, \.maxEvalSamples);
        set(collectiveTimeout, \.collectiveTimeout)
        set(logInterval, \.logInterval)
        if !auxHiddenStateLayers.isEmpty { c.auxHiddenStateLayers = auxHiddenStateLayers }
        if let scheduler {
            guard let kind = LearningRateSchedule.Kind(rawValue: scheduler) else {
                let names = LearningRateSchedule.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("--scheduler: unknown scheduler \"\(scheduler)\"; the schedulers are \(names)")
            }
            c.scheduler = kind
        }
        if let precision {
            guard let value = Precision(spelling: precision) else {
                throw ValidationError("--precision: unknown precision \"\(precision)\"; use bf16 or fp32")
            }
            c.precision = value
        }
        if let storage = weightsOption.storage { c.targetWeights = storage }
        if dropLong { c.dropLong = true }
        if initHeadFromTarget { c.initHeadFromTarget = true }
        if let numLayers { c.numLayers = numLayers }
        if noResume { c.resume = false }
        if !logger.isEmpty { c.loggers = logger }
        do { try c.validate() } catch let error as TrainingError { throw ValidationError(error.description) }
        return c
    }

    func validate() throws { _ = try resolved() }

    func run() async throws {
        let configuration = try resolved()
        let fallback = FileManager.default.fileExists(atPath: DefaultAssets.smolLM2.path) ? DefaultAssets.smolLM2 : nil
        // Under mpirun (more than one rank) Open MPI is loaded and the cores of each machine
        // are shared among its ranks; otherwise nothing changes.
        let communicator = try TrainingRun.communicator(timeout: configuration.collectiveTimeout)
        let summary: TrainingRun.Summary
        do {
            summary = try TrainingRun.run(configuration, defaultTarget: fallback, communicator: communicator) {
                printError($0)
            }
        } catch  where communicator.isDistributed {
            communicator.abort("fledge train: \(error)")
        }
        communicator.finalize()
        guard communicator.isRoot else { return }
        print(
            "trained \(summary.state.step) steps on \(summary.trainSamples) samples"
                + (summary.state.bestTau.map {
                    String(format: "; best eval τ %.3f at step %d", $0, summary.state.bestStep ?? 0)
                } ?? ""))
        print("export: \(summary.exportPath.path)")
        if let report = summary.reportPath { print("report: \(report.path)") }
        print("logs: \(summary.logPath.path)")
    }
}
