import ArgumentParser
import Foundation

/// `fledge recipe show`.
struct RecipeShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print a recipe as JSON (a starting point for your own).")

    @Argument(help: "A built-in recipe or a JSON file.")
    var recipe = "demo"

    func run() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(try Recipe.load(recipe)), as: UTF8.self))
    }
}
