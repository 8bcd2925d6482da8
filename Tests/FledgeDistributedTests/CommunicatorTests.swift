import Foundation
import Testing
@testable import FledgeDistributed

/// Without mpirun nothing of MPI is loaded; a missing Open MPI is a clear error.
@Suite struct CommunicatorTests {
    @Test func aSingleProcessNeedsNoMPI() throws {
        // This test process was not started by mpirun (make test runs it directly).
        #expect(Distributed.launchedWorldSize == nil)
        let communicator = try Distributed.communicator(timeout: 1)
        #expect(
            communicator is SingleProcess && communicator.rank == 0 && communicator.size == 1 && communicator.isRoot
                && !communicator.isDistributed)
        var values = [1.5, 2.5]
        try communicator.allreduceSum(&values, what: "test")
        var bytes: [UInt8] = [1, 2, 3]
        try communicator.broadcast(&bytes, root: 0, what: "test")
        #expect(values == [1.5, 2.5] && bytes == [1, 2, 3])
    }

    @Test func aMissingOpenMPIIsAClearError() {
        #expect {
            _ = try OpenMPI(timeout: 1, libraries: ["/nonexistent/libmpi.so.40"])
        } throws: { error in
            let text = "\(error)"
            return text.contains("Open MPI cannot be loaded") && text.contains("/nonexistent/libmpi.so.40")
                && text.contains("apt-get install openmpi-bin libopenmpi-dev")
        }
    }
}

/// How `fledge bench train --ranks` starts ranks: the mpirun command line, its output.
@Suite struct MPILauncherTests {
    @Test func aMissingMPIRunIsAClearError() {
        #expect { try MPILauncher.mpirun(searching: ["/nonexistent/mpirun"]) } throws: {
            "\($0)" == "mpirun not found\nhint: apt-get install openmpi-bin libopenmpi-dev (make mpi)"
        }
    }

    @Test func ranksAreStartedWithoutBindingAndTheirOutputIsReturned() throws {
        // A stand-in for mpirun that prints its arguments.
        let launcher = FileManager.default.temporaryDirectory
            .appendingPathComponent("fledge-mpirun-\(UUID().uuidString)")
        try Data("#!/bin/sh\necho \"$@\"\nexit 3\n".utf8).write(to: launcher)
        defer { try? FileManager.default.removeItem(at: launcher) }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: launcher.path)
        #expect(try MPILauncher.mpirun(searching: ["/nonexistent/mpirun", launcher.path]) == launcher.path)
        let finished = try MPILauncher.run(
            ranks: 2, executable: "/usr/bin/fledge", arguments: ["bench", "train"],
            launcher: launcher.path)
        #expect(finished.status == 3)
        #expect(finished.output == "-np 2 --bind-to none /usr/bin/fledge bench train\n")
    }
}
