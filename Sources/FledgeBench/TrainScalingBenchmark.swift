import Foundation
import FledgeDistributed
import FledgeDraft
import FledgeTensor

/// Data-parallel scaling of the EAGLE-3 training step (`fledge bench train --ranks`): the same
/// global batch on 1, 2, … ranks of this machine, each run under `mpirun`, with the time of a
/// step and of its gradient sum.
public enum TrainScalingBenchmark {
    /// What rank 0 of one `mpirun` run reports (one JSON line on its standard output).
    public struct RankResult: Codable, Sendable, Equatable {
        /// Median seconds per step and of its gradient sum (with the wait for the slower rank),
        /// and of the sum alone (after a one-value sum has lined the ranks up).
        public var seconds: Double
        public var reduce: Double
        public var transfer = 0.0
        /// Floats in the gradient.
        public var gradientCount = 0
        /// Rows per rank, ranks, threads per rank.
        public var rows: Int
        public var ranks: Int
        public var threads: Int

        public init(seconds: Double, reduce: Double, rows: Int, ranks: Int, threads: Int) {
            self.seconds = seconds
            self.reduce = reduce
            self.rows = rows
            self.ranks = ranks
            self.threads = threads
        }
    }

    /// One rank of a scaling run (under `mpirun`): its share of `globalBatch` rows (default:
    /// one per rank), the gradient summed over the ranks every step, the machine's cores
    /// shared among the ranks. `report` gets the result on rank 0, before MPI finalises.
    public static func runRank(
        configuration: Eagle3Configuration, length: Int, steps: Int, runs: Int,
        globalBatch: Int?, report: (RankResult) throws -> Void
    ) throws {
        let communicator = try Distributed.communicator(timeout: 300)
        let threads = communicator.threadsPerRank
        Parallel.workerCount = threads
        BLAS.threadCount = threads
        let rows = (globalBatch ?? communicator.size) / communicator.size
        var transfers: [Double] = [], gradientCount = 0
        let result = try TrainBenchmark.run(
            configuration: configuration, length: length, steps: steps, runs: runs,
            rows: rows
        ) { pointer, count in
            gradientCount = count
            guard communicator.isDistributed else { return }
            var barrier = [0.0]
            try communicator.allreduceSum(&barrier, what: "barrier")
            let start = DispatchTime.now().uptimeNanoseconds
            try communicator.allreduceSum(pointer, count: count, what: "gradient sum")
            transfers.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        if communicator.isRoot {
            var rankResult = RankResult(
                seconds: result.seconds, reduce: result.reduceSeconds, rows: rows,
                ranks: communicator.size, threads: threads)
            transfers.sort()
            rankResult.transfer = transfers.isEmpty ? 0 : transfers[transfers.count / 2]
            rankResult.gradientCount = gradientCount
            try report(rankResult)
        }
        communicator.finalize()
    }

    /// The line rank 0 prints for ``launch(ranks:arguments:)`` to read.
    public static func line(_ result: RankResult) throws -> String {
        String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
    }

    /// Runs `mpirun -np ranks` of this executable with `arguments` (a command line whose rank 0
    /// prints ``line(_:)`` of its ``runRank(configuration:length:steps:runs:globalBatch:report:)``)
    /// and returns rank 0's result.
    /// - Throws: ``DistributedError`` when mpirun is missing, or fails, or no result came back.
    public static func launch(ranks: Int, arguments: [String]) throws -> RankResult {
        let executable = MPILauncher.currentExecutable
        let finished = try MPILauncher.run(ranks: ranks, executable: executable, arguments: arguments)
        return try result(of: finished, ranks: ranks)
    }

    /// Rank 0's result in what `mpirun -np ranks` left: the last output line that is one.
    static func result(of finished: MPILauncher.Finished, ranks: Int) throws -> RankResult {
        guard finished.status == 0,
            let line = finished.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let result = try? JSONDecoder().decode(RankResult.self, from: Data(line.utf8))
        else {
            throw DistributedError("mpirun -np \(ranks) failed (status \(finished.status)): \(finished.output)")
        }
        return result
    }
}
