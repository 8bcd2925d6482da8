import CFledgeKernels

/// Splits work over our own threads (a persistent pool, see ``forEach(units:_:)``).
///
/// Work is cut into `units` that are assigned to workers statically (unit `u` goes to worker
/// `u % workers`), and each unit must write only its own outputs, so results never depend on
/// timing: the same inputs give bit-identical outputs. Inside a region OpenBLAS runs on one
/// thread, so its threads never nest inside ours.
public enum Parallel {
    /// The number of workers (the machine's active cores unless set).
    nonisolated(unsafe) public static var workerCount = max(1, ProcessInfoShim.activeProcessorCount)

    /// Runs `body(unit, worker)` for every unit in `0..<units`; `worker` indexes per-worker scratch.
    /// Regions run on a persistent pool (`fledge_pool_run`: the calling thread is worker 0, the
    /// others spin briefly between regions and then park); a region started inside a region, or
    /// while another thread's region holds the pool, runs on the calling thread alone (every
    /// unit as worker 0).
    public static func forEach(units: Int, _ body: (_ unit: Int, _ worker: Int) -> Void) {
        let workers = min(workerCount, units)
        if workers <= 1 || fledge_pool_in_region() != 0 {
            for unit in 0..<units { body(unit, 0) }
            return
        }
        let saved = BLAS.threadCount
        BLAS.threadCount = 1
        let ran = withoutActuallyEscaping(body) { body in
            var task = Task(units: units, workers: workers, body: body)
            return withUnsafeMutablePointer(to: &task) { pointer in
                fledge_pool_run(
                    workers,
                    { context, worker in
                        let task = context!.assumingMemoryBound(to: Task.self)
                        var unit = worker
                        while unit < task.pointee.units {
                            task.pointee.body(unit, worker)
                            unit += task.pointee.workers
                        }
                    }, pointer) != 0
            }
        }
        if !ran {  // another thread's region holds the pool: this caller runs alone, as worker 0
            for unit in 0..<units { body(unit, 0) }
        }
        BLAS.threadCount = saved
    }

    /// One region's work, passed to the pool's threads by pointer.
    private struct Task {
        let units: Int
        let workers: Int
        let body: (_ unit: Int, _ worker: Int) -> Void
    }

    /// Runs `body(range)` on contiguous chunks of `0..<count`, at least `grain` items each.
    public static func forChunks(count: Int, grain: Int = 1024, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(workerCount, (count + grain - 1) / max(grain, 1)))
        if chunks == 1 {
            body(0..<count)
            return
        }
        let size = (count + chunks - 1) / chunks
        forEach(units: chunks) { unit, _ in
            let start = unit * size
            let end = min(count, start + size)
            if start < end { body(start..<end) }
        }
    }
}
