import ArgumentParser

/// `fledge bench ...`: performance measurements (run them on a release build).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Fledge's performance (use a release build).",
        subcommands: [BenchKernels.self, BenchTarget.self, BenchTrain.self]
    )
}
