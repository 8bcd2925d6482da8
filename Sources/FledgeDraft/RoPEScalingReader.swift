import Foundation
import FledgeNN

/// `rope_scaling` of a config dictionary.
struct RoPEScalingReader {
    var value: FledgeNN.RoPEScaling
    static let none = RoPEScalingReader(value: .none)

    /// - Parameter prefix: how messages name the fields (`rope_scaling.`).
    static func parse(_ rope: [String: Any], file: String, prefix: String = "rope_scaling.") throws -> RoPEScalingReader
    {
        let reader = DraftConfigReader(file: file, object: rope, prefix: prefix)
        let type = try reader.string("rope_type") ?? reader.string("type") ?? "default"
        func number(_ key: String) throws -> Float {
            guard reader.has(key) else { throw DraftError("\(file): missing \(prefix)\(key)") }
            let value = try reader.positive(key, default: 1)
            guard Float(value).isFinite else { throw reader.fail(key, "= \(value) does not fit a 32-bit float") }
            return Float(value)
        }
        switch type {
        case "default": return .none
        case "linear": return RoPEScalingReader(value: .linear(factor: try number("factor")))
        case "llama3":
            let low = try number("low_freq_factor"), high = try number("high_freq_factor")
            guard high > low else {
                throw reader.fail("high_freq_factor", "= \(high) must exceed \(prefix)low_freq_factor = \(low)")
            }
            return RoPEScalingReader(
                value: .llama3(
                    factor: try number("factor"), lowFrequencyFactor: low, highFrequencyFactor: high,
                    originalMaxPositions: try reader.int(
                        "original_max_position_embeddings", default: 8192, in: 1...DraftConfigReader.maxPositions)))
        default: throw DraftError("\(file): \(prefix)rope_type \(type) is not supported")
        }
    }
}
