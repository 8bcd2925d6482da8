import Foundation
import Testing
@testable import FledgeData
import FledgeLlama
import FledgeTensor
import FledgeWeights

/// Features computed one sample at a time, so that a sample's features do not depend on the
/// batch it shares: OpenBLAS's sgemm may round a row differently in a product of another
/// shape (it does with this machine's AVX2 kernels), and these tests are about the cache's
/// bookkeeping, not about BLAS.
final class PerSampleFeatureSource: FeatureSource {
    let inner: OnlineFeatureSource
    init(_ inner: OnlineFeatureSource) { self.inner = inner }
    var hiddenSize: Int { inner.hiddenSize }
    var layers: [Int] { inner.layers }

    func features(for samples: [TokenizedSample]) throws -> TargetFeatures {
        let h = hiddenSize
        let length = samples.map(\.ids.count).max() ?? 0
        var result = TargetFeatures(
            batch: samples.count, length: length, lengths: samples.map(\.ids.count),
            ids: [Int32](repeating: 0, count: samples.count * length),
            lossMask: [UInt8](repeating: 0, count: samples.count * length),
            auxiliary: Tensor(zeros: [samples.count * length, 3 * h]),
            lastHidden: Tensor(zeros: [samples.count * length, h]))
        for (b, sample) in samples.enumerated() {
            let one = try inner.features(for: [sample])
            let n = sample.ids.count
            for t in 0..<n {
                result.ids[b * length + t] = one.ids[t]
                result.lossMask[b * length + t] = one.lossMask[t]
            }
            (result.auxiliary.pointer + b * length * 3 * h).update(from: one.auxiliary.pointer, count: n * 3 * h)
            (result.lastHidden.pointer + b * length * h).update(from: one.lastHidden.pointer, count: n * h)
        }
        return result
    }
}

@Suite struct FeatureCacheTests {
    static let tinyModel = DataTestAssets.packageRoot.appendingPathComponent(
        "Tests/FledgeLlamaTests/Fixtures/tiny-llama")

    func samples() -> [TokenizedSample] {
        var generator = SeededGenerator(seed: 4)
        return (0..<9).map { index in
            let length = 5 + Int(generator.next() % 26)
            let ids = (0..<length).map { _ in Int32(generator.next() % 160) }
            let mask = (0..<length).map { _ in UInt8(generator.next() % 2) }
            return TokenizedSample(id: "s\(index)", ids: ids, lossMask: mask)
        }
    }

    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func manifest(model: LlamaModel) -> FeatureCacheManifest {
        FeatureCacheManifest(
            modelFingerprint: "model-a", dataFingerprint: "data-a", layers: [0, 1, 2],
            hiddenSize: model.configuration.hiddenSize)
    }

    @Test func reloadIsBitExactAndTheSizeIsTheEstimate() throws {
        let model = try LlamaModel.load(from: Self.tinyModel)
        let source = PerSampleFeatureSource(try OnlineFeatureSource(model: model, layers: [0, 1, 2]))
        let directory = try temporary()
        let writer = try FeatureCacheWriter(directory: directory, manifest: manifest(model: model), shardTokens: 60)
        let all = samples()
        let estimate = FeatureCacheBuilder.estimatedBytes(samples: all, hiddenSize: 64, shardTokens: 60)
        try FeatureCacheBuilder.build(samples: all, source: source, writer: writer, batchTokens: 64)
        #expect(writer.manifest.shards.count > 2)
        // Tensor data on disk equals the estimate exactly; headers stay within its allowance.
        var payload = 0, total = 0
        for shard in writer.manifest.shards {
            let data = try Data(contentsOf: directory.appendingPathComponent(shard.file))
            let header = Int(data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            payload += data.count - 8 - header
            total += data.count
        }
        #expect(payload == estimate.payload)
        #expect(total <= estimate.total)
        // Reading back any subset equals the online features rounded to bf16, bit for bit.
        let cached = try CachedFeatureSource(
            directory: directory, modelFingerprint: "model-a", dataFingerprint: "data-a")
        let subset = [all[7], all[0], all[4]]
        let fromCache = try cached.features(for: subset)
        let online = try source.features(for: subset)
        #expect(
            fromCache.ids == online.ids && fromCache.lossMask == online.lossMask && fromCache.lengths == online.lengths)
        let round = { (t: Tensor) in t.values.map { HalfPrecision.float(bf16: HalfPrecision.bf16Bits($0)).bitPattern } }
        for (b, length) in online.lengths.enumerated() {
            let rows = (b * online.length)..<(b * online.length + length)
            let h = 64
            let auxiliarySame =
                Array(fromCache.auxiliary.values[(rows.lowerBound * 3 * h)..<(rows.upperBound * 3 * h)]).map(
                    \.bitPattern)
                == Array(round(online.auxiliary)[(rows.lowerBound * 3 * h)..<(rows.upperBound * 3 * h)])
            let lastSame =
                Array(fromCache.lastHidden.values[(rows.lowerBound * h)..<(rows.upperBound * h)]).map(\.bitPattern)
                == Array(round(online.lastHidden)[(rows.lowerBound * h)..<(rows.upperBound * h)])
            #expect(auxiliarySame && lastSame, "sample \(b) differs from the online features")
        }
    }

    @Test func aKilledBuildResumesToTheSameFiles() throws {
        let model = try LlamaModel.load(from: Self.tinyModel)
        let source = PerSampleFeatureSource(try OnlineFeatureSource(model: model, layers: [0, 1, 2]))
        let all = samples()
        let straight = try temporary(), resumed = try temporary()
        try FeatureCacheBuilder.build(
            samples: all, source: source,
            writer: try FeatureCacheWriter(directory: straight, manifest: manifest(model: model), shardTokens: 60))
        // "Kill" the build midway (an error from the progress callback), then start again.
        struct Killed: Error {}
        #expect(throws: Killed.self) {
            try FeatureCacheBuilder.build(
                samples: all, source: source,
                writer: try FeatureCacheWriter(directory: resumed, manifest: manifest(model: model), shardTokens: 60)
            ) {
                if $0.samplesDone >= 5 { throw Killed() }
            }
        }
        let again = try FeatureCacheWriter(directory: resumed, manifest: manifest(model: model), shardTokens: 60)
        #expect(again.completedSampleIDs.count >= 2)
        #expect(again.completedSampleIDs.count < all.count)
        try FeatureCacheBuilder.build(samples: all, source: source, writer: again)
        let first = try FeatureCacheWriter(directory: straight, manifest: manifest(model: model)).manifest
        #expect(again.manifest == first)
        for shard in first.shards {
            let identical =
                try Data(contentsOf: straight.appendingPathComponent(shard.file))
                == Data(contentsOf: resumed.appendingPathComponent(shard.file))
            #expect(identical, "\(shard.file) differs")
        }
    }

    @Test func anotherModelOrDataIsRefused() throws {
        let model = try LlamaModel.load(from: Self.tinyModel)
        let directory = try temporary()
        let writer = try FeatureCacheWriter(directory: directory, manifest: manifest(model: model), shardTokens: 60)
        try FeatureCacheBuilder.build(
            samples: Array(samples().prefix(2)), source: try OnlineFeatureSource(model: model, layers: [0, 1, 2]),
            writer: writer)
        var other = manifest(model: model)
        other.dataFingerprint = "data-b"
        #expect { try FeatureCacheWriter(directory: directory, manifest: other) } throws: {
            "\($0)".contains("another model, data")
        }
        #expect { try CachedFeatureSource(directory: directory, modelFingerprint: "model-z") } throws: {
            "\($0)".contains("another target")
        }
        let missing = TokenizedSample(id: "nope", ids: [1], lossMask: [1])
        #expect { try CachedFeatureSource(directory: directory).features(for: [missing]) } throws: {
            "\($0)".contains("not in the cache")
        }
    }

    @Test func eagle3LayersAreTheDefaults() {
        #expect(eagle3FeatureLayers(layerCount: 30) == [1, 14, 26])
        #expect(eagle3FeatureLayers(layerCount: 32) == [1, 15, 28])
    }
}
