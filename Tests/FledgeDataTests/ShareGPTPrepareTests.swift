import Foundation
import Testing

@testable import FledgeData

extension DataTestAssets {
    static var shareGPT: URL { directory.appendingPathComponent("ShareGPT_V3_unfiltered_cleaned_split.json") }
    static var hasShareGPT: Bool { FileManager.default.fileExists(atPath: shareGPT.path) }
}

/// Peak resident set size of this process in bytes (`VmHWM` of /proc/self/status), nil off Linux.
private func peakResidentBytes() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return nil }
    let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first
    return kilobytes.map { $0 * 1024 }
}

/// The real ShareGPT V3 file (docs/data-prepare.md, "Measured"): a 125 MB JSON array truncated inside its last record.
@Suite(
    .enabled(
        if: DataTestAssets.hasShareGPT,
        "ShareGPT file not found under .cache/assets or $FLEDGE_ASSETS (run Scripts/fetch-assets.sh sharegpt)"))
struct ShareGPTPrepareTests {
    @Test func recoversEveryCompleteRecordWithFlatMemory() throws {
        let scratch = try ScratchFolder()
        defer { scratch.remove() }
        let before = peakResidentBytes()
        var issues: [DataError] = []
        // No file SHA-256: it is most of the time of a debug build (tests), not of a release one.
        let options = ConversationPreparationOptions(
            inputs: [DataTestAssets.shareGPT.path], outputDirectory: scratch.url.path,
            computeDigests: false)
        let summary = try ConversationPreparer(options: options).run(issue: { issues.append($0) })
        let after = peakResidentBytes()
        let manifest = summary.manifest
        let input = try #require(manifest.inputs.first)

        #expect(input.bytes == 125_509_632)
        #expect(input.records == 17_671)
        #expect(manifest.counts.recordsRead == 17_671)
        let truncation = try #require(input.truncation)
        #expect(truncation.recordsRecovered == 17_671)
        #expect(truncation.byteOffset == 125_506_645)
        #expect(truncation.droppedBytes == 125_509_632 - 125_506_645)
        #expect(issues.map(\.code) == [.truncatedFile])
        // Role counts of the complete records (docs/data-prepare.md, "Measured").
        #expect(
            manifest.roles == [
                "gpt": 67_594, "human": 61_420, "system": 41, "chatgpt": 8, "bing": 4, "bard": 2, "user": 2,
            ])
        #expect(manifest.unknownRoles.isEmpty)
        let counts = manifest.counts
        #expect(counts.recordsRead == counts.kept + counts.duplicates + counts.skippedTotal)
        #expect(counts.kept == 16_645)
        #expect(counts.duplicates == 745)
        #expect(counts.skipped["empty_conversation"] == 126)
        #expect(counts.skipped["no_user_assistant_pair"] == 155)
        #expect(counts.train + counts.eval == counts.kept)
        #expect(counts.eval > 0)

        if let before, let after {
            let growth = after - before
            print(
                "ShareGPT: \(counts.recordsRead) records in \(String(format: "%.2f", summary.elapsedSeconds)) s, "
                    + "peak RSS +\(growth >> 20) MiB"
            )
            #expect(
                growth < input.bytes / 2, "peak RSS grew by \(growth >> 20) MiB reading a \(input.bytes >> 20) MiB file"
            )
        }
    }
}
