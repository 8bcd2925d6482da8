import Foundation
import FledgeDraft
import FledgeLlama
import FledgeTensor
import FledgeWeights

/// A draft of either algorithm, as loaded for evaluation, chat and export.
public enum LoadedDraft {
    case eagle3(Eagle3Draft)
    case eagle1(Eagle1Draft)

    /// The registry name (`--method`).
    public var method: String {
        switch self {
        case .eagle3: Eagle3Algorithm.name
        case .eagle1: Eagle1Algorithm.name
        }
    }

    /// The export layouts (`--format`): `eagle` is what training writes.
    public var formats: [String] {
        switch self {
        case .eagle3: Eagle3Export.Format.allCases.map(\.rawValue)
        case .eagle1: ["eagle"] + Eagle1Export.Format.allCases.map(\.rawValue)
        }
    }

    /// The inference-time draft, reading `target`'s features (and, for EAGLE-1, its head).
    public func drafter(target: LlamaModel, capacity: Int) -> any Drafter {
        switch self {
        case .eagle3(let draft):
            Eagle3Drafter(draft: draft, capacity: capacity, layers: Eagle3Drafter.defaultLayers(targetLayerCount: target.configuration.layerCount))
        case .eagle1(let draft):
            Eagle1Drafter(draft: draft, capacity: capacity, target: target)
        }
    }

    /// Writes the deployable draft. EAGLE-3: `eagle` (EAGLE/SpecForge layout) or
    /// `speculators`. EAGLE-1: `vllm`, `sglang`, or `eagle` = vLLM's layout for a bias-free
    /// draft, SGLang's otherwise.
    public func export(to directory: URL, format: String, target: Eagle3Export.TargetInfo, dtype: DType = .bf16) throws {
        switch self {
        case .eagle3(let draft):
            guard let layout = Eagle3Export.Format(rawValue: format) else {
                throw TrainingError("unknown EAGLE-3 export format \(format)", hint: "one of \(formats.joined(separator: ", "))")
            }
            try Eagle3Export.write(draft, format: layout, to: directory, target: target, dtype: dtype)
        case .eagle1(let draft):
            let layout: Eagle1Export.Format
            switch format {
            case "eagle": layout = draft.configuration.bias ? .sglang : .vllm
            default:
                guard let named = Eagle1Export.Format(rawValue: format) else {
                    throw TrainingError("unknown EAGLE-1 export format \(format)", hint: "one of \(formats.joined(separator: ", "))")
                }
                layout = named
            }
            try Eagle1Export.write(draft, format: layout, to: directory, target: target, dtype: dtype)
        }
    }
}

/// Rebuilds a draft from an exported folder or a training checkpoint.
public enum CheckpointDraft {
    /// An exported draft folder (`config.json`, either algorithm and any layout) or a training
    /// checkpoint (`state.json` names the method).
    public static func loadAny(_ url: URL, target: LlamaModel) throws -> LoadedDraft {
        let configURL = url.appendingPathComponent("config.json")
        if FileManager.default.fileExists(atPath: configURL.path) {
            if let data = try? Data(contentsOf: configURL), let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               Eagle1Export.recognizes(config) {
                return .eagle1(try Eagle1Export.load(from: url, embedding: target.embedding, head: target.head))
            }
            return .eagle3(try Eagle3Export.load(from: url, embedding: target.embedding))
        }
        let stateURL = url.appendingPathComponent("state.json")
        guard let data = try? Data(contentsOf: stateURL), let state = try? JSONDecoder().decode(TrainingState.self, from: data) else {
            throw TrainingError("\(url.path): neither an exported draft (config.json) nor a training checkpoint (state.json)",
                                hint: "pass SAVE/export, SAVE/best or SAVE/checkpoints/step-N of a fledge train run")
        }
        switch state.method {
        case Eagle1Algorithm.name: return .eagle1(try loadEagle1(url, target: target))
        case Eagle3Algorithm.name: return .eagle3(try load(url, target: target))
        default: throw TrainingError("\(stateURL.path): unknown method \(state.method)", hint: "eagle3 or eagle1")
        }
    }

    /// An EAGLE-3 training checkpoint.
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

    /// An EAGLE-1 training checkpoint (the fc bias if the checkpoint has one).
    public static func loadEagle1(_ url: URL, target: LlamaModel) throws -> Eagle1Draft {
        let file = try SafetensorsFile(url: url.appendingPathComponent("model.safetensors"))
        let configuration = Eagle1Configuration(target: target.configuration, bias: file.names.contains("fc.bias"))
        let draft = Eagle1Draft(configuration: configuration, embedding: target.embedding, head: target.head)
        _ = try Checkpoint.restore(url, into: draft.parameters)
        return draft
    }
}
