import Foundation
import FledgeNN

/// `rope_scaling` of a config dictionary.
struct RoPEScalingReader {
    var value: FledgeNN.RoPEScaling
    static let none = RoPEScalingReader(value: .none)

    static func parse(_ rope: [String: Any], file: String) throws -> RoPEScalingReader {
        let type = (rope["rope_type"] ?? rope["type"]) as? String ?? "default"
        let number = { (key: String) in Float((rope[key] as? Double) ?? Double((rope[key] as? Int) ?? 0)) }
        switch type {
        case "default": return .none
        case "linear": return RoPEScalingReader(value: .linear(factor: number("factor")))
        case "llama3":
            return RoPEScalingReader(
                value: .llama3(
                    factor: number("factor"), lowFrequencyFactor: number("low_freq_factor"),
                    highFrequencyFactor: number("high_freq_factor"),
                    originalMaxPositions: (rope["original_max_position_embeddings"] as? Int) ?? 8192))
        default: throw DraftError("\(file): rope_scaling \(type) is not supported")
        }
    }
}
