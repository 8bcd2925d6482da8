import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Open MPI, loaded with `dlopen` when the process was started by `mpirun`, so the binary has
/// no MPI dependency otherwise. Handles are Open MPI's (pointers to its predefined objects,
/// `ompi_mpi_comm_world`, `ompi_mpi_float`, `ompi_mpi_op_sum`…: the ABI of `libmpi.so.40`,
/// Open MPI 3 to 5).
///
/// Collectives are non-blocking calls polled until done or until `timeout` seconds pass;
/// then the error names the operation and the ranks are stopped with `MPI_Abort`, so a rank
/// that died or hangs never leaves the others waiting forever. Large buffers go in buckets of
/// `bucket` elements, all in flight at once.
final class OpenMPI: Communicator {
    typealias Handle = UnsafeMutableRawPointer
    typealias Request = UnsafeMutableRawPointer?
    private typealias InitThread =
        @convention(c) (OpaquePointer?, OpaquePointer?, Int32, UnsafeMutablePointer<Int32>) -> Int32
    private typealias CommInt = @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    private typealias Iallreduce =
        @convention(c) (
            UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle, UnsafeMutablePointer<Request>
        ) -> Int32
    private typealias Ibcast =
        @convention(c) (UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle, UnsafeMutablePointer<Request>) -> Int32
    private typealias Test =
        @convention(c) (UnsafeMutablePointer<Request>, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer?) -> Int32
    private typealias Abort = @convention(c) (Handle, Int32) -> Int32
    private typealias Finalize = @convention(c) () -> Int32

    let rank: Int
    let size: Int
    let localSize: Int
    let timeout: Double
    let bucket = 1 << 22
    private let world, float, double, byte, sum: Handle
    private let iallreduce: Iallreduce
    private let ibcast: Ibcast
    private let test: Test
    private let abortFunction: Abort
    private let finalizeFunction: Finalize
    private var finalized = false

    /// The libraries tried in order: `FLEDGE_MPI_LIBRARY` when set, else Open MPI's sonames.
    static var libraryNames: [String] {
        ProcessInfo.processInfo.environment["FLEDGE_MPI_LIBRARY"].map { [$0] } ?? ["libmpi.so.40", "libmpi.so"]
    }

    init(timeout: Double, libraries: [String] = OpenMPI.libraryNames) throws {
        self.timeout = timeout
        // RTLD_GLOBAL: Open MPI's components (loaded by libmpi itself) resolve libmpi's symbols.
        var library: UnsafeMutableRawPointer?
        var failures: [String] = []
        for name in libraries {
            if let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) {
                library = handle
                break
            }
            failures.append(dlerror().map { String(cString: $0) } ?? name)
        }
        guard let library else {
            throw DistributedError(
                "this process was started by mpirun (OMPI_COMM_WORLD_SIZE=\(Distributed.launchedWorldSize ?? 0)) "
                    + "but Open MPI cannot be loaded: \(failures.joined(separator: "; "))",
                hint:
                    "install Open MPI on every machine: apt-get install openmpi-bin libopenmpi-dev "
                    + "(or set FLEDGE_MPI_LIBRARY to libmpi.so's path)"
            )
        }
        func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let pointer = dlsym(library, name) else {
                throw DistributedError(
                    "\(name) is missing from the loaded MPI library",
                    hint: "Fledge needs Open MPI 3 or later (libmpi.so.40)")
            }
            return pointer
        }
        func function<T>(_ name: String, as type: T.Type) throws -> T { unsafeBitCast(try symbol(name), to: type) }
        world = try symbol("ompi_mpi_comm_world")
        float = try symbol("ompi_mpi_float")
        double = try symbol("ompi_mpi_double")
        byte = try symbol("ompi_mpi_byte")
        sum = try symbol("ompi_mpi_op_sum")
        iallreduce = try function("MPI_Iallreduce", as: Iallreduce.self)
        ibcast = try function("MPI_Ibcast", as: Ibcast.self)
        test = try function("MPI_Test", as: Test.self)
        abortFunction = try function("MPI_Abort", as: Abort.self)
        finalizeFunction = try function("MPI_Finalize", as: Finalize.self)
        let initThread = try function("MPI_Init_thread", as: InitThread.self)
        let commRank = try function("MPI_Comm_rank", as: CommInt.self)
        let commSize = try function("MPI_Comm_size", as: CommInt.self)
        // MPI_THREAD_SERIALIZED (2): calls come from one thread at a time, not always the same one.
        var provided: Int32 = 0
        guard initThread(nil, nil, 2, &provided) == 0 else { throw DistributedError("MPI_Init_thread failed") }
        var value: Int32 = 0
        _ = commRank(world, &value)
        rank = Int(value)
        _ = commSize(world, &value)
        size = Int(value)
        localSize = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
    }

    /// Waits for every request, or fails after `timeout` seconds.
    private func wait(_ requests: inout [Request], what: String) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        var pause: UInt32 = 20
        var pending = requests.indices.filter { requests[$0] != nil }
        while !pending.isEmpty {
            pending = pending.filter { index in
                var done: Int32 = 0
                _ = test(&requests[index], &done, nil)
                return done == 0
            }
            if pending.isEmpty { break }
            if Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 > timeout {
                throw DistributedError(
                    "rank \(rank) of \(size): \(what) did not complete within \(Int(timeout)) s; "
                        + "another rank died or hangs",
                    hint: "see the other ranks' errors; --collective-timeout sets the limit")
            }
            usleep(pause)
            pause = min(pause * 2, 100)
        }
    }

    func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int, what: String) throws {
        var requests: [Request] = []
        var start = 0
        while start < count {
            let n = min(bucket, count - start)
            var request: Request = nil
            _ = iallreduce(UnsafeRawPointer(bitPattern: 1), buffer + start, Int32(n), float, sum, world, &request)
            requests.append(request)
            start += n
        }
        try wait(&requests, what: what)
    }

    func allreduceSum(_ values: inout [Double], what: String) throws {
        guard !values.isEmpty else { return }
        var request: Request = nil
        let count = Int32(values.count)
        try values.withUnsafeMutableBufferPointer { buffer in
            _ = iallreduce(UnsafeRawPointer(bitPattern: 1), buffer.baseAddress, count, double, sum, world, &request)
            var requests = [request]
            try wait(&requests, what: what)
        }
    }

    func broadcast(_ bytes: inout [UInt8], root: Int, what: String) throws {
        var length = [Double(bytes.count)]
        if rank != root { length[0] = 0 }
        try allreduceSum(&length, what: what + " (length)")
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(length[0])) }
        guard !bytes.isEmpty else { return }
        let count = Int32(bytes.count)
        try bytes.withUnsafeMutableBufferPointer { buffer in
            var request: Request = nil
            _ = ibcast(buffer.baseAddress, count, byte, Int32(root), world, &request)
            var requests = [request]
            try wait(&requests, what: what)
        }
    }

    func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int, what: String) throws {
        var requests: [Request] = []
        var start = 0
        while start < count {
            let n = min(bucket, count - start)
            var request: Request = nil
            _ = ibcast(buffer + start, Int32(n), float, Int32(root), world, &request)
            requests.append(request)
            start += n
        }
        try wait(&requests, what: what)
    }

    func finalize() {
        guard !finalized else { return }
        finalized = true
        _ = finalizeFunction()
    }

    func abort(_ message: String) -> Never {
        FileHandle.standardError.write(Data("rank \(rank): \(message)\n".utf8))
        _ = abortFunction(world, 1)
        exit(1)
    }
}
