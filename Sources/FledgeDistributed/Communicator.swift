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
