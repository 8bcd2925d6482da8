import Foundation
import FledgeTemplate
import Testing
@testable import FledgeLlama
import FledgeTestSupport

/// The default decoding kernels (integer products on the GGUF's blocks) against llama.cpp on
/// the same file: the fixture holds llama.cpp's prompt tokens, its 32 greedy tokens and the
/// top-two margin of each (Fixtures/llama_cpp_greedy.json, made by
/// Scripts/reference/make_llama_cpp_greedy_fixture.py with llama-cpp-python 0.3.36).
@Suite(
    .serialized,
    .enabled(if: TestAssets.hasSmolLM2, "needs the SmolLM2 GGUF: run Scripts/fetch-assets.sh model (make test does)"))
struct LlamaCppGreedyTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var prompt: String
            var prompt_tokens: [Int32]
            var greedy_tokens: [Int32]
            var top2_margin: [Float]
        }
        var cases: [Case]
    }

    /// Two kernels agree on a greedy token unless llama.cpp's own top two were within this.
    static let nearTie: Float = 0.25

    @Test func promptsAndGreedyTokensMatchLlamaCpp() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
            .appendingPathComponent("llama_cpp_greedy.json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        let target = try TargetModel.load(from: TestAssets.smolLM2)
        var compared = 0
        for item in fixture.cases {
            // Fledge's template and tokenizer give llama.cpp's prompt tokens.
            let prompt = try target.format.encodeChat(
                [ChatMessage(role: "user", content: item.prompt)], addGenerationPrompt: true)
            #expect(prompt == item.prompt_tokens, "prompt: \(item.prompt)")
            let generated = try target.model.generate(
                prompt: item.prompt_tokens, maxTokens: item.greedy_tokens.count, kernels: .standard
            ).tokens
            // Token for token up to llama.cpp's first near-tie (after it the texts may part).
            let agreed = item.top2_margin.firstIndex { $0 < Self.nearTie } ?? item.greedy_tokens.count
            #expect(
                Array(generated.prefix(agreed)) == Array(item.greedy_tokens.prefix(agreed)),
                "prompt: \(item.prompt)")
            compared += agreed
        }
        #expect(compared >= 20, "too few tokens before the first near-tie to compare (\(compared))")
    }
}
