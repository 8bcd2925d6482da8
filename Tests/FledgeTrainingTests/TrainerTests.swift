import Foundation
import Testing
@testable import FledgeTraining
import FledgeData
import FledgeDraft
import FledgeLlama
import FledgeTensor

@Suite struct TrainerTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Setup {
        var model: LlamaModel
        var samples: [TokenizedSample]
        var vocabulary: DraftVocabulary
    }

    static func setup() throws -> Setup {
        let model = try LlamaModel.load(
            from: packageRoot.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        var generator = SeededGenerator(seed: 8)
        let samples = (0..<12).map { index -> TokenizedSample in
            let length = 6 + Int(generator.next() % 15)
            return TokenizedSample(
                id: "s\(index)", ids: (0..<length).map { _ in Int32(generator.next() % 160) },
                lossMask: (0..<length).map { $0 < 2 ? 0 : 1 })
        }
        var counts = [Int](repeating: 0, count: 160)
        for sample in samples { for id in sample.ids { counts[Int(id)] += 1 } }
        return Setup(
            model: model, samples: samples, vocabulary: try DraftVocabulary.build(counts: counts, draftSize: 32))
    }

    func trainer(
        _ setup: Setup, save: URL, resume: Bool = true, maxSteps: Int? = nil, source: FeatureSource? = nil,
        batchSize: Int = 2, evaluation: Int = 2, layers: Int = 1
    ) throws -> Trainer {
        var configuration = TrainingConfiguration()
        configuration.savePath = save.path
        configuration.epochs = 2
        configuration.batchSize = batchSize
        configuration.gradientAccumulation = 2
        configuration.saveInterval = 2
        configuration.evalInterval = 3
        configuration.learningRate = 1e-3
        configuration.tttSteps = 3
        configuration.keepCheckpoints = 2
        configuration.resume = resume
        configuration.maxSteps = maxSteps
        var draftConfiguration = Eagle3Configuration(target: setup.model.configuration, draftVocabularySize: 32)
        draftConfiguration.layerCount = layers
        let draft = Eagle3Draft(
            configuration: draftConfiguration, embedding: setup.model.embedding, d2t: setup.vocabulary.d2t,
            t2d: setup.vocabulary.t2d)
        draft.initialize(seed: 3)
        let algorithm = Eagle3Algorithm(
            draft: draft, targetHead: setup.model.head, maxBatch: 2, maxLength: 32, steps: 3, decay: 0.8)
        return try Trainer(
            configuration: configuration, algorithm: algorithm,
            source: try source ?? OnlineFeatureSource(model: setup.model, layers: [0, 1, 2]),
            train: Array(setup.samples.prefix(10)), evaluation: Array(setup.samples.suffix(evaluation)),
            target: .init(name: "tiny"))
    }

    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A two-layer draft trains, and its checkpoints load back as two-layer drafts with the
    /// same parameters (the layer count is read from the stored names).
    @Test func aTwoLayerDraftTrainsAndItsCheckpointsLoadBack() throws {
        let setup = try Self.setup()
        let directory = try temporary()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = try trainer(setup, save: directory, maxSteps: 2, layers: 2)
        try run.run()
        let checkpoint = directory.appendingPathComponent("checkpoints/step-0000002")
        let loaded = try #require(try DraftMethods.load(checkpoint, target: setup.model) as? Eagle3Draft)
        #expect(loaded.configuration.layerCount == 2)
        let trained = try #require(run.algorithm.draft as? Eagle3Draft)
        #expect(loaded.parameters.parameters.values == trained.parameters.parameters.values)
        #expect(trained.parameters.entries.contains { $0.name == "layers.1.mlp.down_proj.weight" })
    }

    /// With one sample per eval batch, each position's accuracy and loss carry their standard
    /// deviation across the eval samples, and the recipe summary's table shows them.
    @Test func evaluationReportsTheSpreadAcrossSamples() throws {
        let setup = try Self.setup()
        var evals: [MetricsRecord] = []
        try trainer(setup, save: try temporary(), maxSteps: 3, batchSize: 1, evaluation: 4).run {
            if $0.kind == "eval" {
                evals.append(MetricsRecord(kind: $0.kind, step: $0.step, epoch: 0, values: $0.values, time: 0))
            }
        }
        let last = try #require(evals.last)
        #expect(last.positions("acc_std").count == 3 && last.positions("loss_std").count == 3)
        #expect(
            last.positions("acc_std").allSatisfy { $0 >= 0 && $0 <= 1 }
                && last.positions("loss_std").allSatisfy { $0 > 0 })
    }

    @Test func aKilledRunResumesWithTheSameLosses() throws {
        let setup = try Self.setup()
        var straight: [Int: Double] = [:]
        let first = try trainer(setup, save: try temporary())
        #expect(first.totalSteps == 6)  // 5 micro-batches per epoch → 3 steps × 2 epochs
        try first.run { if $0.kind == "train" { straight[$0.step] = $0.values["loss"] } }
        #expect(straight.count == 6)

        struct Killed: Error {}
        let save = try temporary()
        var resumed: [Int: Double] = [:]
        #expect(throws: Killed.self) {
            try trainer(setup, save: save).run { event in
                if event.kind == "train" { resumed[event.step] = event.values["loss"] }
                if event.step == 5 { throw Killed() }  // after step 5; the last checkpoint is step 4
            }
        }
        #expect(try Checkpoint.list(save).map(\.step) == [3, 4])  // end of epoch 0 (3) and step 4; pruned to 2
        try trainer(setup, save: save).run { if $0.kind == "train" { resumed[$0.step] = $0.values["loss"] } }
        #expect(resumed.keys.sorted() == Array(1...6))
        for step in 1...6 { #expect(resumed[step]?.bitPattern == straight[step]?.bitPattern, "step \(step)") }
        // The run exported its draft, and the export loads.
        let loaded = try Eagle3Export.load(
            from: save.appendingPathComponent("export"), embedding: setup.model.embedding)
        #expect(loaded.configuration.draftVocabularySize == 32)
        #expect(FileManager.default.fileExists(atPath: save.appendingPathComponent("best/config.json").path))
    }

    @Test func freshStartIgnoresCheckpointsAndForeignOnesAreRefused() throws {
        let setup = try Self.setup()
        let save = try temporary()
        try trainer(setup, save: save, maxSteps: 2).run()
        var steps: [Int] = []
        try trainer(setup, save: save, resume: false, maxSteps: 1).run {
            if $0.kind == "train" { steps.append($0.step) }
        }
        #expect(steps == [1])
        var other = setup
        other.samples = Array(other.samples.reversed())
        #expect { try trainer(other, save: save).run() } throws: { "\($0)".contains("other data") }
    }

    /// Online features rounded to bf16, as the cache stores them.
    final class RoundedSource: FeatureSource {
        let inner: FeatureSource
        init(_ inner: FeatureSource) { self.inner = inner }
        var hiddenSize: Int { inner.hiddenSize }
        var layers: [Int] { inner.layers }
        func features(for samples: [TokenizedSample]) throws -> TargetFeatures {
            let features = try inner.features(for: samples)
            for tensor in [features.auxiliary, features.lastHidden] {
                for i in 0..<tensor.count { tensor[i] = HalfPrecision.float(bf16: HalfPrecision.bf16Bits(tensor[i])) }
            }
            return features
        }
    }

    /// Offline training reads the features from a cache: the same trainer code, only the
    /// source differs, and the losses equal online training on bf16-rounded features.
    @Test func offlineTrainingFromTheCacheMatchesOnline() throws {
        let setup = try Self.setup()
        let cacheDirectory = try temporary()
        let online = try OnlineFeatureSource(model: setup.model, layers: [0, 1, 2])
        let writer = try FeatureCacheWriter(
            directory: cacheDirectory,
            manifest: FeatureCacheManifest(
                modelFingerprint: "m", dataFingerprint: "d", layers: [0, 1, 2], hiddenSize: 64), shardTokens: 50)
        try FeatureCacheBuilder.build(samples: setup.samples, source: online, writer: writer)
        var onlineLosses: [Double] = [], offlineLosses: [Double] = []
        try trainer(setup, save: try temporary(), maxSteps: 4, source: RoundedSource(online))
            .run { if $0.kind == "train" { onlineLosses.append($0.values["loss"]!) } }
        try trainer(
            setup, save: try temporary(), maxSteps: 4, source: try CachedFeatureSource(directory: cacheDirectory)
        )
        .run { if $0.kind == "train" { offlineLosses.append($0.values["loss"]!) } }
        #expect(offlineLosses.count == 4)
        for (a, b) in zip(onlineLosses, offlineLosses) { #expect(abs(a - b) / a < 1e-4, "online \(a) offline \(b)") }
    }

    /// EAGLE-1 through the same trainer (`--method eagle1`): value clipping and no norm
    /// clipping by default, noise on the input features, the loss falls, a killed run resumes
    /// with the same losses (the noise is seeded by the step), the eval records carry the
    /// chained accuracies and their τ, and the export loads back.
    @Test func eagle1TrainsResumesAndExportsThroughTheSameTrainer() throws {
        let setup = try Self.setup()
        func eagle1Trainer(save: URL) throws -> Trainer {
            var configuration = TrainingConfiguration()
            configuration.method = "eagle1"
            configuration.savePath = save.path
            configuration.epochs = 3
            configuration.batchSize = 2
            configuration.saveInterval = 2
            configuration.evalInterval = 5
            configuration.learningRate = 3e-3
            let c = setup.model.configuration
            let draft = Eagle1Draft(
                configuration: Eagle1Configuration(target: c), embedding: setup.model.embedding, head: setup.model.head)
            draft.initialize(seed: 5)
            let algorithm = Eagle1Algorithm(draft: draft, maxBatch: 2, maxLength: 32)
            #expect(algorithm.defaultGradientValueLimit == 0.5 && algorithm.defaultGradientNormLimit == .infinity)
            return try Trainer(
                configuration: configuration, algorithm: algorithm,
                source: try OnlineFeatureSource(model: setup.model, layers: [0, 1, 2]),
                train: Array(setup.samples.prefix(10)), evaluation: Array(setup.samples.suffix(2)),
                target: .init(name: "tiny"))
        }
        var straight: [Int: Double] = [:]
        var evaluations: [[String: Double]] = []
        try eagle1Trainer(save: try temporary()).run {
            if $0.kind == "train" { straight[$0.step] = $0.values["loss"] } else { evaluations.append($0.values) }
        }
        #expect(straight.count == 15 && evaluations.count == 3)
        for values in evaluations {
            // 7 chained steps (--ttt-steps' default); τ = 1 + Σₖ Πⱼ≤ₖ cond_acc/j.
            var product = 1.0, tau = 1.0
            for k in 0..<7 {
                let conditional = try #require(values["cond_acc/\(k)"], "cond_acc/\(k)")
                product *= conditional
                tau += product
                if k > 0 { #expect(values["acc/\(k)"] != nil) }
            }
            #expect(values["cond_acc/0"] == values["acc/0"], "step 0 of the chain is the trainer's top-1")
            #expect(abs(values["tau"]! - tau) < 1e-12 && values["acc/7"] == nil)
        }
        let early = (1...3).map { straight[$0]! }.reduce(0, +), late = (13...15).map { straight[$0]! }.reduce(0, +)
        #expect(late < 0.95 * early, "losses \(straight.sorted { $0.key < $1.key }.map(\.value))")

        struct Killed: Error {}
        let save = try temporary()
        var resumed: [Int: Double] = [:]
        #expect(throws: Killed.self) {
            try eagle1Trainer(save: save).run { event in
                if event.kind == "train" { resumed[event.step] = event.values["loss"] }
                if event.step == 7 { throw Killed() }
            }
        }
        try eagle1Trainer(save: save).run { if $0.kind == "train" { resumed[$0.step] = $0.values["loss"] } }
        for step in 1...15 { #expect(resumed[step]?.bitPattern == straight[step]?.bitPattern, "step \(step)") }
        let loaded = try Eagle1Export.load(
            from: save.appendingPathComponent("export"), embedding: setup.model.embedding, head: setup.model.head)
        #expect(!loaded.configuration.bias && loaded.configuration.hiddenSize == setup.model.configuration.hiddenSize)
        let config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: save.appendingPathComponent("export/config.json")))
            as? [String: Any]
        #expect(
            config?["architectures"] as? [String] == ["LlamaForCausalLM"] && config?["num_hidden_layers"] as? Int == 1)
    }

    @Test func schedulesWarmUpThenDecay() {
        let cosine = LearningRateSchedule(kind: .cosine, peak: 1, warmupSteps: 10, totalSteps: 110)
        #expect(cosine.rate(0) == 0.1 && cosine.rate(9) == 1)
        #expect(abs(cosine.rate(60) - 0.5) < 1e-6 && cosine.rate(110) < 1e-6)
        let linear = LearningRateSchedule(kind: .linear, peak: 2, warmupSteps: 0, totalSteps: 100)
        #expect(linear.rate(50) == 1 && linear.rate(100) == 0)
    }

    @Test func configFilesRejectUnknownKeys() throws {
        let directory = try temporary()
        let yaml = directory.appendingPathComponent("run.yaml")
        try "lr: 3e-4\nttt_steps: 5\nloggers: [jsonl, tensorboard]\nsave_path: \"runs/x\"  # comment\n".write(
            to: yaml, atomically: true, encoding: .utf8)
        let parsed = try TrainingConfiguration.load(yaml)
        #expect(
            parsed.learningRate == 3e-4 && parsed.tttSteps == 5 && parsed.loggers == ["jsonl", "tensorboard"]
                && parsed.savePath == "runs/x")
        let json = directory.appendingPathComponent("run.json")
        try #"{"lr": 1e-4, "learning_rate_typo": 2}"#.write(to: json, atomically: true, encoding: .utf8)
        #expect { try TrainingConfiguration.load(json) } throws: { "\($0)".contains("learning_rate_typo") }
        try #"{"ttt_steps": 0}"#.write(to: json, atomically: true, encoding: .utf8)
        #expect { try TrainingConfiguration.load(json) } throws: { "\($0)".contains("ttt_steps") }
    }

    /// `precision` takes the peers' spellings; anything else names the key and the value.
    @Test func precisionKeyReadsThePeersSpellings() throws {
        let directory = try temporary()
        let yaml = directory.appendingPathComponent("run.yaml")
        for (spelling, expected) in [("bf16", Precision.bf16), ("bfloat16", .bf16), ("fp32", .fp32), ("no", .fp32)] {
            try "precision: \(spelling)\n".write(to: yaml, atomically: true, encoding: .utf8)
            #expect(try TrainingConfiguration.load(yaml).precision == expected)
        }
        try "lr: 1e-4\n".write(to: yaml, atomically: true, encoding: .utf8)
        #expect(try TrainingConfiguration.load(yaml).precision == nil)
        try "precision: fp8\n".write(to: yaml, atomically: true, encoding: .utf8)
        #expect { try TrainingConfiguration.load(yaml) } throws: {
            "\($0)".contains("precision") && "\($0)".contains("fp8")
        }
    }
}
