import Foundation

/// What data-parallel training needs from the processes it runs in: their number, this one's
/// rank, sums over all of them, a broadcast from one, and a way to stop them all.
///
/// Every collective takes a `what` (named in errors) and fails with ``DistributedError``
/// instead of hanging when the others do not join within the communicator's timeout (a rank
/// died or hangs).
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Ranks on this machine (to share its cores among them).
    var localSize: Int { get }
    /// Sums `count` floats over all ranks, in place, on every rank.
    func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, what: String) throws
    /// Sums doubles over all ranks, in place, on every rank.
    func allreduceSum(_ values: inout [Double], what: String) throws
    /// Replaces `bytes` on every rank by `root`'s (any length).
    func broadcast(_ bytes: inout [UInt8], root: Int, what: String) throws
    /// Replaces `count` floats on every rank by `root`'s.
    func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int, what: String) throws
    /// Ends the processes cleanly (every rank must call it).
    func finalize()
    /// Stops every rank now (after an error on this one), with exit status 1.
    func abort(_ message: String) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }
    public var isDistributed: Bool { size > 1 }

    /// Threads for this rank: the machine's cores shared among its ranks, and never more than
    /// the cores the launcher bound the process to (`mpirun` binds each of ≤ 2 ranks to one
    /// core unless given `--bind-to none`).
    public var threadsPerRank: Int {
        let shared = max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, localSize))
        return min(shared, Distributed.boundCores ?? shared)
    }
}

public struct DistributedError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var hint: String?
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }
    public var description: String { hint.map { "\(message)\nhint: \($0)" } ?? message }
}

/// One process: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var localSize: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, what: String) throws {}
    public func allreduceSum(_ values: inout [Double], what: String) throws {}
    public func broadcast(_ bytes: inout [UInt8], root: Int, what: String) throws {}
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int, what: String) throws {}
    public func finalize() {}
    public func abort(_ message: String) -> Never {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
        exit(1)
    }
}

/// Chooses the communicator for this process from its environment.
public enum Distributed {
    /// The number of cores this process may run on (its affinity mask, `Cpus_allowed` in
    /// /proc/self/status), if the system says.
    public static var boundCores: Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        let mask = line.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
        let count = mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
        return count > 0 ? count : nil
    }

    /// The launcher's world size, if this process was started by `mpirun`/`mpiexec`
    /// (Open MPI sets `OMPI_COMM_WORLD_SIZE`, PMIx launchers `PMIX_SIZE`… we read Open MPI's).
    public static var launchedWorldSize: Int? {
        let environment = ProcessInfo.processInfo.environment
        return (environment["OMPI_COMM_WORLD_SIZE"] ?? environment["PMI_SIZE"]).flatMap(Int.init)
    }

    /// A single process unless launched by `mpirun` with more than one rank; then Open MPI,
    /// loaded at run time (a binary started without `mpirun` needs no MPI at all).
    /// - Parameter timeout: seconds a collective may wait for the other ranks.
    public static func communicator(timeout: Double) throws -> any Communicator {
        guard let size = launchedWorldSize, size > 1 else { return SingleProcess() }
        if ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] == nil {
            throw DistributedError("started by an MPI launcher that is not Open MPI's (PMI_SIZE=\(size))",
                                   hint: "Fledge speaks Open MPI's ABI: launch with Open MPI's mpirun (apt-get install openmpi-bin libopenmpi-dev)")
        }
        return try OpenMPI(timeout: timeout)
    }
}
