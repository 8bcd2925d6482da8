import Foundation
import Testing
@testable import FledgeSpeculative
import FledgeDraft
import FledgeLlama
import FledgeTensor

/// The decoding engine: a conversation's later turns prefill only their new tokens, in every
/// strategy, with the same output as plain decoding of the same turns; strategies that would
/// break losslessness are refused; feature layers travel with an exported draft.
@Suite struct DecodingSessionTests {
    static func target() throws -> LlamaModel {
        try LlamaModel.load(
            from: SpeculativeDecoderTests.root.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
    }

    /// An EAGLE-3 draft over every other token of the tiny target, its head from the target's
    /// rows (so that drafts are both accepted and rejected).
    static func draft(_ target: LlamaModel, layers: [Int]? = nil) -> Eagle3Draft {
        let ids = Array(stride(from: 0, to: 160, by: 2))
        var t2d = [Bool](repeating: false, count: 160)
        for id in ids { t2d[id] = true }
        var configuration = Eagle3Configuration(target: target.configuration, draftVocabularySize: ids.count)
        configuration.featureLayers = layers
        let draft = Eagle3Draft(
            configuration: configuration, embedding: target.embedding,
            d2t: ids.enumerated().map { Int64($0.element - $0.offset) }, t2d: t2d)
        draft.initialize(seed: 2)
        draft.initializeHead(fromTarget: target.head)
        return draft
    }

    @Test(arguments: [DecodingStrategy.plain, .chain(steps: 3), .tree(topK: 3, depth: 3, treeTokens: 8)])
    func laterTurnsPrefillOnlyTheirNewTokens(_ strategy: DecodingStrategy) throws {
        let target = try Self.target()
        let drafter =
            strategy == .plain ? nil : Eagle3Drafter(draft: Self.draft(target), capacity: 256, layers: [0, 1, 2])
        let session = DecodingSession(target: target, drafter: drafter)
        // The reference: plain decoding of the same turns in its own session.
        let plain = DecodingSession(target: target)
        let request = DecodingRequest(strategy: strategy, maxTokens: 12)
        let turn1: [Int32] = [5, 17, 99, 3]
        let first = try session.generate(prompt: turn1, request)
        #expect(first.prefilledTokens == turn1.count)
        #expect(first.tokens == (try plain.generate(prompt: turn1, DecodingRequest(maxTokens: 12))).tokens)
        // Turn 2 repeats turn 1 and its answer, then adds a separator and a new message.
        let turn2 = turn1 + first.tokens + [1, 42, 7, 8]
        let second = try session.generate(prompt: turn2, request)
        // New to the target: the separator and message, and at most the answer's last token
        // (a generated token is fed back only when the next one is computed).
        let new = turn2.count - turn1.count - first.tokens.count
        #expect(
            second.prefilledTokens >= new && second.prefilledTokens <= new + 1,
            "\(strategy): \(second.prefilledTokens) of \(turn2.count)")
        if strategy == .plain { #expect(second.prefilledTokens == new + 1) }
        let plainSecond = try plain.generate(prompt: turn2, DecodingRequest(maxTokens: 12))
        #expect(plainSecond.prefilledTokens == new + 1)
        #expect(second.tokens == plainSecond.tokens, "\(strategy): turn 2 differs from plain decoding")
        // A conversation whose earlier turn changed keeps only the shared prefix (a draft also
        // needs the features of the last shared position, which the target computes again).
        let edited: [Int32] = [5, 17, 50, 1, 2, 9]
        let third = try session.generate(prompt: edited, request)
        #expect(third.prefilledTokens == edited.count - (strategy.isSpeculative ? 1 : 2))
        #expect(third.tokens == (try plain.generate(prompt: edited, DecodingRequest(maxTokens: 12))).tokens)
        // After a reset everything is prefilled again.
        session.reset()
        #expect(try session.generate(prompt: edited, request).prefilledTokens == edited.count)
        if strategy.isSpeculative {
            #expect(second.stats.cycles > 0 && second.stats.targetSeconds > 0 && second.stats.draftSeconds > 0)
        }
    }

    @Test func strategiesThatWouldNotBeLosslessAreRefused() throws {
        let target = try Self.target()
        let session = DecodingSession(
            target: target, drafter: Eagle3Drafter(draft: Self.draft(target), capacity: 256, layers: [0, 1, 2]))
        let sampled = SamplingOptions(temperature: 0.7)
        for (strategy, sampling) in [
            (DecodingStrategy.tree(topK: 4, depth: 4, treeTokens: 65), SamplingOptions()),
            (.chain(steps: 64), SamplingOptions()), (.tree(topK: 2, depth: 2, treeTokens: 4), sampled),
            (.tree(topK: 65, depth: 2, treeTokens: 8), SamplingOptions()),
        ] {
            #expect(throws: LlamaError.self, "\(strategy)") {
                try session.generate(
                    prompt: [5, 17], DecodingRequest(strategy: strategy, maxTokens: 4, sampling: sampling))
            }
        }
        // Without row-exact kernels no speculation is lossless; plain decoding still runs.
        let blas = DecodingSession(
            target: target, drafter: Eagle3Drafter(draft: Self.draft(target), capacity: 256, layers: [0, 1, 2]),
            kernels: .openBLAS)
        #expect(throws: LlamaError.self) {
            try blas.generate(prompt: [5, 17], DecodingRequest(strategy: .chain(steps: 1), maxTokens: 4))
        }
        #expect(try blas.generate(prompt: [5, 17], DecodingRequest(maxTokens: 4)).tokens.count == 4)
        // Chain and tree without a draft.
        #expect(throws: LlamaError.self) {
            try DecodingSession(target: target).generate(
                prompt: [5], DecodingRequest(strategy: .chain(steps: 2), maxTokens: 4))
        }
    }

    /// A draft trained on other target layers than the defaults writes them into both export
    /// layouts, and the loaded draft decodes from those layers.
    @Test func featureLayersTravelWithTheDraft() throws {
        let target = try Self.target()
        let layers = [2, 1, 0]
        let draft = Self.draft(target, layers: layers)
        let prompts: [[Int32]] = [[5, 17, 99, 3], [7, 150, 8, 23, 64, 1, 2, 9, 100]]
        for format in ["eagle", "speculators"] {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "fledge-layers-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: folder) }
            try draft.export(to: folder, format: format, target: .init(name: "tiny"), dtype: .f32)
            let config = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("config.json")))
                    as? [String: Any])
            // vLLM's and speculators' key counts inputs of layers (Fledge's outputs + 1).
            #expect(config["eagle_aux_hidden_state_layer_ids"] as? [Int] == [3, 2, 1], "\(format)")
            let nested = (config["eagle_config"] as? [String: Any])?["eagle_aux_hidden_state_layer_ids"] as? [Int]
            #expect(nested == (format == "eagle" ? layers : nil), "\(format)")
            let loaded = try DraftMethods.load(folder, target: target)
            #expect(loaded.featureLayers == layers)
            let drafter = try loaded.makeDrafter(target: target, capacity: 256)
            #expect(drafter.forwardOptions.captureLayers == layers)
            // The loaded draft proposes exactly what the in-memory draft reading those layers does.
            let session = DecodingSession(target: target, drafter: drafter)
            let reference = DecodingSession(
                target: target, drafter: Eagle3Drafter(draft: draft, capacity: 256, layers: layers))
            for prompt in prompts {
                let request = DecodingRequest(strategy: .chain(steps: 3), maxTokens: 24)
                let (a, b) = (
                    try session.generate(prompt: prompt, request), try reference.generate(prompt: prompt, request)
                )
                #expect(
                    a.tokens == b.tokens && a.stats.accepted == b.stats.accepted && a.stats.cycles == b.stats.cycles)
            }
            // Its step-0 rows are fc of those layers' outputs, not of the default ones.
            let n = prompts[0].count
            let result = try target.forward(
                TokenBatch(tokens: prompts[0]), cache: target.makeCache(capacity: 16),
                options: ForwardOptions(captureLayers: [0, 1, 2], logits: .none))
            let expected = Tensor(zeros: [n, target.configuration.hiddenSize])
            let fused = result.concatenatedCaptures(layers, rows: n)
            (try #require(drafter as? Eagle3Drafter)).fuse(fused.pointer, rows: n, into: expected.pointer)
            withExtendedLifetime(fused) {}
            #expect(drafter.features(result, rows: n).values == expected.values)
            #expect(
                Eagle3Drafter(draft: draft, capacity: 16, layers: [0, 1, 2]).features(result, rows: n).values
                    != expected.values)
        }
        // Default layers are never written.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-layers-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.draft(target).export(to: folder, format: "eagle", target: .init(name: "tiny"), dtype: .f32)
        let text = try String(contentsOf: folder.appendingPathComponent("config.json"), encoding: .utf8)
        #expect(!text.contains("aux_hidden_state"))
        #expect(try DraftMethods.load(folder, target: target).featureLayers == nil)
    }

    @Test func theRegistryNamesItsMethods() throws {
        #expect(DraftMethods.names == ["eagle3", "eagle1"])
        #expect(throws: DraftError.self) { try DraftMethods.named("medusa") }
        do {
            _ = try DraftMethods.named("medusa")
        } catch let error as DraftError {
            #expect(error.description.contains("eagle3, eagle1"))
        }
        var settings = DraftSettings()
        settings.vWeight = 1
        #expect(throws: DraftError.self) { try DraftMethods.validate(settings, method: "eagle3") }
        try DraftMethods.validate(settings, method: "eagle1")
    }
}
