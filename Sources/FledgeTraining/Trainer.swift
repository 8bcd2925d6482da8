import Foundation
import FledgeData
import FledgeDistributed
import FledgeDraft
import FledgeNN
import FledgeTensor

/// The training loop: micro-batches of tokenised samples → target features (online or from
/// the cache) → the draft algorithm → AdamW with warmup + decay, gradient-norm clipping and
/// accumulation; checkpoints with exact resume, evaluation, best-τ tracking, export.
///
/// The data order of epoch e is a permutation seeded by (seed, e); a checkpoint records the
/// epoch and the next micro-batch, so a resumed run reads the same batches, applies the same
/// updates and logs the same losses as a run never stopped.
///
/// Data parallel over N ranks (a ``Communicator``): the micro-batches are those of one rank
/// with N × `batch_size` rows (and N × `total_seq_len`); rank r computes the features and
/// gradients of its contiguous slice of each, scaled by its slice's share of the loss
/// denominator, the gradients are summed over the ranks, and every rank applies the same
/// clipping and AdamW step, so N ranks × b rows train as one rank with N·b rows. Evaluation
/// batches are split the same way and their metrics summed; rank 0 writes checkpoints, the
/// best export and the final export, and on resume sends the checkpoint to the others, so the
/// world size may change between runs as long as the global batch stays the same.
public final class Trainer {
    /// One log event.
    public struct Event {
        public var kind: String  // "train" or "eval"
        public var step: Int
        public var totalSteps: Int
        public var epoch: Double
        public var values: [String: Double]
    }

    public let configuration: TrainingConfiguration
    public let algorithm: DraftAlgorithm
    let source: FeatureSource
    let train: [TokenizedSample]
    let evaluation: [TokenizedSample]
    let save: URL
    let target: Eagle3Export.TargetInfo
    public let communicator: any Communicator

    public init(
        configuration: TrainingConfiguration, algorithm: DraftAlgorithm, source: FeatureSource,
        train: [TokenizedSample],
        evaluation: [TokenizedSample], target: Eagle3Export.TargetInfo, communicator: any Communicator = SingleProcess()
    ) throws {
        guard !train.isEmpty else {
            throw TrainingError("no training samples", hint: "check --data-path and the tokenisation skip counts")
        }
        self.configuration = configuration
        self.algorithm = algorithm
        self.source = source
        self.train = train
        self.evaluation = evaluation
        self.save = URL(fileURLWithPath: configuration.savePath)
        self.target = target
        self.communicator = communicator
    }

    /// Rows of a micro-batch over all ranks.
    var globalRows: Int { min(configuration.batchSize, algorithm.maxBatch) * communicator.size }

    /// This rank's contiguous slice of a global micro-batch (rank 0's is never empty).
    func shard(_ batch: [Int]) -> ArraySlice<Int> {
        let size = (batch.count + communicator.size - 1) / communicator.size
        let start = min(batch.count, communicator.rank * size)
        return batch[start..<min(batch.count, start + size)]
    }

    // MARK: data order

    /// The micro-batches of `epoch`: sample indices in a seeded order, grouped by rows
    /// (`batch_size`) and by the token budget (`total_seq_len`, rows × longest row).
    public func microBatches(epoch: Int) -> [[Int]] {
        var generator = SeededGenerator(seed: configuration.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var order = Array(train.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            order.swapAt(i, Int(generator.next() % UInt64(i + 1)))
        }
        var batches: [[Int]] = []
        var current: [Int] = []
        var longest = 0
        let rowsLimit = globalRows
        let budget = configuration.totalSequenceLength.map { $0 * communicator.size }
        for index in order {
            let length = train[index].ids.count
            let candidate = max(longest, length)
            let overBudget = budget.map { candidate * (current.count + 1) > $0 } ?? false
            if !current.isEmpty && (current.count == rowsLimit || overBudget) {
                batches.append(current)
                current = []
                longest = 0
            }
            current.append(index)
            longest = max(longest, length)
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }

    /// Optimizer steps in the run.
    public var totalSteps: Int {
        let perEpoch =
            (microBatches(epoch: 0).count + configuration.gradientAccumulation - 1) / configuration.gradientAccumulation
        return configuration.maxSteps ?? perEpoch * configuration.epochs
    }

    /// A fingerprint of what fixes the batches, checked on resume.
    var dataFingerprint: String {
        let ids = train.map(\.id).joined(separator: "\u{1}")
        // The global batch (rows and token budget over all ranks), not the per-rank one.
        let budget = configuration.totalSequenceLength.map { $0 * communicator.size } ?? 0
        return Fingerprint.of(
            Data(
                ("\(ids)|\(configuration.seed)|\(globalRows)|\(budget)|"
                    + "\(configuration.gradientAccumulation)|\(configuration.maxLength)").utf8))
    }

    // MARK: the loop

    /// Runs (or resumes) the training. `onEvent` sees every log record; throwing from it stops
    /// the run after the current step (tests use that to simulate a kill).
    @discardableResult
    public func run(onEvent: (Event) throws -> Void = { _ in }) throws -> TrainingState {
        let c = configuration
        let parameters = algorithm.parameters
        let total = totalSteps
        let schedule = LearningRateSchedule(
            kind: c.scheduler, peak: c.learningRate, warmupSteps: Int(Float(total) * c.warmupRatio), totalSteps: total)
        var state = TrainingState(
            method: c.method, step: 0, epoch: 0, batchInEpoch: 0,
            optimizer: AdamW(learningRate: c.learningRate, beta1: c.beta1, beta2: c.beta2, weightDecay: c.weightDecay),
            dataFingerprint: dataFingerprint, featureLayers: algorithm.featureLayers, precision: algorithm.precision)
        if communicator.isRoot, c.resume, let latest = try Checkpoint.list(save).last {
            let restored = try Checkpoint.restore(latest.url, into: parameters)
            guard restored.dataFingerprint == state.dataFingerprint, restored.method == c.method,
                restored.featureLayers == state.featureLayers
            else {
                throw TrainingError(
                    "\(latest.url.path): the checkpoint was made with other data, batching, method or feature layers",
                    hint:
                        "use another --save-path, or --no-resume-from-checkpoint to start fresh; "
                        + "across world sizes keep ranks × --batch-size the same"
                )
            }
            state = restored
            // A run may resume in another precision (e.g. an fp32 checkpoint on a bf16 machine):
            // the master weights and moments are fp32 either way; the state records the latest.
            state.precision = algorithm.precision
        }
        if communicator.isDistributed {
            // Every rank starts from rank 0's parameters, moments and state.
            for (buffer, what) in [
                (parameters.parameters, "parameters"), (parameters.firstMoments, "first moments"),
                (parameters.secondMoments, "second moments"),
            ] {
                try communicator.broadcast(
                    buffer.pointer, count: parameters.count, root: 0, what: "broadcast of the \(what)")
            }
            var bytes = communicator.isRoot ? [UInt8](try JSONEncoder().encode(state)) : []
            try communicator.broadcast(&bytes, root: 0, what: "broadcast of the training state")
            state = try JSONDecoder().decode(TrainingState.self, from: Data(bytes))
        }
        while state.step < total && state.epoch < c.epochs {
            let batches = microBatches(epoch: state.epoch)
            while state.batchInEpoch < batches.count && state.step < total {
                let group = Array(
                    batches[state.batchInEpoch..<min(batches.count, state.batchInEpoch + c.gradientAccumulation)])
                let start = DispatchTime.now().uptimeNanoseconds
                parameters.zeroGradients()
                var metrics = DraftMetrics()
                for (index, batch) in group.enumerated() {
                    let slice = shard(batch)
                    guard !slice.isEmpty else { continue }  // a last micro-batch with fewer rows than ranks
                    let samples = slice.map { train[$0] }
                    let features = try source.features(for: samples)
                    let seed = (c.seed &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(state.step) << 16) ^ UInt64(index)
                    let context = StepContext(
                        seed: seed, firstRow: slice.startIndex,
                        paddedLength: batch.map { train[$0].ids.count }.max() ?? 0)
                    metrics.merge(
                        step(
                            features, samples: samples, whole: batch.map { train[$0] }, accumulation: group.count,
                            train: true, context: context))
                }
                if communicator.isDistributed {
                    try communicator.allreduceSum(
                        parameters.gradients.pointer, count: parameters.count,
                        what: "gradient sum of step \(state.step + 1)")
                    metrics = try reduce(metrics, what: "metrics of step \(state.step + 1)")
                }
                let norm = GradientClipping.clip(
                    parameters.gradients.pointer, count: parameters.count,
                    maxNorm: c.maxGradNorm ?? algorithm.defaultGradientNormLimit)
                if let limit = c.gradClip ?? algorithm.defaultGradientValueLimit {
                    GradientClipping.clipValues(parameters.gradients.pointer, count: parameters.count, limit: limit)
                }
                let rate = schedule.rate(state.step)
                state.optimizer.learningRate = rate
                state.optimizer.update(parameters)
                state.step += 1
                state.batchInEpoch += group.count
                if state.batchInEpoch >= batches.count {
                    state.epoch += 1
                    state.batchInEpoch = 0
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                var values = algorithm.summarize(metrics)
                values["lr"] = Double(rate)
                values["grad_norm"] = Double(norm)
                values["step_seconds"] = seconds
                values["tokens_per_second"] = (values["tokens"] ?? 0) / seconds
                let epoch = Double(state.epoch) + Double(state.batchInEpoch) / Double(max(batches.count, 1))
                if state.step % c.evalInterval == 0 || state.step == total {
                    try evaluate(&state, epoch: epoch, total: total, onEvent: onEvent)
                }
                let endOfEpoch = state.batchInEpoch == 0
                if communicator.isRoot && (state.step % c.saveInterval == 0 || endOfEpoch || state.step == total) {
                    _ = try Checkpoint.save(
                        parameters: parameters, d2t: algorithm.d2t, t2d: algorithm.t2d, state: state, to: save,
                        keep: c.keepCheckpoints)
                }
                try onEvent(Event(kind: "train", step: state.step, totalSteps: total, epoch: epoch, values: values))
                if endOfEpoch { break }
            }
        }
        if communicator.isRoot {
            try algorithm.export(
                to: save.appendingPathComponent("export"), format: algorithm.method.exportFormats[0], target: target)
        }
        return state
    }

    /// The algorithm's step on this rank's `samples` of the micro-batch `whole` (one of
    /// `accumulation`): on several ranks the gradient and the losses are weighted by the
    /// slice's share of the loss denominator (the micro-batch counted once, on rank 0), so
    /// their sums are the whole's.
    func step(
        _ features: TargetFeatures, samples: [TokenizedSample], whole: [TokenizedSample], accumulation: Int,
        train: Bool,
        context: StepContext
    ) -> DraftMetrics {
        guard communicator.isDistributed else {
            return algorithm.step(features, scale: 1 / Float(accumulation), train: train, context: context)
        }
        let share = algorithm.lossDenominator(samples) / algorithm.lossDenominator(whole)
        var part = algorithm.step(features, scale: Float(share / Double(accumulation)), train: train, context: context)
        part.shard(weight: share, countsMicroBatch: communicator.isRoot)
        return part
    }

    /// Sums metrics over the ranks (the keys are rank 0's: every rank with rows has the same).
    func reduce(_ metrics: DraftMetrics, what: String) throws -> DraftMetrics {
        var keys = communicator.isRoot ? [UInt8](metrics.sums.keys.sorted().joined(separator: "\n").utf8) : []
        try communicator.broadcast(&keys, root: 0, what: what + " (names)")
        let names = String(decoding: keys, as: UTF8.self).split(separator: "\n").map(String.init)
        var values = names.map { metrics.sums[$0] ?? 0 } + names.map { metrics.counts[$0] ?? 0 }
        try communicator.allreduceSum(&values, what: what)
        var reduced = DraftMetrics()
        for (i, name) in names.enumerated() { reduced.add(name, values[i], count: values[names.count + i]) }
        reduced.means = metrics.means
        return reduced
    }

    /// Metrics on the eval split (no gradients); keeps the best export by simulated τ.
    func evaluate(_ state: inout TrainingState, epoch: Double, total: Int, onEvent: (Event) throws -> Void) throws {
        guard !evaluation.isEmpty else { return }
        // Batches of the global size; each rank evaluates its slice, as in training.
        var metrics = DraftMetrics()
        // Per batch (per sample when a batch is one sample), each position's accuracy and loss,
        // for their spread across the eval split.
        var perBatch: [[String: Double]] = []
        var start = 0
        while start < evaluation.count {
            let batch = Array(start..<min(evaluation.count, start + globalRows))
            let samples = shard(batch).map { evaluation[$0] }
            start += batch.count
            guard !samples.isEmpty else { continue }
            let features = try source.features(for: samples)
            let batchMetrics = step(
                features, samples: samples, whole: batch.map { evaluation[$0] }, accumulation: 1, train: false,
                context: StepContext(paddedLength: features.length))
            perBatch.append(batchMetrics.values)
            metrics.merge(batchMetrics)
        }
        if communicator.isDistributed { metrics = try reduce(metrics, what: "evaluation at step \(state.step)") }
        var values = algorithm.summarize(metrics)
        // The standard deviation across this rank's eval batches of every per-position accuracy
        // and loss ("acc/k" → "acc_std/k"); on one rank with one sample per batch, across samples.
        for key in values.keys where key.hasPrefix("acc/") || key.hasPrefix("loss/") {
            let series = perBatch.compactMap { $0[key] }
            guard series.count > 1 else { continue }
            let mean = series.reduce(0, +) / Double(series.count)
            let variance = series.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(series.count - 1)
            values[key.replacingOccurrences(of: "/", with: "_std/")] = variance.squareRoot()
        }
        let tau = Float(values["tau"] ?? 0)
        if state.bestTau.map({ tau > $0 }) ?? true {
            state.bestTau = tau
            state.bestStep = state.step
            if communicator.isRoot {
                try algorithm.export(
                    to: save.appendingPathComponent("best"), format: algorithm.method.exportFormats[0], target: target)
            }
        }
        try onEvent(Event(kind: "eval", step: state.step, totalSteps: total, epoch: epoch, values: values))
    }
}
