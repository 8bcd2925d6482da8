import Foundation
import FledgeData
import FledgeTensor
import FledgeWeights

/// Typed, range-checked reads of a draft's `config.json` (or of its `transformer_layer_config`):
/// messages name the file, the field and the value, and a value of the wrong JSON type is
/// reported as such, not as missing.
struct DraftConfigReader {
    /// The largest width, head count, head dimension or intermediate size accepted: products of
    /// two stay far from overflow, and every tensor is compared with the file before anything
    /// of that size is allocated.
    static let maxDimension = 1 << 20
    /// The largest `max_position_embeddings` (the RoPE tables are built for this many positions).
    static let maxPositions = 1 << 20

    let file: String
    let object: [String: Any]
    /// How the fields are named in messages (`transformer_layer_config.` for the nested layout).
    var prefix = ""

    init(file: String, object: [String: Any], prefix: String = "") {
        self.file = file
        self.object = object
        self.prefix = prefix
    }

    /// The JSON type of a value, as messages name it.
    static func kind(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if value is String { return "string" }
        if value is [Any] { return "list" }
        if value is [String: Any] { return "object" }
        if let number = value as? NSNumber {
            if isBoolean(number) { return "boolean" }
            return "number"
        }
        return "\(type(of: value))"
    }

    static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c" || type(of: number) == type(of: NSNumber(value: true))
    }

    func fail(_ key: String, _ message: String, hint: String? = nil) -> DraftError {
        DraftError("\(file): \(prefix)\(key) \(message)", hint: hint)
    }

    /// Whether `key` is present (null counts as absent).
    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    /// An integer field within `range` (absent: `defaultValue`, or an error when there is none).
    func int(_ key: String, default defaultValue: Int? = nil, in range: ClosedRange<Int>) throws -> Int {
        guard has(key), let raw = object[key] else {
            if let defaultValue { return defaultValue }
            throw DraftError("\(file): missing \(prefix)\(key)")
        }
        guard let number = raw as? NSNumber, !Self.isBoolean(number) else {
            throw fail(key, "has the wrong type (\(Self.kind(raw)), expected an integer)")
        }
        let type = String(cString: number.objCType)
        if type == "f" || type == "d" {
            let double = number.doubleValue
            guard double.isFinite, double == double.rounded(), let exact = Int(exactly: double) else {
                throw fail(key, "has the wrong type (number \(double), expected an integer)")
            }
            return try check(key, exact, range)
        }
        if type == "Q" || type == "L" {
            let unsigned = number.uint64Value
            guard let exact = Int(exactly: unsigned) else {
                throw fail(key, "= \(unsigned) is out of range (\(range.lowerBound)…\(range.upperBound))")
            }
            return try check(key, exact, range)
        }
        return try check(key, number.intValue, range)
    }

    private func check(_ key: String, _ value: Int, _ range: ClosedRange<Int>) throws -> Int {
        guard range.contains(value) else {
            let bound =
                range.upperBound == Int.max
                ? "must be at least \(range.lowerBound)" : "must be between \(range.lowerBound) and \(range.upperBound)"
            throw fail(key, "= \(value): \(bound)")
        }
        return value
    }

    /// A finite number field greater than 0 (absent: `defaultValue`).
    func positive(_ key: String, default defaultValue: Double) throws -> Double {
        guard has(key), let raw = object[key] else { return defaultValue }
        guard let number = raw as? NSNumber, !Self.isBoolean(number) else {
            throw fail(key, "has the wrong type (\(Self.kind(raw)), expected a number)")
        }
        let value = number.doubleValue
        guard value.isFinite, value > 0 else { throw fail(key, "= \(value): must be a finite number above 0") }
        return value
    }

    /// A boolean field (absent: `defaultValue`).
    func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard has(key), let raw = object[key] else { return defaultValue }
        guard let number = raw as? NSNumber, Self.isBoolean(number) else {
            throw fail(key, "has the wrong type (\(Self.kind(raw)), expected true or false)")
        }
        return number.boolValue
    }

    /// A string field (absent: nil).
    func string(_ key: String) throws -> String? {
        guard has(key), let raw = object[key] else { return nil }
        guard let value = raw as? String else {
            throw fail(key, "has the wrong type (\(Self.kind(raw)), expected a string)")
        }
        return value
    }

    /// The attention shape of a draft layer: heads (> 0), kv heads dividing them, and a head
    /// dimension (given, or the width over the heads, which must then divide it; even, for RoPE).
    func attention(hidden: Int) throws -> (heads: Int, kvHeads: Int, headDimension: Int) {
        let limit = 1...Self.maxDimension
        let heads = try int("num_attention_heads", in: limit)
        let kvHeads = try int("num_key_value_heads", default: heads, in: limit)
        guard heads % kvHeads == 0 else {
            throw fail(
                "num_key_value_heads", "= \(kvHeads) does not divide \(prefix)num_attention_heads = \(heads)")
        }
        let headDimension: Int
        if has("head_dim") {
            headDimension = try int("head_dim", in: limit)
        } else {
            guard hidden % heads == 0 else {
                throw fail(
                    "num_attention_heads", "= \(heads) does not divide \(prefix)hidden_size = \(hidden)",
                    hint: "give head_dim when the heads do not split the width")
            }
            headDimension = hidden / heads
        }
        guard headDimension % 2 == 0 else {
            throw fail("head_dim", "= \(headDimension): must be even (rotary embeddings rotate pairs)")
        }
        return (heads, kvHeads, headDimension)
    }

    /// `num_hidden_layers` (absent: 1), which must be 1: Fledge's drafts have one layer.
    func requireOneLayer() throws {
        let layers = try int("num_hidden_layers", default: 1, in: Int.min...Int.max)
        guard layers == 1 else {
            throw fail(
                "num_hidden_layers", "= \(layers): Fledge's drafts of this method have exactly one decoder layer")
        }
    }

    /// `num_hidden_layers` of an EAGLE-3 draft (1 when absent), bounded.
    func layerCount() throws -> Int {
        try int("num_hidden_layers", default: 1, in: 1...Eagle3Configuration.maxLayerCount)
    }

    /// `vocab_size`, which must be the target's.
    func vocabulary(target: Int) throws -> Int {
        let size = try int("vocab_size", in: 1...Int.max)
        guard size == target else {
            throw fail(
                "vocab_size", "= \(size), the target has \(target) tokens",
                hint: "the draft belongs to another target model")
        }
        return size
    }

    /// `hidden_size`, which must be the target embedding's width (the draft embeds with it).
    func hidden(targetWidth: Int) throws -> Int {
        let hidden = try int("hidden_size", in: 1...Self.maxDimension)
        guard hidden == targetWidth else {
            throw fail(
                "hidden_size", "= \(hidden), the target's embedding has width \(targetWidth)",
                hint: "the draft belongs to another target model")
        }
        return hidden
    }

    /// `rms_norm_eps`, `rope_theta`, `rope_scaling` and `max_position_embeddings`.
    func normAndPositions() throws -> (eps: Float, theta: Float, scaling: RoPEScalingReader, maxPositions: Int) {
        let eps = try positive("rms_norm_eps", default: 1e-6)
        let theta = try positive("rope_theta", default: 10_000)
        var scaling = RoPEScalingReader.none
        if has("rope_scaling"), let raw = object["rope_scaling"] {
            guard let rope = raw as? [String: Any] else {
                throw fail("rope_scaling", "has the wrong type (\(Self.kind(raw)), expected an object)")
            }
            scaling = try RoPEScalingReader.parse(rope, file: file, prefix: prefix + "rope_scaling.")
        }
        let positions = try int("max_position_embeddings", default: 2048, in: 1...Self.maxPositions)
        guard Float(eps).isFinite, Float(eps) > 0, Float(theta).isFinite else {
            throw fail("rms_norm_eps", "= \(eps) or rope_theta = \(theta) does not fit a 32-bit float")
        }
        return (Float(eps), Float(theta), scaling, positions)
    }

    /// Parses `config.json` in `directory`.
    static func read(_ directory: URL) throws -> (url: URL, object: [String: Any]) {
        let url = directory.appendingPathComponent("config.json")
        guard let data = try? Data(contentsOf: url) else {
            throw DraftError("\(url.path): cannot read the draft's config.json")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw DraftError("\(url.path): not valid JSON (\(detail))")
        }
        guard let object = parsed as? [String: Any] else {
            throw DraftError("\(url.path): not a JSON object (\(kind(parsed)) at the top level)")
        }
        return (url, object)
    }

    /// Checks that every tensor of `shapes` is in `file` with that shape, before anything of
    /// the configured sizes is allocated.
    static func checkShapes(
        _ shapes: [(name: String, shape: [Int])], in file: SafetensorsFile, directory: URL,
        stored: (String) -> String = { $0 }
    ) throws {
        for (name, shape) in shapes {
            let storedName = stored(name)
            guard let entry = file.entries[storedName] else {
                throw DraftError("\(file.url.path): no tensor named \(storedName)")
            }
            guard entry.shape == shape else {
                throw DraftError(
                    "\(directory.path): \(storedName) has shape \(Shape(entry.shape)), expected \(Shape(shape))",
                    hint: "the config.json does not describe these weights")
            }
        }
    }

    /// Throws naming the tensor when a weight is NaN or infinite.
    static func requireFinite(_ tensor: Tensor, name: String, file: String) throws {
        let buffer = tensor.buffer
        guard let index = buffer.firstIndex(where: { !$0.isFinite }) else { return }
        let count = buffer.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        throw DraftError(
            "\(file): tensor \(name) has \(count) non-finite value\(count == 1 ? "" : "s") "
                + "(element \(index) is \(buffer[index]))",
            hint: "the draft's weights are damaged or diverged in training")
    }

    /// Checks the draft vocabulary maps of an EAGLE-3 draft against the target's vocabulary:
    /// `t2d` covers the target, `d2t` has `draftSize` entries mapping into it, ascending, to
    /// exactly the tokens `t2d` marks.
    static func checkVocabulary(
        d2t: [Int64], t2d: [Bool], draftSize: Int, targetSize: Int, file: String
    ) throws {
        guard t2d.count == targetSize else {
            throw DraftError(
                "\(file): t2d covers \(t2d.count) tokens, the target has \(targetSize)",
                hint: "the draft belongs to another target model")
        }
        guard d2t.count == draftSize, (1...targetSize).contains(draftSize) else {
            throw DraftError(
                "\(file): d2t has \(d2t.count) entries, the draft vocabulary has \(draftSize) "
                    + "(between 1 and the target's \(targetSize))")
        }
        for (index, offset) in d2t.enumerated() {
            let (id, overflow) = Int64(index).addingReportingOverflow(offset)
            guard !overflow, id >= 0, id < Int64(targetSize) else {
                throw DraftError(
                    "\(file): d2t[\(index)] = \(offset) maps to target id \(overflow ? "beyond Int64" : "\(id)"), "
                        + "outside the target vocabulary (0..<\(targetSize))")
            }
        }
        do {
            _ = try DraftVocabulary(d2t: d2t, t2d: t2d)
        } catch let error as DataError {
            throw DraftError("\(file): \(error.message)", hint: "d2t and t2d must describe the same draft vocabulary")
        }
    }
}
