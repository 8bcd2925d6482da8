import Dispatch

/// Splits work over our own threads with `DispatchQueue.concurrentPerform`.
///
/// Work is cut into `units` that are assigned to workers statically (unit `u` goes to worker
/// `u % workers`), and each unit must write only its own outputs, so results never depend on
/// timing: the same inputs give bit-identical outputs. Inside a region OpenBLAS runs on one
/// thread, so its threads never nest inside ours.
public enum Parallel {
    /// The number of workers (the machine's active cores unless set).
    nonisolated(unsafe) public static var workerCount = max(1, ProcessInfoShim.activeProcessorCount)

    /// Runs `body(unit, worker)` for every unit in `0..<units`; `worker` indexes per-worker scratch.
    public static func forEach(units: Int, _ body: (_ unit: Int, _ worker: Int) -> Void) {
        let workers = min(workerCount, units)
        if workers <= 1 {
            for unit in 0..<units { body(unit, 0) }
            return
        }
        let saved = BLAS.threadCount
        BLAS.threadCount = 1
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var unit = worker
            while unit < units {
                body(unit, worker)
                unit += workers
            }
        }
        BLAS.threadCount = saved
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
