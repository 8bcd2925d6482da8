import ArgumentParser

/// `fledge cache ...`: the offline target-feature cache.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Build the offline cache of target features.",
        subcommands: [CacheBuildCommand.self, CacheVerifyCommand.self]
    )
}
