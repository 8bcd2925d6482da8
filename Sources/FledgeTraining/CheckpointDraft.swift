import Foundation
import FledgeDraft
import FledgeLlama
import FledgeWeights

/// Rebuilds the EAGLE-3 draft stored in a training checkpoint.
public enum CheckpointDraft {
    /// An exported draft folder (`config.json`) or a training checkpoint.
    public static func loadAny(_ url: URL, target: LlamaModel) throws -> Eagle3Draft {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) {
            return try Eagle3Export.load(from: url, embedding: target.embedding)
        }
        return try load(url, target: target)
    }

    public static func load(_ url: URL, target: LlamaModel) throws -> Eagle3Draft {
        let file = try SafetensorsFile(url: url.appendingPathComponent("model.safetensors"))
        let d2t = try file.integers("d2t"), t2d = try file.integers("t2d").map { $0 != 0 }
        let configuration = Eagle3Configuration(target: target.configuration, draftVocabularySize: d2t.count)
        guard t2d.count == target.configuration.vocabularySize else {
            throw TrainingError("\(url.path): the checkpoint's t2d covers \(t2d.count) tokens, the target has \(target.configuration.vocabularySize)")
        }
        let draft = Eagle3Draft(configuration: configuration, embedding: target.embedding, d2t: d2t, t2d: t2d)
        _ = try Checkpoint.restore(url, into: draft.parameters)
        return draft
    }
}
