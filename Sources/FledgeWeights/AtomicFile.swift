import Foundation

/// Writing a file so that readers never see a partial one.
public enum AtomicFile {
    /// Writes `data` to a temporary file next to `url`, then renames it over `url`.
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try data.write(to: temporary)
            // rename(2) replaces the target atomically.
            guard rename(temporary.path, url.path) == 0 else {
                throw WeightsError(
                    file: url.path, "cannot rename \(temporary.lastPathComponent) into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw WeightsError(file: url.path, "cannot write: \(error.localizedDescription)")
        }
    }
}
