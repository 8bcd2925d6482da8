import ArgumentParser
@testable import FledgeCLI

/// Runs one `fledge` command line in-process, as the executable would.
func runFledge(_ arguments: [String]) async throws {
    var command = try FledgeCommand.parseAsRoot(arguments)
    if var asynchronous = command as? any AsyncParsableCommand {
        try await asynchronous.run()
    } else {
        try command.run()
    }
}
