import ArgumentParser
import Foundation
import FledgeData
import FledgeLlama

/// `fledge vocab`: the draft vocabulary (d2t / t2d) from masked target tokens.
struct VocabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vocab",
        abstract: "Count the assistant tokens of the training split and write d2t/t2d (.npy and safetensors)."
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var data: DataOptions

    @Option(name: .customLong("draft-vocab-size"), help: "Draft vocabulary size Vd (at most the target's).")
    var draftVocabSize = 32_000

    @Option(help: "Where to write d2t.npy, t2d.npy and vocab.safetensors.")
    var output: String

    @Option(name: .customLong("cache-dir"), help: "Where computed vocabularies are kept, keyed by data + tokenizer + Vd.")
    var cacheDirectory = ".cache/vocab"

    func validate() throws {
        guard draftVocabSize >= 1 else { throw ValidationError("--draft-vocab-size must be positive") }
    }

    func run() async throws {
        let url = try model.resolvedURL()
        let key = Fingerprint.of(Data((try data.fingerprint() + "|" + Fingerprint.of(url) + "|Vd=\(draftVocabSize)").utf8))
            .replacingOccurrences(of: ":", with: "-")
        let cached = URL(fileURLWithPath: cacheDirectory).appendingPathComponent(key)
        let format = try ChatFormat.load(from: url)
        let vocabulary: DraftVocabulary
        if let reused = try? DraftVocabulary.load(d2t: cached.appendingPathComponent("vocab.safetensors"), targetSize: format.tokenizer.vocabularySize) {
            printError("reusing the vocabulary cached in \(cached.path)")
            vocabulary = reused
        } else {
            let conversations = try data.conversations()
            let dataset = TokenizedDataset.make(conversations, tokenizer: data.tokenizer(format))
            let counts = dataset.maskedTokenCounts(vocabularySize: format.tokenizer.vocabularySize)
            vocabulary = try DraftVocabulary.build(counts: counts, draftSize: draftVocabSize)
            try vocabulary.write(to: cached)
            let distinct = counts.filter { $0 > 0 }.count
            let covered = vocabulary.targetIDs.reduce(0) { $0 + counts[Int($1)] }
            printError("\(dataset.samples.count) samples, \(dataset.maskedCount) assistant tokens, \(distinct) distinct; "
                + String(format: "the %d-token draft vocabulary covers %.2f%% of them", draftVocabSize, 100 * Double(covered) / Double(max(dataset.maskedCount, 1)))
                + (distinct < draftVocabSize ? " (filled with the lowest unused ids)" : ""))
        }
        try vocabulary.write(to: URL(fileURLWithPath: output))
        print(URL(fileURLWithPath: output).path)
    }
}
