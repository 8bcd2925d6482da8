import FledgeData
import Foundation

/// Progress on standard error: a rewritten line on a terminal (records/s, bytes, ETA by
/// bytes), nothing otherwise; issues always (the first 20, then a count).
final class PrepareProgressDisplay: @unchecked Sendable {
    private let interactive: Bool
    private var lastDraw = Date.distantPast
    private var issues = 0
    private var lineShown = false
    static let issueLimit = 20

    init(interactive: Bool) {
        self.interactive = interactive
    }

    func update(_ progress: ConversationPreparationProgress) {
        guard interactive, Date().timeIntervalSince(lastDraw) >= 0.2 || progress.bytesRead == progress.totalBytes else {
            return
        }
        lastDraw = Date()
        let eta = progress.etaSeconds.map { String(format: "ETA %.0f s", $0) } ?? "ETA -"
        let line =
            "\r[\(progress.fileIndex + 1)/\(progress.fileCount)] \(PrepareDataCommand.megabytes(progress.bytesRead))"
            + " / \(PrepareDataCommand.megabytes(progress.totalBytes))"
            + "  \(PrepareDataCommand.grouped(progress.recordsRead)) records"
            + " (\(PrepareDataCommand.grouped(Int(progress.recordsPerSecond)))/s)"
            + ", \(PrepareDataCommand.grouped(progress.kept)) kept  \(eta)"
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
        lineShown = true
    }

    func report(_ issue: DataError) {
        issues += 1
        guard issues <= Self.issueLimit else { return }
        clearLine()
        var text = "warning: \(issue)\n"
        if issues == Self.issueLimit { text += "warning: further issues are only counted (all are in manifest.json)\n" }
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() { clearLine() }

    private func clearLine() {
        guard lineShown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        lineShown = false
    }
}
