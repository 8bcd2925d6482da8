import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// File helpers shared by the loggers and the report: atomic replacement (temp + rename) and an
/// append-only handle whose every write reaches the kernel before `append` returns.
enum LogFile {
    /// Creates `directory` (and parents) if needed.
    static func makeDirectory(_ directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw TrainingError(
                "\(directory.path): cannot create the log directory (\(error.localizedDescription))",
                hint: "check that the parent exists and is writable")
        }
    }

    /// Replaces `url` with `data` atomically: writes a temporary file in the same directory, then
    /// `rename(2)`s it over the target, so readers see the old or the new file, never a mix.
    static func replace(_ url: URL, with data: Data) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard FileManager.default.createFile(atPath: temporary.path, contents: data) else {
            throw TrainingError(
                "\(url.path): cannot write the temporary file \(temporary.lastPathComponent)",
                hint: "check that \(directory.path) exists, is writable and has free space")
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw TrainingError(
                "\(url.path): cannot replace the file (\(reason))",
                hint: "check the permissions of \(directory.path)")
        }
    }

    /// Opens `url` for appending, creating it empty if it does not exist.
    static func openForAppending(_ url: URL) throws -> FileHandle {
        if !FileManager.default.fileExists(atPath: url.path) {
            try replace(url, with: Data())
        }
        do {
            let handle = try FileHandle(forWritingTo: url)
            try handle.seekToEnd()
            return handle
        } catch {
            throw TrainingError(
                "\(url.path): cannot open for appending (\(error.localizedDescription))",
                hint: "check the file's permissions")
        }
    }

    /// Appends `data` through `handle` (unbuffered, so the bytes are in the file when this returns).
    static func append(_ data: Data, to handle: FileHandle?, path: URL) throws {
        guard let handle else {
            throw TrainingError("\(path.path): the logger is closed", hint: "do not log after close()")
        }
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw TrainingError(
                "\(path.path): cannot append (\(error.localizedDescription))",
                hint: "check free disk space")
        }
    }

    /// Closes `handle`, naming `path` in the error.
    static func close(_ handle: FileHandle?, path: URL) throws {
        do { try handle?.close() } catch {
            throw TrainingError(
                "\(path.path): cannot close (\(error.localizedDescription))", hint: "check free disk space")
        }
    }
}
