import ArgumentParser
import Foundation
import FledgeData
import FledgeLlama
import FledgeTemplate

/// `fledge tokenize`: token ids of text or of chat-templated conversations, and the reverse.
struct TokenizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract:
            "Print token ids as JSON lines (text from --text or stdin; --chat renders conversations first; "
            + "--decode reverses)."
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "The text to tokenize (default: standard input, one text per line).")
    var text: String?

    @Option(
        help: """
            A JSONL file of conversations ({"messages" | "conversations": [{role, content} | {from, value}]}) \
            to render with the chat template.
            """
    )
    var chat: String?

    @Flag(help: "Read JSON arrays of ids (from --text or stdin) and print the decoded text.")
    var decode = false

    @Flag(name: .customLong("add-special-tokens"), help: "Add the tokenizer's BOS/EOS as its post-processor says.")
    var addSpecialTokens = false

    @Flag(help: "Also print each token's string.")
    var verbose = false

    func validate() throws {
        if chat != nil && (text != nil || decode) {
            throw ValidationError("--chat cannot be combined with --text or --decode")
        }
    }

    func run() async throws {
        let target = try TargetModel.load(from: try model.resolvedURL())
        let tokenizer = target.tokenizer
        if let chat {
            let url = URL(fileURLWithPath: chat)
            guard let content = try? String(contentsOf: url, encoding: .utf8) else {
                throw CLIError("\(chat): cannot read the file")
            }
            for (number, line) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                let messages: [ChatMessage]
                do {
                    messages = try ConversationRecord.parse(Array(line.utf8)).chatMessages
                } catch let error as DataError {
                    throw CLIError("\(chat):\(number + 1): \(error.message)", hint: error.hint)
                }
                let rendered = try target.render(messages, addGenerationPrompt: false)
                emit(tokenizer.encode(rendered, addSpecialTokens: addSpecialTokens), text: rendered, tokenizer: target)
            }
            return
        }
        let inputs = text.map { [$0] } ?? readLines()
        for input in inputs {
            if decode {
                guard let ids = try? JSONDecoder().decode([Int32].self, from: Data(input.utf8)) else {
                    throw CLIError("--decode expects a JSON array of token ids, got: \(input.prefix(80))")
                }
                print(jsonLine(["text": tokenizer.decode(ids)]))
            } else {
                emit(tokenizer.encode(input, addSpecialTokens: addSpecialTokens), text: input, tokenizer: target)
            }
        }
    }

    private func emit(_ ids: [Int32], text: String, tokenizer target: TargetModel) {
        var object: [String: Any] = ["ids": ids.map(Int.init), "count": ids.count]
        if verbose { object["tokens"] = ids.map { target.tokenizer.token(forID: $0) ?? "?" } }
        print(jsonLine(object))
    }

    private func jsonLine(_ object: [String: Any]) -> String {
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: options) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    private func readLines() -> [String] {
        var lines: [String] = []
        while let line = readLine(strippingNewline: true) { lines.append(line) }
        return lines
    }
}
