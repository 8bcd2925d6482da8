import Foundation
import FledgeLlama

/// How a ``DecodingSession`` produces tokens: the target alone, or a draft proposing tokens
/// that the target verifies in one forward (docs/design.md §4.2–§4.5).
public enum DecodingStrategy: Sendable, Codable, Equatable, CustomStringConvertible {
    /// One target forward per token.
    case plain
    /// A chain of `steps` draft tokens per cycle (greedy, or speculative sampling).
    case chain(steps: Int)
    /// An EAGLE-2 dynamic tree: `topK` children per expanded node, `depth` levels,
    /// `treeTokens` tokens verified per cycle (the root included). Greedy only.
    case tree(topK: Int, depth: Int, treeTokens: Int)

    /// Draft tokens proposed along one path per cycle (acceptance is counted per position).
    public var steps: Int {
        switch self {
        case .plain: 0
        case .chain(let steps): steps
        case .tree(_, let depth, _): depth
        }
    }

    /// Tokens the target verifies per cycle (the bonus token included).
    public var verificationRows: Int {
        switch self {
        case .plain: 1
        case .chain(let steps): steps + 1
        case .tree(_, _, let tokens): tokens
        }
    }

    public var isSpeculative: Bool { self != .plain }

    public var description: String {
        switch self {
        case .plain: "plain"
        case .chain(let steps): "chain K = \(steps)"
        case .tree(let topK, let depth, let treeTokens): "tree \(topK)/\(depth)/\(treeTokens)"
        }
    }

    /// `plain`, `chain:K` or `tree:TOPK/DEPTH/TOKENS`, as `fledge eval --modes` spells them.
    public init?(parsing text: String) {
        if text == "plain" {
            self = .plain
            return
        }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        let numbers = parts[1].split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
        guard numbers.allSatisfy({ $0 != nil }) else { return nil }
        let n = numbers.map { $0! }
        switch parts[0] {
        case "chain" where n.count == 1 && n[0] >= 1:
            self = .chain(steps: n[0])
        case "tree" where n.count == 3 && n[0] >= 1 && n[1] >= 1 && n[2] >= 2:
            self = .tree(topK: n[0], depth: n[1], treeTokens: n[2])
        default:
            return nil
        }
    }

    /// The most children per expanded tree node (the drafters return at most this many rows
    /// of logits per call).
    public static let maxTopK = 64

    /// Why this strategy cannot run with `sampling` under `kernels` (nil: it can). Greedy
    /// speculation is lossless only while each verified row gets the bits of a one-token
    /// decode step, so verifications larger than the row-exact kernels take are refused.
    public func refusal(sampling: SamplingOptions, kernels: KernelPolicy) -> String? {
        switch self {
        case .plain:
            return nil
        case .chain(let steps) where steps < 1:
            return "a chain needs at least one draft token per cycle"
        case .tree(let topK, let depth, let tokens) where topK < 1 || topK > Self.maxTopK || depth < 1 || tokens < 2:
            return "a tree needs top-k in 1…\(Self.maxTopK), depth ≥ 1 and at least 2 tree tokens"
        case .tree where !sampling.isGreedy:
            return "the tree verifies greedily: sampled speculation (temperature > 0) runs as a chain"
        default:
            break
        }
        let limit = kernels.losslessVerificationRows
        if verificationRows > limit {
            return limit == 0
                ? "the kernel policy (\(kernels)) has no row-exact kernels, "
                    + "so speculation would not equal plain decoding"
                : "\(description) verifies \(verificationRows) tokens per cycle; "
                    + "the row-exact kernels take at most \(limit) "
                    + "(more would switch kernels and break the equality with plain decoding)"
        }
        return nil
    }
}

extension SamplingOptions {
    /// The options of turn `index` of a conversation or benchmark: each turn draws from its
    /// own seed (the only per-turn seed scheme of Fledge: `chat` and `eval` both use it).
    public func forTurn(_ index: Int) -> SamplingOptions {
        var options = self
        options.seed = seed &+ UInt64(index) &* 1_000_003
        return options
    }
}
