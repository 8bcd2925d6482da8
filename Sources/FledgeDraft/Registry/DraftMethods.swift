import Foundation
import FledgeLlama
import FledgeNN
import FledgeTensor
import FledgeWeights

/// One draft algorithm, as the rest of Fledge sees it: its settings, its training step, its
/// loading (checkpoint or export), its inference drafter, its export layouts and the target
/// features it reads. ``DraftMethods`` looks entries up by name; nothing else in Fledge
/// branches on a method name.
public protocol DraftMethod: Sendable {
    /// The registry name (`--method`, `state.json`'s `method`).
    var name: String { get }
    /// How reports and messages name it ("EAGLE-3").
    var title: String { get }
    /// The training settings only this method takes, by configuration key (the flags are the
    /// same names with dashes): given with another method they are errors.
    var settingKeys: [String] { get }
    /// The method's own checks of its settings; messages name the key.
    func validate(_ settings: DraftSettings) throws
    /// The layouts `fledge export --format` accepts for this method; the first is what
    /// training writes.
    var exportFormats: [String] { get }
    /// A fresh draft for `request.target` and the step that trains it.
    func makeTraining(_ request: DraftTrainingRequest) throws -> any DraftAlgorithm
    /// Whether an export's `config.json` is one of this method's layouts.
    func recognizes(exportConfig config: [String: Any]) -> Bool
    /// An exported draft (any of ``exportFormats``).
    func loadExport(from directory: URL, target: LlamaModel) throws -> any LoadedDraft
    /// A training checkpoint of this method.
    func loadCheckpoint(from directory: URL, header: CheckpointHeader, target: LlamaModel) throws -> any LoadedDraft
}

/// A trained draft, as evaluation, chat and export use it (whatever its method).
public protocol LoadedDraft: AnyObject {
    var method: any DraftMethod { get }
    /// The target layers whose outputs the draft reads when they are not its method's
    /// defaults (nil: the defaults, or no layers at all).
    var featureLayers: [Int]? { get }
    /// The inference-time draft over `target`'s features (and, for EAGLE-1, its head).
    /// - Throws: ``DraftError`` when the draft does not fit the target.
    func makeDrafter(target: LlamaModel, capacity: Int) throws -> any Drafter
    /// Writes the deployable draft in one of ``DraftMethod/exportFormats``.
    func export(to directory: URL, format: String, target: Eagle3Export.TargetInfo, dtype: DType) throws
}

/// The method-specific settings of a training run (nil or false: not given). The
/// configuration keys of each are in ``DraftMethod/settingKeys``.
public struct DraftSettings: Sendable, Equatable {
    /// Training-time-test steps (EAGLE-3) or chained evaluation steps (EAGLE-1).
    public var steps = 7
    /// Weight decay of later TTT steps' losses.
    public var stepLossDecay: Float = 0.8
    public var seed: UInt64 = 0
    /// EAGLE-3: the size of a draft vocabulary built from the data.
    public var draftVocabSize: Int?
    /// EAGLE-3: a prepared draft vocabulary (`fledge vocab`).
    public var d2tPath: String?
    public var t2dPath: String?
    /// EAGLE-3: initialise the draft head from the target's rows.
    public var initHeadFromTarget = false
    /// EAGLE-3: the draft's decoder layers (nil: 1).
    public var layerCount: Int?
    /// EAGLE-1: loss weights, input noise range, fc bias.
    public var vWeight: Float?
    public var pWeight: Float?
    public var noiseLow: Float?
    public var noiseHigh: Float?
    public var fcBias: Bool?

    public init() {}

    /// The configuration keys of the method-specific settings that were given.
    public var givenKeys: [String] {
        var keys: [String] = []
        if draftVocabSize != nil { keys.append("draft_vocab_size") }
        if d2tPath != nil { keys.append("d2t_path") }
        if t2dPath != nil { keys.append("t2d_path") }
        if initHeadFromTarget { keys.append("init_head_from_target") }
        if layerCount != nil { keys.append("num_layers") }
        if vWeight != nil { keys.append("v_w") }
        if pWeight != nil { keys.append("p_w") }
        if noiseLow != nil { keys.append("noise_low") }
        if noiseHigh != nil { keys.append("noise_high") }
        if fcBias != nil { keys.append("fc_bias") }
        return keys
    }
}

/// What a method needs to build a draft for training.
public struct DraftTrainingRequest {
    public var target: LlamaModel
    public var settings: DraftSettings
    /// The largest micro-batch (rows) and sample length to plan memory for.
    public var maxBatch: Int
    public var maxLength: Int
    /// The target layers the feature source captures (low | mid | high).
    public var featureLayers: [Int]
    /// Assistant-token counts over the target vocabulary (a draft vocabulary built from the
    /// data); called only by methods that need them.
    public var tokenCounts: () -> [Int]
    /// The arithmetic of the draft's products (resolved: bf16 only where the machine runs it).
    public var precision: Precision

    public init(
        target: LlamaModel, settings: DraftSettings, maxBatch: Int, maxLength: Int, featureLayers: [Int],
        precision: Precision = .fp32, tokenCounts: @escaping () -> [Int]
    ) {
        self.precision = precision
        self.target = target
        self.settings = settings
        self.maxBatch = maxBatch
        self.maxLength = maxLength
        self.featureLayers = featureLayers
        self.tokenCounts = tokenCounts
    }
}

/// What inference reads of a training checkpoint's `state.json` (the trainer writes the
/// whole training state; format `fledge-checkpoint` v1).
public struct CheckpointHeader: Codable, Sendable, Equatable {
    public var format: String
    public var version: Int
    public var method: String
    /// Non-default target feature layers of the draft (absent: the method's defaults).
    public var featureLayers: [Int]?

    /// Reads `directory/state.json`.
    public static func read(_ directory: URL) throws -> CheckpointHeader {
        let url = directory.appendingPathComponent("state.json")
        guard let data = try? Data(contentsOf: url) else {
            throw DraftError(
                "\(directory.path): neither an exported draft (config.json) nor a training checkpoint (state.json)",
                hint: "pass SAVE/export, SAVE/best or SAVE/checkpoints/step-N of a fledge train run")
        }
        guard let header = try? JSONDecoder().decode(CheckpointHeader.self, from: data) else {
            throw DraftError("\(url.path): not a Fledge checkpoint state (format, version and method are required)")
        }
        guard header.format == "fledge-checkpoint", header.version == 1 else {
            throw DraftError("\(url.path): checkpoint format \(header.format) v\(header.version) is not supported")
        }
        return header
    }

    /// Copies the checkpoint's parameters (`model.safetensors`, export names) into `parameters`,
    /// each checked for its shape and for finite values.
    public static func readParameters(_ directory: URL, into parameters: ParameterSet) throws {
        let model = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        for entry in parameters.entries {
            guard let stored = model.entries[entry.name] else {
                throw DraftError("\(model.url.path): no tensor named \(entry.name)")
            }
            guard stored.shape == entry.shape.dims else {
                throw DraftError(
                    "\(directory.path): \(entry.name) has shape \(Shape(stored.shape)), "
                        + "the draft expects \(entry.shape)",
                    hint: "the checkpoint belongs to another configuration")
            }
            let tensor = try model.tensor(entry.name)
            try DraftConfigReader.requireFinite(tensor, name: entry.name, file: model.url.path)
            parameters.parameter(entry.name).copy(from: tensor)
        }
    }
}

/// The registry of draft algorithms.
public enum DraftMethods {
    /// Every method, in the order exports are recognised.
    public static let all: [any DraftMethod] = [Eagle3Method(), Eagle1Method()]

    public static var names: [String] { all.map(\.name) }

    /// The method `fledge train` uses when none is named.
    public static var standard: any DraftMethod { all[0] }

    /// The method called `name`.
    /// - Throws: ``DraftError`` listing the known names.
    public static func named(_ name: String) throws -> any DraftMethod {
        guard let method = all.first(where: { $0.name == name }) else {
            throw DraftError(
                "unknown draft method \"\(name)\"", hint: "the registered methods are \(names.joined(separator: ", "))")
        }
        return method
    }

    /// The method that takes the setting `key` (nil: a setting of every method).
    public static func owner(ofSetting key: String) -> (any DraftMethod)? {
        all.first { $0.settingKeys.contains(key) }
    }

    /// Checks `settings` for `method`: settings of another method are errors, then the
    /// method's own checks.
    public static func validate(_ settings: DraftSettings, method name: String) throws {
        let method = try named(name)
        for key in settings.givenKeys where !method.settingKeys.contains(key) {
            let owner = owner(ofSetting: key)
            throw DraftError(
                "\(key): an \(owner?.title ?? "other") setting (add --method \(owner?.name ?? "…"))",
                hint: "\(method.name) does not use it")
        }
        try method.validate(settings)
    }

    /// An exported draft folder (`config.json`, any method and layout) or a training
    /// checkpoint (`state.json` names the method), for `target`.
    public static func load(_ directory: URL, target: LlamaModel) throws -> any LoadedDraft {
        let configURL = directory.appendingPathComponent("config.json")
        if FileManager.default.fileExists(atPath: configURL.path) {
            let config = try DraftConfigReader.read(directory).object
            guard let method = all.first(where: { $0.recognizes(exportConfig: config) }) else {
                let architectures = (config["architectures"] as? [String])?.joined(separator: ", ") ?? "none"
                throw DraftError(
                    "\(configURL.path): not a draft of a known method (architectures: \(architectures))",
                    hint: "Fledge loads \(all.map(\.title).joined(separator: " and ")) drafts")
            }
            return try method.loadExport(from: directory, target: target)
        }
        let header = try CheckpointHeader.read(directory)
        return try named(header.method).loadCheckpoint(from: directory, header: header, target: target)
    }
}
