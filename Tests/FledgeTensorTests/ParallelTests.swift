import Dispatch
import Testing
@testable import FledgeTensor

/// The worker pool behind `Parallel`: every unit runs once with its static worker index, a
/// region inside a region runs on its caller, and concurrent callers each get all their units.
@Suite(.serialized) struct ParallelTests {
    /// Unit u of a region of `units` ran on worker u % workers, once.
    func region(units: Int) -> [Int] {
        let seen = UnsafeMutablePointer<Int>.allocate(capacity: units)
        defer { seen.deallocate() }
        seen.initialize(repeating: -1, count: units)
        Parallel.forEach(units: units) { unit, worker in seen[unit] = seen[unit] == -1 ? worker : -2 }
        return Array(UnsafeBufferPointer(start: seen, count: units))
    }

    @Test func everyUnitRunsOnceOnItsWorker() {
        let workers = Parallel.workerCount
        for units in [1, 2, 3, 7, 64, 1000] {
            let expected = (0..<units).map { $0 % min(workers, units) }
            for _ in 0..<50 { #expect(region(units: units) == expected, "\(units) units") }
        }
    }

    @Test func aRegionInsideARegionRunsOnItsCaller() {
        let outer = 4, inner = 5
        let seen = UnsafeMutablePointer<Int>.allocate(capacity: outer * inner)
        defer { seen.deallocate() }
        seen.initialize(repeating: -1, count: outer * inner)
        Parallel.forEach(units: outer) { unit, _ in
            Parallel.forEach(units: inner) { innerUnit, worker in seen[unit * inner + innerUnit] = worker }
        }
        // The nested regions ran serially on their callers, every unit as worker 0.
        #expect((0..<(outer * inner)).allSatisfy { seen[$0] == 0 })
    }

    @Test func concurrentCallersEachRunAllTheirUnits() {
        let callers = 4, units = 257, rounds = 200
        let totals = UnsafeMutablePointer<Int>.allocate(capacity: callers)
        defer { totals.deallocate() }
        totals.initialize(repeating: 0, count: callers)
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for _ in 0..<rounds {
                let values = UnsafeMutablePointer<Int>.allocate(capacity: units)
                values.initialize(repeating: 0, count: units)
                Parallel.forEach(units: units) { unit, _ in values[unit] += unit + 1 }
                totals[caller] += (0..<units).reduce(0) { $0 + values[$1] }
                values.deallocate()
            }
        }
        let expected = rounds * units * (units + 1) / 2
        #expect((0..<callers).allSatisfy { totals[$0] == expected })
    }
}
