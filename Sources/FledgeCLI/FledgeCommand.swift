import ArgumentParser

/// The root of the `fledge` command line.
@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
public struct FledgeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "fledge",
        abstract: "Train EAGLE speculative-decoding draft models on CPUs.",
        version: "0.1.0",
        subcommands: [
            GenerateCommand.self, TokenizeCommand.self, DataCommand.self, VocabCommand.self, CacheCommand.self,
            TrainCommand.self, ExportCommand.self, EvalCommand.self, ChatCommand.self, RecipeCommand.self,
            BenchCommand.self,
        ]
    )

    public init() {}
}
