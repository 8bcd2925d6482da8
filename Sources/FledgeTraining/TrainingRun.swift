import Foundation
import FledgeData
import FledgeDistributed
import FledgeDraft
import FledgeLlama
import FledgeTensor

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
    public static func run(_ c: TrainingConfiguration, defaultTarget: URL?, communicator: any Communicator = SingleProcess(),
                           log rootLog: (String) -> Void) throws -> Summary {
        func log(_ line: String) { if communicator.isRoot { rootLog(line) } }
        guard let targetURL = c.targetModelPath.map({ URL(fileURLWithPath: $0) }) ?? defaultTarget else {
            throw TrainingError("no target model", hint: "pass --target-model-path (a Hugging Face folder or a .gguf file)")
        }
        guard let dataPath = c.dataPath else { throw TrainingError("no training data", hint: "pass --data-path (prepared by fledge data prepare)") }
        let target = try TargetModel.load(from: targetURL)
        let tokenizer = ConversationTokenizer(format: target.format, maxLength: c.maxLength, dropLong: c.dropLong, systemPrompt: c.systemPrompt)
        let data = URL(fileURLWithPath: dataPath)
        var train = TokenizedDataset.make(try ConversationFile.read(data), tokenizer: tokenizer)
        if let limit = c.maxTrainSamples { train.samples = Array(train.samples.prefix(limit)) }
        var evaluation: [TokenizedSample] = []
        let evalURL = c.evalDataPath.map { URL(fileURLWithPath: $0) } ?? data.appendingPathComponent("eval.jsonl")
        if FileManager.default.fileExists(atPath: evalURL.path) {
            evaluation = TokenizedDataset.make(try ConversationFile.read(evalURL), tokenizer: tokenizer).samples
            if let limit = c.maxEvalSamples { evaluation = Array(evaluation.prefix(limit)) }
        }
        log("\(train.samples.count) training samples (\(train.tokenCount) tokens, \(train.maskedCount) trained), \(evaluation.count) eval samples"
            + (train.skipped.isEmpty ? "" : "; skipped: " + train.skipped.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")))
        let source: FeatureSource
        if let cache = c.cachePath {
            source = try CachedFeatureSource(directory: URL(fileURLWithPath: cache), modelFingerprint: try Fingerprint.of(targetURL))
            log("offline: features from \(cache)")
        } else {
            source = try OnlineFeatureSource(model: target.model)
            log("online: the target runs in the training loop")
        }
        let longest = max(train.samples.map(\.ids.count).max() ?? 1, evaluation.map(\.ids.count).max() ?? 1)
        // The registry of draft algorithms: the only place that knows which one runs.
        let algorithm: any DraftAlgorithm
        switch c.method {
        case Eagle1Algorithm.name:
            let settings = c.eagle1Losses
            let draft = Eagle1Draft(configuration: Eagle1Configuration(target: target.model.configuration, bias: settings.fcBias),
                                    embedding: target.model.embedding, head: target.model.head)
            draft.initialize(seed: c.seed)
            algorithm = Eagle1Algorithm(draft: draft, maxBatch: c.batchSize, maxLength: longest, vWeight: settings.vWeight, pWeight: settings.pWeight,
                                        noise: settings.noise, chainSteps: c.tttSteps)
        default:
            let vocabularySize = target.model.configuration.vocabularySize
            let vocabulary: DraftVocabulary
            if let d2t = c.d2tPath {
                vocabulary = try DraftVocabulary.load(d2t: URL(fileURLWithPath: d2t), t2d: c.t2dPath.map { URL(fileURLWithPath: $0) }, targetSize: vocabularySize)
            } else {
                vocabulary = try DraftVocabulary.build(counts: train.maskedTokenCounts(vocabularySize: vocabularySize), draftSize: min(c.draftVocabSize ?? TrainingConfiguration.defaultDraftVocabSize, vocabularySize))
            }
            let configuration = Eagle3Configuration(target: target.model.configuration, draftVocabularySize: vocabulary.draftSize)
            let draft = Eagle3Draft(configuration: configuration, embedding: target.model.embedding, d2t: vocabulary.d2t, t2d: vocabulary.t2d)
            draft.initialize(seed: c.seed)
            if c.initHeadFromTarget { draft.initializeHead(fromTarget: target.model.head) }
            algorithm = Eagle3Algorithm(draft: draft, targetHead: target.model.head, maxBatch: c.batchSize, maxLength: longest,
                                        steps: c.tttSteps, decay: c.tttStepLossDecay)
        }
        let info = Eagle3Export.TargetInfo(name: targetURL.lastPathComponent, bosTokenID: target.model.configuration.bosTokenID,
                                           eosTokenID: target.model.configuration.eosTokenIDs.first)
        let trainer = try Trainer(configuration: c, algorithm: algorithm, source: source, train: train.samples, evaluation: evaluation, target: info,
                                  communicator: communicator)
        if communicator.isDistributed {
            log("data parallel: \(communicator.size) ranks × \(min(c.batchSize, algorithm.maxBatch)) rows per micro-batch, \(Parallel.workerCount) threads per rank")
        }
        let save = URL(fileURLWithPath: c.savePath)
        let logDirectory = URL(fileURLWithPath: c.logDir ?? save.appendingPathComponent("logs").path)
        let resumedStep = c.resume ? try Checkpoint.list(save).last?.step : nil
        var loggers: [any MetricsLogger] = []
        let loggerNames = communicator.isRoot ? c.loggers : []
        // On resume, earlier records stay (those past the checkpoint are dropped) and wall
        // times continue from the first run's start.
        let previous = (try? JSONLLogger.read(from: logDirectory.appendingPathComponent("metrics.jsonl")))?.filter { $0.step <= (resumedStep ?? -1) }
        let elapsedBefore = resumedStep == nil ? 0 : (previous?.last?.time ?? 0)
        if loggerNames.contains("jsonl") { loggers.append(try JSONLLogger(directory: logDirectory, resumedStep: resumedStep)) }
        if loggerNames.contains("tensorboard") {
            loggers.append(try TensorBoardLogger(directory: logDirectory.appendingPathComponent("tensorboard"),
                                                 startWallTime: Date().timeIntervalSince1970 - elapsedBefore))
        }
        let logger = CompositeLogger(loggers)
        var progress = ProgressReporter(totalSteps: trainer.totalSteps)
        let start = Date()
        log(String(format: "%d optimizer steps, %@ draft, %d parameters, %.0f MB of planned activations%@", trainer.totalSteps, c.method, algorithm.parameters.count,
                   Double(algorithm.activationBytes) / 1e6, resumedStep.map { ", resuming after step \($0)" } ?? ""))
        let state = try trainer.run { event in
            let record = MetricsRecord(kind: event.kind, step: event.step, epoch: event.epoch, values: event.values,
                                       time: elapsedBefore + Date().timeIntervalSince(start))
            try logger.log(record)
            guard communicator.isRoot else { return }
            if event.kind == "train" { progress.report(record) } else {
                ProgressReporter.writeToStandardError(String(format: "\neval at step %d: loss %.4f, τ %.3f\n", event.step, event.values["loss"] ?? 0, event.values["tau"] ?? 0))
            }
        }
        if communicator.isRoot { progress.finish() }
        try logger.close()
        var reportURL: URL?
        let jsonl = logDirectory.appendingPathComponent("metrics.jsonl")
        if communicator.isRoot, let records = try? JSONLLogger.read(from: jsonl) {
            let url = save.appendingPathComponent("report.html")
            try TrainingReport.write(records: records, title: c.runName ?? "Fledge \(c.method) draft", summary: [
                ("target", targetURL.lastPathComponent), ("samples", "\(train.samples.count) train, \(evaluation.count) eval"),
                ("steps", "\(state.step)"), ("best τ (eval)", state.bestTau.map { String(format: "%.3f at step %d", $0, state.bestStep ?? 0) } ?? "–"),
                ("method", c.method), ("TTT / chained steps", "K = \(c.tttSteps)"), ("lr", "\(c.learningRate) \(c.scheduler.rawValue), warmup \(c.warmupRatio)"),
            ], to: url)
            reportURL = url
        }
        return Summary(state: state, trainSamples: train.samples.count, evalSamples: evaluation.count,
                       exportPath: save.appendingPathComponent("export"), reportPath: reportURL, logPath: logDirectory)
    }
}

extension TrainBenchmark {
    /// Median seconds of the target's forward with the EAGLE-3 feature taps over `length` random tokens.
    public static func targetForwardSeconds(model: LlamaModel, length: Int, runs: Int) throws -> Double {
        var generator = SeededGenerator(seed: 17)
        let sample = TokenizedSample(id: "bench", ids: (0..<length).map { _ in Int32(generator.next() % UInt64(model.configuration.vocabularySize)) },
                                     lossMask: [UInt8](repeating: 1, count: length))
        let source = try OnlineFeatureSource(model: model)
        _ = try source.features(for: [sample])
        var times: [Double] = []
        for _ in 0..<max(1, runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try source.features(for: [sample])
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return times.sorted()[times.count / 2]
    }
}
