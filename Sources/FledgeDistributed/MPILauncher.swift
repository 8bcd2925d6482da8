import Foundation

/// Starts processes under Open MPI's `mpirun` on this machine (`fledge bench train --ranks`).
public enum MPILauncher {
    /// Where `mpirun` is looked for.
    public static let candidates = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"]

    /// What a finished `mpirun` left: its exit status and everything its ranks wrote to
    /// standard output.
    public struct Finished: Sendable {
        public var status: Int32
        public var output: String

        public init(status: Int32, output: String) {
            self.status = status
            self.output = output
        }
    }

    /// The path of `mpirun`: the first of `paths` that is an executable file.
    /// - Throws: ``DistributedError`` with an install hint when Open MPI is missing.
    public static func mpirun(searching paths: [String] = candidates) throws -> String {
        guard let path = paths.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw DistributedError("mpirun not found", hint: "apt-get install openmpi-bin libopenmpi-dev (make mpi)")
        }
        return path
    }

    /// The running executable (to start ranks of this program).
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Runs `mpirun -np ranks --bind-to none executable arguments…` to its end (as root too)
    /// and returns its standard output; standard error passes through.
    /// - Parameter launcher: the `mpirun` to use (default: ``mpirun(searching:)``).
    public static func run(
        ranks: Int, executable: String, arguments: [String],
        launcher: String? = nil
    ) throws -> Finished {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try launcher ?? mpirun())
        process.arguments = ["-np", "\(ranks)", "--bind-to", "none", executable] + arguments
        var environment = ProcessInfo.processInfo.environment
        if getuid() == 0 {
            environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Finished(status: process.terminationStatus, output: output)
    }
}
