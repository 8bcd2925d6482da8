import Foundation
import FledgeData
import FledgeDistributed
import FledgeDraft
import FledgeLlama
import FledgeTensor
import FledgeWeights

/// Everything `fledge train` does, as library API: load the target, tokenise the data,
/// build or load the draft vocabulary, choose the online or offline feature source, train,
/// log (JSONL, TensorBoard, terminal), write the HTML report and export.
public enum TrainingRun {
    public struct Summary: Sendable {
        public var state: TrainingState
        public var trainSamples: Int
        public var evalSamples: Int
        public var exportPath: URL
        public var reportPath: URL?
        public var logPath: URL
    }

    /// - Parameter communicator: the ranks of a data-parallel run (``Trainer``); only rank 0
    ///   logs, reports and writes files.
    public static func run(
        _ c: TrainingConfiguration, defaultTarget: URL?, communicator: any Communicator = SingleProcess(),
        log rootLog: (String) -> Void
    ) throws -> Summary {
        func log(_ line: String) { if communicator.isRoot { rootLog(line) } }
        guard let targetURL = c.targetModelPath.map({ URL(fileURLWithPath: $0) }) ?? defaultTarget else {
            throw TrainingError(
                "no target model", hint: "pass --target-model-path (a Hugging Face folder or a .gguf file)")
        }
        guard let dataPath = c.dataPath else {
            throw TrainingError("no training data", hint: "pass --data-path (prepared by fledge data prepare)")
        }
        try checkPaths(c)
        let (precision, notice) = Precision.resolve(c.precision)
        if let notice { log(notice) }
        // A bf16 run holds the target's layer matrices in bf16 and multiplies them as they are; a
        // target too large for that is kept as its GGUF stores it (quantised blocks).
        let storage = try LlamaModel.WeightStorage.resolve(c.targetWeights, model: targetURL, precision: precision)
        let expected = try storage.estimatedBytes(of: targetURL)
        if expected > MachineMemory.total {
            throw TrainingError(
                "the target's weights alone take \(MachineMemory.describe(expected)) as \(storage.spelling), more "
                    + "than this machine's \(MachineMemory.describe(MachineMemory.total)) of RAM",
                hint: storage == .quantized
                    ? "use a smaller target or a machine with more memory"
                    : "load a quantised GGUF with --target-weights stored")
        }
        let target = try TargetModel.load(from: targetURL, storage: storage)
        if storage == .quantized {
            log(
                "target weights: stored, \(MachineMemory.describe(target.model.weightBytes)) "
                    + "(quantised blocks, integer products; no Float32 copy)")
        }
        let tokenizer = ConversationTokenizer(
            format: target.format, maxLength: c.maxLength, dropLong: c.dropLong, systemPrompt: c.systemPrompt)
        let data = URL(fileURLWithPath: dataPath)
        let train = TokenizedDataset.make(
            try ConversationFile.read(data), tokenizer: tokenizer, maxSamples: c.maxTrainSamples)
        guard !train.samples.isEmpty else {
            let skipped = train.skipped.map { "\($0.key.rawValue) \($0.value)" }.sorted().joined(separator: ", ")
            throw TrainingError(
                "data_path: \(dataPath) holds no usable training sample (0 samples"
                    + (skipped.isEmpty ? ")" : "; skipped: \(skipped))"),
                hint: "prepare conversations with fledge data prepare; check --max-length and --drop-long")
        }
        // One run per save path (a second would interleave checkpoints and logs), taken before
        // anything is written there.
        var saveLock: FileLock?
        if communicator.isRoot {
            do {
                saveLock = try FileLock(
                    URL(fileURLWithPath: c.savePath).appendingPathComponent(".lock"),
                    busy: "save_path: \(c.savePath): another fledge train is running in this folder")
            } catch let busy as FileLock.Busy {
                throw TrainingError(
                    busy.description,
                    hint: "wait for it, or stop it and run again (it resumes from its last checkpoint)")
            }
        }
        defer { saveLock?.release() }
        var evaluation: [TokenizedSample] = []
        let evalURL = c.evalDataPath.map { URL(fileURLWithPath: $0) } ?? data.appendingPathComponent("eval.jsonl")
        if FileManager.default.fileExists(atPath: evalURL.path) {
            evaluation =
                TokenizedDataset.make(
                    try ConversationFile.read(evalURL, allowEmpty: true), tokenizer: tokenizer
                ).samples
            if let limit = c.maxEvalSamples { evaluation = Array(evaluation.prefix(limit)) }
        }
        log(
            "\(train.samples.count) training samples (\(train.tokenCount) tokens, \(train.maskedCount) trained), "
                + "\(evaluation.count) eval samples"
                + (train.skipped.isEmpty
                    ? ""
                    : "; skipped: " + train.skipped.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")))
        let method = try DraftMethods.named(c.method)
        let source: FeatureSource
        if let cache = c.cachePath {
            let cached = try CachedFeatureSource(
                directory: URL(fileURLWithPath: cache), modelFingerprint: try Fingerprint.of(targetURL))
            if let layers = c.auxHiddenStateLayers, layers != cached.layers {
                throw TrainingError(
                    "aux_hidden_state_layers: \(layers), but the cache \(cache) holds layers \(cached.layers)",
                    hint: "leave the option out (offline training reads the cache's layers) or rebuild the cache")
            }
            source = cached
            log("offline: features from \(cache) (layers \(cached.layers))")
        } else {
            source = try OnlineFeatureSource(
                model: target.model, layers: c.auxHiddenStateLayers, precision: precision)
            log("online: the target runs in the training loop")
        }
        let longest = max(train.samples.map(\.ids.count).max() ?? 1, evaluation.map(\.ids.count).max() ?? 1)
        let vocabularySize = target.model.configuration.vocabularySize
        let algorithm = try method.makeTraining(
            DraftTrainingRequest(
                target: target.model, settings: c.draftSettings, maxBatch: c.batchSize, maxLength: longest,
                featureLayers: source.layers, precision: precision,
                tokenCounts: { train.maskedTokenCounts(vocabularySize: vocabularySize) }))
        switch (precision, algorithm.precision) {
        case (.bf16, .bf16):
            log("precision: bf16 products, fp32 master weights and optimizer (\(BFloat16.support.reason))")
        case (.bf16, .fp32):
            log("precision: the target runs in bf16; the \(c.method) draft's products run in fp32")
        default:
            log("precision: fp32")
        }
        let plan = MemoryPlan(
            target: target.model, storage: storage, parameters: algorithm.parameters.count,
            precision: algorithm.precision, activations: algorithm.activationBytes,
            maxBatch: min(c.batchSize, algorithm.maxBatch), maxLength: longest, online: c.cachePath == nil)
        for line in plan.lines { log(line) }
        try plan.check(maxLength: c.maxLength, precision: precision)
        // A plan near the RAM: the target's forward buffers are freed while the draft trains.
        if let online = source as? OnlineFeatureSource, plan.total > MachineMemory.total * 3 / 4 {
            online.releasesBuffers = true
            log("memory: the target's forward buffers are freed between batches (the plan takes over 3/4 of the RAM)")
        }
        let info = Eagle3Export.TargetInfo(
            name: targetURL.lastPathComponent, bosTokenID: target.model.configuration.bosTokenID,
            eosTokenID: target.model.configuration.eosTokenIDs.first)
        let trainer = try Trainer(
            configuration: c, algorithm: algorithm, source: source, train: train.samples, evaluation: evaluation,
            target: info,
            communicator: communicator)
        if communicator.isDistributed {
            log(
                "data parallel: \(communicator.size) ranks × \(min(c.batchSize, algorithm.maxBatch)) rows "
                    + "per micro-batch, \(Parallel.workerCount) threads per rank"
            )
        }
        let save = URL(fileURLWithPath: c.savePath)
        let logDirectory = URL(fileURLWithPath: c.logDir ?? save.appendingPathComponent("logs").path)
        let resumedStep = c.resume ? try Checkpoint.list(save).last?.step : nil
        var loggers: [any MetricsLogger] = []
        let loggerNames = communicator.isRoot ? c.loggers : []
        // On resume, earlier records stay (those past the checkpoint are dropped) and wall
        // times continue from the first run's start.
        let previous = (try? JSONLLogger.read(from: logDirectory.appendingPathComponent("metrics.jsonl")))?.filter {
            $0.step <= (resumedStep ?? -1)
        }
        let elapsedBefore = resumedStep == nil ? 0 : (previous?.last?.time ?? 0)
        if loggerNames.contains("jsonl") {
            loggers.append(try JSONLLogger(directory: logDirectory, resumedStep: resumedStep))
        }
        if loggerNames.contains("tensorboard") {
            loggers.append(
                try TensorBoardLogger(
                    directory: logDirectory.appendingPathComponent("tensorboard"),
                    startWallTime: Date().timeIntervalSince1970 - elapsedBefore))
        }
        let logger = CompositeLogger(loggers)
        var progress = ProgressReporter(totalSteps: trainer.totalSteps)
        let start = Date()
        log(
            String(
                format: "%d optimizer steps, %@ draft, %d parameters, %.0f MB of planned activations%@",
                trainer.totalSteps, c.method, algorithm.parameters.count,
                Double(algorithm.activationBytes) / 1e6, resumedStep.map { ", resuming after step \($0)" } ?? ""))
        let state = try trainer.run { event in
            let record = MetricsRecord(
                kind: event.kind, step: event.step, epoch: event.epoch, values: event.values,
                time: elapsedBefore + Date().timeIntervalSince(start))
            // Training records every log_interval steps (and the last); evaluations always.
            if event.kind != "train" || event.step % c.logInterval == 0 || event.step == event.totalSteps {
                try logger.log(record)
            }
            guard communicator.isRoot else { return }
            if event.kind == "train" {
                progress.report(record)
            } else {
                ProgressReporter.writeToStandardError(
                    String(
                        format: "\neval at step %d: loss %.4f, τ %.3f\n", event.step, event.values["loss"] ?? 0,
                        event.values["tau"] ?? 0))
            }
        }
        if communicator.isRoot { progress.finish() }
        try logger.close()
        var reportURL: URL?
        let jsonl = logDirectory.appendingPathComponent("metrics.jsonl")
        if communicator.isRoot, let records = try? JSONLLogger.read(from: jsonl) {
            let url = save.appendingPathComponent("report.html")
            try TrainingReport.write(
                records: records, title: c.runName ?? "Fledge \(c.method) draft",
                summary: [
                    ("target", targetURL.lastPathComponent),
                    ("samples", "\(train.samples.count) train, \(evaluation.count) eval"),
                    ("steps", "\(state.step)"),
                    (
                        "best τ (eval)",
                        state.bestTau.map { String(format: "%.3f at step %d", $0, state.bestStep ?? 0) } ?? "–"
                    ),
                    ("method", c.method), ("TTT / chained steps", "K = \(c.tttSteps)"),
                    ("lr", "\(c.learningRate) \(c.scheduler.rawValue), warmup \(c.warmupRatio)"),
                ], to: url)
            reportURL = url
        }
        return Summary(
            state: state, trainSamples: train.samples.count, evalSamples: evaluation.count,
            exportPath: save.appendingPathComponent("export"), reportPath: reportURL, logPath: logDirectory)
    }

    /// The paths of a run, before anything is loaded: the save path (and log folder) must be
    /// folders or absent; the data, eval data, vocabulary files and feature cache must exist.
    static func checkPaths(_ c: TrainingConfiguration) throws {
        func kind(_ path: String) -> Bool? {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) ? isDirectory.boolValue : nil
        }
        for (path, key) in [(Optional(c.savePath), "save_path"), (c.logDir, "log_dir")] {
            if let path, kind(path) == false {
                throw TrainingError(
                    "\(key): \(path) is a file, not a folder", hint: "the run writes checkpoints and logs into a folder"
                )
            }
        }
        for (path, key) in [
            (c.dataPath, "data_path"), (c.evalDataPath, "eval_data_path"), (c.d2tPath, "d2t_path"),
            (c.t2dPath, "t2d_path"), (c.cachePath, "cache_path"),
        ] {
            if let path, kind(path) == nil {
                throw TrainingError("\(key): \(path) does not exist")
            }
        }
    }

    /// The processes of a run: this one alone, or under `mpirun` with more than one rank Open
    /// MPI's ranks, among which the cores of each machine are shared (``Parallel`` workers and
    /// OpenBLAS threads per rank); otherwise nothing changes.
    /// - Parameter timeout: seconds a collective may wait for the other ranks.
    public static func communicator(timeout: Double) throws -> any Communicator {
        let communicator = try Distributed.communicator(timeout: timeout)
        if communicator.isDistributed {
            let threads = communicator.threadsPerRank
            Parallel.workerCount = threads
            BLAS.threadCount = threads
        }
        return communicator
    }
}
