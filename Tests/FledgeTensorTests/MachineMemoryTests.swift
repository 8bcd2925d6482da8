import Testing

@testable import FledgeTensor

/// Reading /proc: padded and wide values (a wide value follows the tab with no space).
@Suite struct MachineMemoryTests {
    @Test func procLinesOfAnyWidth() {
        #expect(MachineMemory.value(of: "VmHWM:\t    2148 kB") == 2148 * 1024)
        #expect(MachineMemory.value(of: "VmHWM:\t19363076 kB") == 19_363_076 * 1024)
        #expect(MachineMemory.value(of: "MemTotal:       24683616 kB") == 24_683_616 * 1024)
        #expect(MachineMemory.value(of: "Threads:\t3") == 3)
        #expect(MachineMemory.value(of: "VmHWM:") == nil)
    }

    @Test func thisProcessHasAPeakAtLeastItsResidentSet() throws {
        let peak = try #require(MachineMemory.peakResident), resident = try #require(MachineMemory.resident)
        #expect(peak >= resident && resident > 1_000_000)
    }
}
