import ArgumentParser

/// `fledge data ...`: conversation data for draft training.
struct DataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Prepare, inspect and regenerate conversation data.",
        subcommands: [PrepareDataCommand.self, InspectDataCommand.self, RegenerateCommand.self]
    )
}
