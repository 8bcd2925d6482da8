import ArgumentParser

/// `fledge data prepare` (placeholder until the data pipeline lands).
struct PrepareDataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prepare", abstract: "Normalise conversation files into unified JSONL.")

    func run() async throws {
        throw CLIError("fledge data prepare is not implemented yet")
    }
}
