import Foundation

/// Chooses the communicator for this process from its environment.
public enum Distributed {
    /// The number of cores this process may run on (its affinity mask, `Cpus_allowed` in
    /// /proc/self/status), if the system says.
    public static var boundCores: Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return nil }
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
            throw DistributedError(
                "started by an MPI launcher that is not Open MPI's (PMI_SIZE=\(size))",
                hint:
                    "Fledge speaks Open MPI's ABI: launch with Open MPI's mpirun "
                    + "(apt-get install openmpi-bin libopenmpi-dev)"
            )
        }
        return try OpenMPI(timeout: timeout)
    }
}
