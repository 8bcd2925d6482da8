import ArgumentParser

/// `fledge recipe`: run, show and list pipelines.
struct RecipeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recipe",
        abstract:
            "Run a whole pipeline (prepare, vocab, train, eval, export) from a recipe; finished stages are reused.",
        subcommands: [RecipeRun.self, RecipeShow.self, RecipeList.self],
        defaultSubcommand: RecipeRun.self
    )
}
