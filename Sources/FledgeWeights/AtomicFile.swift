import Foundation

/// Writing a file so that readers never see a partial one.
public enum AtomicFile {
    /// Writes `data` to a temporary file next to `url`, then renames it over `url`.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(contentsOf: data) }
    }

    /// Lets `body` write a temporary file next to `url` piece by piece (nothing has to be
    /// whole in memory), then renames it over `url`; on an error the temporary file is removed.
    public static func write(to url: URL, _ body: (FileHandle) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let temporary = directory.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw WeightsError(file: temporary.path, "cannot create (errno \(errno))")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            do {
                try body(handle)
                try handle.close()
            } catch {
                try? handle.close()
                throw error
            }
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
