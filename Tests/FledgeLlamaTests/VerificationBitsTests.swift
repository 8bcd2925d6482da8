import Foundation
import Testing
@testable import FledgeLlama
import FledgeTensor
import FledgeTestSupport

/// A verification of M tokens gives each row the logits of the M one-token decode steps it
/// replaces, bit for bit (what makes greedy speculation lossless by construction).
@Suite struct VerificationBitsTests {
    @Test(
        .enabled(
            if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"),
        arguments: ["standard", "float32"])
    func verificationRowsEqualDecodeSteps(_ name: String) throws {
        let model = try LlamaModel.load(from: TestAssets.smolLM2)
        let policy: KernelPolicy = name == "standard" ? .standard : .float32
        let prompt: [Int32] = [1, 504, 3458, 314, 260, 1789, 30, 2]
        let tokens: [Int32] = [28, 3000, 17, 451, 9, 1024]
        func cache() throws -> KVCache {
            let cache = model.makeCache(capacity: 32)
            _ = try model.forward(TokenBatch(tokens: prompt), cache: cache, options: ForwardOptions(logits: .last))
            return cache
        }
        let stepwise = try cache()
        var steps: [[UInt32]] = []
        for token in tokens {
            let logits = try #require(
                try model.forward(
                    TokenBatch(tokens: [token]), cache: stepwise,
                    options: ForwardOptions(logits: .last, kernels: policy)
                ).logits)
            steps.append(logits.values.map(\.bitPattern))
        }
        let vocabulary = model.configuration.vocabularySize
        for count in [2, 6] {
            let all = try #require(
                try model.forward(
                    TokenBatch(tokens: Array(tokens.prefix(count))), cache: try cache(),
                    options: ForwardOptions(logits: .all, kernels: policy)
                ).logits
            ).values.map(\.bitPattern)
            for row in 0..<count {
                #expect(
                    Array(all[(row * vocabulary)..<((row + 1) * vocabulary)]) == steps[row],
                    "\(count) tokens, row \(row)")
            }
        }
    }
}
