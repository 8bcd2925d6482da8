import Foundation

/// A one-line progress display on a terminal (rate and ETA), silent otherwise.
struct ProgressLine {
    let label: String
    let interactive = isatty(STDERR_FILENO) != 0
    var lastUpdate: UInt64 = 0

    mutating func update(done: Int, total: Int, rate: Double, unit: String, eta: Double?) {
        guard interactive else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastUpdate > 200_000_000 || done == total else { return }
        lastUpdate = now
        let percent = total > 0 ? 100 * Double(done) / Double(total) : 0
        let remaining = eta.map { String(format: " ETA %dm%02ds", Int($0) / 60, Int($0) % 60) } ?? ""
        let text = String(
            format: "\r%@ %d/%d (%.0f%%) %.1f %@/s%@\u{1B}[K", label, done, total, percent, rate, unit, remaining)
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
