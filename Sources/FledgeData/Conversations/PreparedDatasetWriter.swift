import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes a prepared dataset folder: `train.jsonl`, `eval.jsonl`, then `manifest.json`,
/// each first under a temporary name (`.NAME.partial`) and renamed into place by `finish`,
/// so an interrupted run never leaves a half-written file under a final name. Lines are
/// buffered (1 MiB) before each `write`.
final class PreparedDatasetWriter {
    let directory: URL
    private var train: BufferedFile
    private var eval: BufferedFile
    private var finished = false

    /// Creates `directory` if needed and opens the temporary files.
    /// - Throws: `DataError.outputFailed`.
    init(directory: URL) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw DataError(
                .outputFailed, "cannot create the output folder (\(error.localizedDescription))",
                at: .init(file: directory.path), hint: "choose a folder you can write to")
        }
        train = try BufferedFile(path: Self.partial(PreparedDataset.trainFile, in: directory))
        eval = try BufferedFile(path: Self.partial(PreparedDataset.evalFile, in: directory))
    }

    deinit {
        if !finished { abandon() }
    }

    /// Appends one conversation to the train or eval file.
    func append(_ conversation: PreparedConversation, toEval: Bool) throws {
        if toEval {
            try eval.append(conversation)
        } else {
            try train.append(conversation)
        }
    }

    /// Flushes and closes both files, writes the manifest, and renames all three into place
    /// (the manifest last).
    func finish(manifest: PreparedDatasetManifest) throws {
        try train.close()
        try eval.close()
        let manifestPartial = Self.partial(PreparedDataset.manifestFile, in: directory)
        do {
            try manifest.encoded().write(to: URL(fileURLWithPath: manifestPartial))
        } catch {
            throw DataError(
                .outputFailed, "cannot write the manifest (\(error.localizedDescription))",
                at: .init(file: manifestPartial), hint: "check free space and permissions")
        }
        for name in [PreparedDataset.trainFile, PreparedDataset.evalFile, PreparedDataset.manifestFile] {
            let from = Self.partial(name, in: directory)
            let to = directory.appendingPathComponent(name).path
            guard rename(from, to) == 0 else {
                throw DataError(
                    .outputFailed, "cannot rename \(from) to \(name) (\(String(cString: strerror(errno))))",
                    at: .init(file: to), hint: "check permissions of the output folder")
            }
        }
        finished = true
    }

    /// Removes the temporary files (after an error).
    func abandon() {
        train.discard()
        eval.discard()
        unlink(Self.partial(PreparedDataset.manifestFile, in: directory))
        finished = true
    }

    static func partial(_ name: String, in directory: URL) -> String {
        directory.appendingPathComponent(".\(name).partial").path
    }
}

/// A file written through a 1 MiB buffer with POSIX calls.
private final class BufferedFile {
    let path: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private let capacity = 1 << 20

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw DataError(
                .outputFailed, "cannot create the file (\(String(cString: strerror(errno))))",
                at: .init(file: path), hint: "choose an output folder you can write to")
        }
        buffer.reserveCapacity(capacity + 64 * 1024)
    }

    func append(_ conversation: PreparedConversation) throws {
        conversation.appendLine(to: &buffer)
        if buffer.count >= capacity { try flush() }
    }

    func flush() throws {
        try buffer.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw DataError(
                        .outputFailed, "write failed (\(String(cString: strerror(errno))))",
                        at: .init(file: path), hint: "check free space on the output disk")
                }
                offset += written
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        guard descriptor >= 0 else { return }
        try flush()
        let status = closeDescriptor(descriptor)
        descriptor = -1
        guard status == 0 else {
            throw DataError(
                .outputFailed, "close failed (\(String(cString: strerror(errno))))", at: .init(file: path),
                hint: "check free space on the output disk")
        }
    }

    func discard() {
        if descriptor >= 0 {
            _ = closeDescriptor(descriptor)
            descriptor = -1
        }
        unlink(path)
    }
}

private func closeDescriptor(_ descriptor: Int32) -> Int32 {
    #if canImport(Glibc)
        return Glibc.close(descriptor)
    #else
        return Darwin.close(descriptor)
    #endif
}
