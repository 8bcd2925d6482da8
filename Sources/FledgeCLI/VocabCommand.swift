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

    @Option(
        name: .customLong("cache-dir"), help: "Where computed vocabularies are kept, keyed by data + tokenizer + Vd.")
    var cacheDirectory = ".cache/vocab"

    func validate() throws {
        guard draftVocabSize >= 1 else { throw ValidationError("--draft-vocab-size must be positive") }
    }

    func run() async throws {
        let url = try model.resolvedURL()
        let cache = DraftVocabularyCache(directory: URL(fileURLWithPath: cacheDirectory))
        let key = DraftVocabularyCache.key(
            dataFingerprint: try data.fingerprint(),
            modelFingerprint: try Fingerprint.of(url), draftSize: draftVocabSize)
        let format = try ChatFormat.load(from: url)
        let vocabulary: DraftVocabulary
        if let reused = cache.load(key: key, targetSize: format.tokenizer.vocabularySize) {
            printError("reusing the vocabulary cached in \(cache.folder(key: key).path)")
            vocabulary = reused
        } else {
            let dataset = TokenizedDataset.make(try data.conversations(), tokenizer: data.tokenizer(format))
            let built = try DraftVocabulary.build(
                dataset: dataset, vocabularySize: format.tokenizer.vocabularySize,
                draftSize: draftVocabSize)
            vocabulary = built.vocabulary
            try cache.store(vocabulary, key: key)
            let coverage = built.coverage
            printError(
                "\(coverage.samples) samples, \(coverage.trainedTokens) assistant tokens, "
                    + "\(coverage.distinctTokens) distinct; "
                    + String(
                        format: "the %d-token draft vocabulary covers %.2f%% of them", draftVocabSize,
                        100 * coverage.fraction)
                    + (coverage.distinctTokens < draftVocabSize ? " (filled with the lowest unused ids)" : ""))
        }
        try vocabulary.write(to: URL(fileURLWithPath: output))
        print(URL(fileURLWithPath: output).path)
    }
}
