import ArgumentParser
import Testing
@testable import FledgeCLI

@Suite struct CommandLineTests {
    @Test func benchKernelsParsesItsOptions() throws {
        let command = try FledgeCommand.parseAsRoot(["bench", "kernels", "--runs", "2", "--seq-len", "256", "--json"])
        let kernels = try #require(command as? BenchKernels)
        #expect(kernels.runs == 2)
        #expect(kernels.sequenceLength == 256)
        #expect(kernels.json)
    }

    @Test func invalidValuesAreRejectedWithTheOptionName() {
        do {
            _ = try FledgeCommand.parseAsRoot(["bench", "kernels", "--runs", "0"])
            Issue.record("--runs 0 was accepted")
        } catch {
            #expect(FledgeCommand.message(for: error).contains("--runs"))
        }
        #expect(throws: (any Error).self) { try FledgeCommand.parseAsRoot(["bench", "kernels", "--runs", "many"]) }
    }

    @Test func helpListsEveryOption() {
        let help = BenchKernels.helpMessage(columns: 100)
        for option in ["--runs", "--seq-len", "--json"] { #expect(help.contains(option), "help lacks \(option)") }
        let root = FledgeCommand.helpMessage(columns: 100)
        #expect(root.contains("bench"))
    }

    @Test func unknownSubcommandIsAnError() {
        #expect(throws: (any Error).self) { try FledgeCommand.parseAsRoot(["trian"]) }
    }
}
