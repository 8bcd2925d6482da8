import ArgumentParser
import Foundation
import FledgeData
import FledgeLlama

/// `fledge data inspect`: samples with their loss mask shown, and dataset statistics.
struct InspectDataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract:
            "Show samples with the trained (masked) tokens highlighted, and statistics: "
            + "conversations, tokens, masked fraction, lengths."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var data: DataOptions

    @Option(help: "How many samples to show.")
    var samples = 2

    @Option(help: "Show the sample with this id (repeatable).")
    var id: [String] = []

    @Flag(help: "Plain text even on a terminal: trained tokens in [[double brackets]].")
    var plain = false

    func run() async throws {
        let format = try ChatFormat.load(from: try model.resolvedURL())
        let conversations = try data.conversations()
        let tokenizer = data.tokenizer(format)
        let chosen = id.isEmpty ? Array(conversations.prefix(samples)) : conversations.filter { id.contains($0.id) }
        let color = !plain && isatty(STDOUT_FILENO) != 0
        for conversation in chosen {
            switch tokenizer.tokenize(id: conversation.id, messages: conversation.messages) {
            case .failure(let reason):
                print("── \(conversation.id): skipped (\(reason.rawValue))")
            case .success(let sample):
                print(
                    "── \(sample.id): \(sample.ids.count) tokens, \(sample.maskedCount) trained"
                        + "\(sample.truncated ? ", truncated" : "")"
                )
                print(render(sample, tokenizer: format, color: color))
            }
        }
        let dataset = TokenizedDataset.make(conversations, tokenizer: tokenizer)
        print(statistics(dataset, conversations: conversations.count))
    }

    /// Decodes runs of equal mask value so multi-byte characters stay whole.
    func render(_ sample: TokenizedSample, tokenizer format: ChatFormat, color: Bool) -> String {
        var text = ""
        for run in sample.maskRuns {
            let piece = format.tokenizer.decode(Array(run.ids))
            if run.trained {
                text += color ? "\u{1B}[42;30m" + piece + "\u{1B}[0m" : "[[" + piece + "]]"
            } else {
                text += color ? "\u{1B}[2m" + piece + "\u{1B}[0m" : piece
            }
        }
        return text
    }

    func statistics(_ dataset: TokenizedDataset, conversations: Int) -> String {
        var lines = [
            "── statistics",
            "conversations \(conversations), samples \(dataset.samples.count), truncated \(dataset.truncated)",
            "skipped: "
                + (dataset.skipped.isEmpty
                    ? "none"
                    : dataset.skipped.sorted { $0.key.rawValue < $1.key.rawValue }.map {
                        "\($0.key.rawValue) \($0.value)"
                    }.joined(separator: ", ")),
            String(
                format: "tokens %d, trained %d (%.1f%%)", dataset.tokenCount, dataset.maskedCount,
                100 * Double(dataset.maskedCount) / Double(max(dataset.tokenCount, 1))),
        ]
        guard let lengths = dataset.lengthStatistics else { return lines.joined(separator: "\n") }
        lines.append(
            "length: min \(lengths.minimum), median \(lengths.median), p90 \(lengths.p90), "
                + "max \(lengths.maximum)")
        for bucket in lengths.buckets {
            let bar = String(repeating: "█", count: max(1, 40 * bucket.count / dataset.samples.count))
            let label = bucket.high.map { "\(bucket.low)–\($0 - 1)" } ?? "\(bucket.low)+"
            lines.append(label.padding(toLength: 11, withPad: " ", startingAt: 0) + " \(bar) \(bucket.count)")
        }
        return lines.joined(separator: "\n")
    }
}
