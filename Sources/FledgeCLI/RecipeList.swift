import ArgumentParser

/// `fledge recipe list`.
struct RecipeList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the built-in recipes.")

    func run() throws {
        for name in Recipe.builtIn.keys.sorted() {
            print("\(name.padding(toLength: 8, withPad: " ", startingAt: 0)) \(Recipe.builtIn[name]!.about)")
        }
    }
}
