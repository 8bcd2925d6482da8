import Foundation
import Testing
@testable import FledgeDistributed

/// Without mpirun nothing of MPI is loaded; a missing Open MPI is a clear error.
@Suite struct CommunicatorTests {
    @Test func aSingleProcessNeedsNoMPI() throws {
        // This test process was not started by mpirun (make test runs it directly).
        #expect(Distributed.launchedWorldSize == nil)
        let communicator = try Distributed.communicator(timeout: 1)
        #expect(communicator is SingleProcess && communicator.rank == 0 && communicator.size == 1 && communicator.isRoot && !communicator.isDistributed)
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
