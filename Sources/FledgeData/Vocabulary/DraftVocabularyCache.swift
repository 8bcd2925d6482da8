import Foundation

/// Draft vocabularies kept on disk, one folder per key (`fledge vocab --cache-dir`), so that
/// a vocabulary is counted once per data (file and tokenisation settings), target tokenizer
/// and draft vocabulary size.
public struct DraftVocabularyCache: Sendable {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    /// The key of a vocabulary: a ``Fingerprint`` of the data's fingerprint
    /// (``ConversationFile``'s, with the tokenisation settings), the target model's (of its
    /// file or folder) and the size Vd, with `-` for `:` so that it names a folder.
    public static func key(dataFingerprint: String, modelFingerprint: String, draftSize: Int) -> String {
        Fingerprint.of(Data((dataFingerprint + "|" + modelFingerprint + "|Vd=\(draftSize)").utf8))
            .replacingOccurrences(of: ":", with: "-")
    }

    /// The folder of `key` (its `d2t.npy`, `t2d.npy` and `vocab.safetensors`).
    public func folder(key: String) -> URL { directory.appendingPathComponent(key) }

    /// The vocabulary stored under `key`, or nil when there is none (or none that fits a
    /// target vocabulary of `targetSize`).
    public func load(key: String, targetSize: Int) -> DraftVocabulary? {
        let file = folder(key: key).appendingPathComponent("vocab.safetensors")
        return try? DraftVocabulary.load(d2t: file, targetSize: targetSize)
    }

    /// Stores `vocabulary` under `key`.
    public func store(_ vocabulary: DraftVocabulary, key: String) throws {
        try vocabulary.write(to: folder(key: key))
    }
}
