import Foundation
import Testing
@testable import FledgeData
import FledgeLlama
import FledgeTemplate

/// The vocabulary cache of `fledge vocab` and the data fingerprint it (and the feature cache)
/// is keyed by.
@Suite struct VocabularyCacheTests {
    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fledge-vocab-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The key is FNV-1a 64 of "data|model|Vd=N" as a folder name; the expected value was
    /// computed independently (Python), so vocabularies cached by earlier builds are found.
    @Test func theKeyIsStableAndSeparatesItsInputs() {
        let data = "fnv1a64:0000000000000001:10|max=2048|drop=false|system=-", model = "fnv1a64:00000000000000ab:5"
        let key = DraftVocabularyCache.key(dataFingerprint: data, modelFingerprint: model, draftSize: 8192)
        #expect(key == "fnv1a64-de69aa667a28cf29-91")
        #expect(!key.contains(":") && !key.contains("/"))
        #expect(DraftVocabularyCache.key(dataFingerprint: data, modelFingerprint: model, draftSize: 8000) != key)
        #expect(DraftVocabularyCache.key(dataFingerprint: data + "x", modelFingerprint: model, draftSize: 8192) != key)
        #expect(DraftVocabularyCache.key(dataFingerprint: data, modelFingerprint: model + "x", draftSize: 8192) != key)
    }

    @Test func storedVocabulariesAreFoundByKeyAndTargetSize() throws {
        let cache = DraftVocabularyCache(directory: try temporary())
        let vocabulary = try DraftVocabulary.build(counts: (0..<50).map { $0 % 7 }, draftSize: 10)
        #expect(cache.load(key: "k", targetSize: 50) == nil)
        try cache.store(vocabulary, key: "k")
        for file in ["d2t.npy", "t2d.npy", "vocab.safetensors"] {
            let path = cache.folder(key: "k").appendingPathComponent(file).path
            #expect(FileManager.default.fileExists(atPath: path), "\(file)")
        }
        #expect(cache.load(key: "k", targetSize: 50) == vocabulary)
        #expect(cache.load(key: "k", targetSize: 51) == nil)
        #expect(cache.load(key: "other", targetSize: 50) == nil)
    }

    @Test func coverageCountsTheTrainedTokensOfADataset() throws {
        let dataset = TokenizedDataset(
            samples: [
                TokenizedSample(id: "a", ids: [1, 2, 2, 3], lossMask: [0, 1, 1, 1]),
                TokenizedSample(id: "b", ids: [4, 3, 5], lossMask: [1, 1, 0]),
            ], skipped: [:], truncated: 0)
        // Trained: 2 ×2, 3 ×2, 4 ×1; the top two are 2 and 3 (4 of 5 trained tokens).
        let built = try DraftVocabulary.build(dataset: dataset, vocabularySize: 8, draftSize: 2)
        #expect(built.vocabulary.targetIDs == [2, 3])
        #expect(
            built.coverage
                == DraftVocabulary.Coverage(samples: 2, trainedTokens: 5, distinctTokens: 3, coveredTokens: 4))
        #expect(built.coverage.fraction == 0.8)
    }

    @Test func theDataFingerprintCoversTheFileAndEveryTokenisationSetting() throws {
        let folder = try temporary()
        let line = #"{"id": "a"}"# + "\n"
        try Data(line.utf8).write(to: folder.appendingPathComponent("train.jsonl"))
        try Data("other\n".utf8).write(to: folder.appendingPathComponent("eval.jsonl"))
        func fingerprint(
            _ url: URL, split: String = "train", maxLength: Int = 2048, dropLong: Bool = false,
            systemPrompt: String? = nil
        ) throws -> String {
            try ConversationFile.fingerprint(
                url, split: split, maxLength: maxLength, dropLong: dropLong,
                systemPrompt: systemPrompt)
        }
        let base = try fingerprint(folder)
        // FNV-1a 64 of the 12 bytes of train.jsonl (computed independently), then the settings.
        #expect(base == "fnv1a64:d159c456e3519aff:12|max=2048|drop=false|system=-")
        #expect(try fingerprint(folder.appendingPathComponent("train.jsonl")) == base)
        #expect(ConversationFile.resolve(folder, split: "eval") == folder.appendingPathComponent("eval.jsonl"))
        for other in [
            try fingerprint(folder, split: "eval"), try fingerprint(folder, maxLength: 512),
            try fingerprint(folder, dropLong: true), try fingerprint(folder, systemPrompt: "Be brief."),
        ] {
            #expect(other != base)
        }
        #expect(throws: DataError.self) { try fingerprint(folder.appendingPathComponent("missing.jsonl")) }
    }
}
