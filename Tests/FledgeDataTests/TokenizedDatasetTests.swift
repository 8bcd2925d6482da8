import Foundation
import Testing
@testable import FledgeData

/// What `fledge data inspect` shows, computed by the library.
@Suite struct TokenizedDatasetTests {
    func sample(_ id: String, length: Int) -> TokenizedSample {
        TokenizedSample(
            id: id, ids: [Int32](repeating: 1, count: length),
            lossMask: [UInt8](repeating: 1, count: length))
    }

    @Test func lengthStatisticsAndBuckets() throws {
        let lengths = [5, 130, 140, 600, 5000, 127, 128, 300, 90, 2047]
        let samples = lengths.enumerated().map { sample("s\($0.offset)", length: $0.element) }
        let dataset = TokenizedDataset(samples: samples, skipped: [:], truncated: 0)
        let statistics = try #require(dataset.lengthStatistics)
        // Sorted: 5 90 127 128 130 140 300 600 2047 5000.
        #expect(statistics.minimum == 5 && statistics.median == 140)
        #expect(statistics.p90 == 5000 && statistics.maximum == 5000)
        typealias Bucket = TokenizedDataset.LengthStatistics.Bucket
        #expect(
            statistics.buckets == [
                Bucket(low: 0, high: 128, count: 3), Bucket(low: 128, high: 256, count: 3),
                Bucket(low: 256, high: 512, count: 1), Bucket(low: 512, high: 1024, count: 1),
                Bucket(low: 1024, high: 2048, count: 1), Bucket(low: 4096, high: nil, count: 1),
            ])
        #expect(TokenizedDataset(samples: [], skipped: [:], truncated: 0).lengthStatistics == nil)
    }

    @Test func maskRunsCutASampleWhereTheMaskChanges() {
        let sample = TokenizedSample(id: "a", ids: [10, 11, 12, 13, 14, 15], lossMask: [0, 0, 1, 1, 0, 1])
        let runs = sample.maskRuns
        #expect(runs.map { Array($0.ids) } == [[10, 11], [12, 13], [14], [15]])
        #expect(runs.map(\.trained) == [false, true, false, true])
        #expect(TokenizedSample(id: "e", ids: [], lossMask: []).maskRuns.isEmpty)
    }

    @Test func failedRegenerationsGoNextToTheOutputByDefault() {
        #expect(Regenerator.defaultFailuresPath(output: "runs/regen.jsonl") == "runs/regen.failed.jsonl")
        #expect(Regenerator.defaultFailuresPath(output: "runs/regen") == "runs/regen.failed.jsonl")
    }
}
