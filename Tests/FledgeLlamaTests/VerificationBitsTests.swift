import Foundation
import Testing
@testable import FledgeLlama
import FledgeTensor
import FledgeTestSupport

/// A verification of M tokens (a chain, or a tree's path) gives each row the logits of the
/// one-token decode steps it replaces, bit for bit (what makes greedy speculation lossless by
/// construction).
@Suite struct VerificationBitsTests {
    @Test(
        .enabled(
            if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"),
        arguments: ["standard", "float32"])
    func verificationRowsEqualDecodeSteps(_ name: String) throws {
        let model = try LlamaModel.load(from: TestAssets.smolLM2)
        let policy: KernelPolicy = name == "standard" ? .standard : .float32
        let prompt: [Int32] = [1, 504, 3458, 314, 260, 1789, 30, 2]
        // Six tokens, then 74 more: a continuing call longer than the 64 exact rows (a new turn
        // after cached ones) must still give every row a decode step's bits under integer
        // products, which never fall back to OpenBLAS for continuing calls.
        let tokens: [Int32] = [28, 3000, 17, 451, 9, 1024] + (0..<74).map { Int32(($0 * 7_919 + 13) % 49_000) }
        func cache() throws -> KVCache {
            let cache = model.makeCache(capacity: 96)
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
        for count in name == "standard" ? [2, 6, 80] : [2, 6] {
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
        // A tree whose path 0 → 2 → 5 → 7 holds the first four tokens, with siblings between
        // them in the call (so the path's keys are not contiguous in the cache): the path's rows
        // give the decode steps' bits.
        let treeTokens: [Int32] = [tokens[0], 77, tokens[1], 88, 99, tokens[2], 111, tokens[3]]
        let parents = [-1, -1, 0, 0, 2, 2, 4, 5]
        let tree = try #require(
            try model.forward(
                TokenBatch(tokens: treeTokens, treeParents: parents), cache: try cache(),
                options: ForwardOptions(logits: .all, kernels: policy)
            ).logits
        ).values.map(\.bitPattern)
        for (step, row) in [0, 2, 5, 7].enumerated() {
            #expect(Array(tree[(row * vocabulary)..<((row + 1) * vocabulary)]) == steps[step], "tree row \(row)")
        }
    }
}
