import Foundation
import FledgeNN
import FledgeTensor

/// How the next token is chosen from logits: greedy (temperature 0) or sampled with a
/// temperature and nucleus (top-p) cut, from a seeded generator.
public struct SamplingOptions: Sendable, Equatable, Codable {
    public var temperature: Float
    public var topP: Float
    public var seed: UInt64

    public init(temperature: Float = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topP = topP
        self.seed = seed
    }

    public var isGreedy: Bool { temperature <= 0 }
}

/// Picks tokens from logits; its generator state makes sampling reproducible.
public struct Sampler: Sendable {
    public var options: SamplingOptions
    public var generator: SeededGenerator

    public init(_ options: SamplingOptions) {
        self.options = options
        generator = SeededGenerator(seed: options.seed)
    }

    /// The index of the largest logit (the lowest index on ties, as `torch.argmax`).
    public static func argmax(_ logits: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        var value = logits[0]
        for i in 1..<count where logits[i] > value {
            value = logits[i]
            best = i
        }
        return best
    }

    /// The probabilities this sampler draws from (temperature, then top-p renormalised),
    /// written into `probabilities[count]`.
    public func distribution(
        _ logits: UnsafePointer<Float>, count: Int, into probabilities: UnsafeMutablePointer<Float>
    ) {
        if options.isGreedy {
            probabilities.update(repeating: 0, count: count)
            probabilities[Self.argmax(logits, count: count)] = 1
            return
        }
        let scale = 1 / options.temperature
        for i in 0..<count { probabilities[i] = logits[i] * scale }
        Softmax.forward(probabilities, probabilities, rows: 1, columns: count)
        guard options.topP < 1 else { return }
        // Keep the smallest set of most likely tokens whose mass reaches top-p (HF TopPLogitsWarper
        // keeps the token that crosses the threshold).
        let order = (0..<count).sorted {
            probabilities[$0] > probabilities[$1] || (probabilities[$0] == probabilities[$1] && $0 < $1)
        }
        var mass: Float = 0
        var keep = 0
        for index in order {
            keep += 1
            mass += probabilities[index]
            if mass >= options.topP { break }
        }
        for index in order[keep...] { probabilities[index] = 0 }
        for i in 0..<count { probabilities[i] /= mass }
    }

    /// Draws the next token.
    public mutating func sample(
        _ logits: UnsafePointer<Float>, count: Int, scratch: UnsafeMutablePointer<Float>
    ) -> Int32 {
        if options.isGreedy { return Int32(Self.argmax(logits, count: count)) }
        distribution(logits, count: count, into: scratch)
        return Int32(Self.draw(scratch, count: count, generator: &generator))
    }

    /// Inverse-CDF draw from `probabilities[count]`.
    public static func draw(_ probabilities: UnsafePointer<Float>, count: Int, generator: inout SeededGenerator) -> Int
    {
        let u = Double(generator.nextUniform())
        var cumulative = 0.0
        var last = 0
        for i in 0..<count where probabilities[i] > 0 {
            cumulative += Double(probabilities[i])
            last = i
            if u < cumulative { return i }
        }
        return last
    }
}
