import Foundation

/// An exclusive advisory lock (`flock`) on a file, held until the lock is released or the
/// process ends (a killed run leaves nothing stale behind).
public final class FileLock: @unchecked Sendable {
    /// Another process holds the lock.
    public struct Busy: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    private var descriptor: Int32

    /// Takes the lock on `url` (created with its folder if missing) or throws ``Busy`` with
    /// `busy` as its message when another process holds it.
    public init(_ url: URL, busy: String) throws {
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        descriptor = open(url.path, O_CREAT | O_RDWR, 0o644)
        guard descriptor >= 0 else {
            throw Busy(description: "\(url.path): cannot open the lock file (errno \(errno))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw Busy(description: busy)
        }
    }

    /// Releases the lock (also done when the lock is freed).
    public func release() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    deinit { release() }
}
