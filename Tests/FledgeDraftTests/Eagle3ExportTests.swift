import Foundation
import Testing
@testable import FledgeDraft
import FledgeTensor
import FledgeWeights

@Suite struct Eagle3ExportTests {
    func temporary() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fledge-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test(arguments: Eagle3Export.Format.allCases, [1, 2])
    func exportsReloadExactly(_ format: Eagle3Export.Format, layers: Int) throws {
        let (trainer, _) = Eagle3GradientTests.tinySetup(layers: layers)
        let draft = trainer.draft
        let directory = try temporary()
        try Eagle3Export.write(
            draft, format: format, to: directory, target: .init(name: "tiny", bosTokenID: 1, eosTokenID: 2), dtype: .f32
        )
        let loaded = try Eagle3Export.load(from: directory, embedding: draft.embedding)
        #expect(loaded.configuration == draft.configuration)
        #expect(loaded.d2t == draft.d2t && loaded.t2d == draft.t2d)
        #expect(loaded.parameters.parameters.values == draft.parameters.parameters.values)
        let file = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        #expect(file.entries["d2t"]?.dtype == .i64 && file.entries["t2d"]?.dtype == .bool)
        let config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("config.json")))
                as? [String: Any])
        switch format {
        case .eagle:
            // docs/design.md §5.11: exactly the trainable tensors under midlayer.* (one layer; layers.i.*
            // for several), plus d2t/t2d, and no embedding.
            let names = draft.configuration.parameterShapes.map {
                layers == 1 ? $0.name : Eagle3Export.speculatorsName($0.name)
            }
            #expect(Set(file.names) == Set(names + ["d2t", "t2d"]))
            #expect(config["num_hidden_layers"] as? Int == layers)
            #expect(config["architectures"] as? [String] == ["LlamaForCausalLMEagle3"])
            #expect(config["draft_vocab_size"] as? Int == 24 && config["tie_word_embeddings"] as? Bool == false)
            #expect(config["rope_theta"] as? Double == 10_000 && config["eagle_aux_hidden_state_layer_ids"] == nil)
        case .speculators:
            #expect(
                file.names.contains("layers.0.self_attn.q_proj.weight") && file.names.contains("embed_tokens.weight"))
            #expect(!file.names.contains { $0.hasPrefix("midlayer.") })
            #expect(
                (config["transformer_layer_config"] as? [String: Any])?["num_hidden_layers"] as? Int == layers)
            #expect(file.names.contains("layers.1.self_attn.q_proj.weight") == (layers == 2))
            #expect(
                config["norm_before_residual"] as? Bool == false
                    && config["speculators_model_type"] as? String == "eagle3")
        }
    }

    @Test func bf16ExportsRoundToNearestEven() throws {
        let (trainer, _) = Eagle3GradientTests.tinySetup()
        let directory = try temporary()
        try Eagle3Export.write(trainer.draft, format: .eagle, to: directory, target: .init(name: "tiny"))
        let loaded = try Eagle3Export.load(from: directory, embedding: trainer.draft.embedding)
        let expected = trainer.draft.parameters.parameters.values.map {
            HalfPrecision.float(bf16: HalfPrecision.bf16Bits($0))
        }
        #expect(loaded.parameters.parameters.values == expected)
    }

    @Test func foreignConfigsAreRefused() throws {
        let (trainer, _) = Eagle3GradientTests.tinySetup()
        let directory = try temporary()
        try Eagle3Export.write(trainer.draft, format: .eagle, to: directory, target: .init(name: "tiny"), dtype: .f32)
        let url = directory.appendingPathComponent("config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        config["architectures"] = ["LlamaForCausalLM"]
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        #expect { try Eagle3Export.load(from: directory, embedding: trainer.draft.embedding) } throws: {
            "\($0)".contains("not an EAGLE-3 draft")
        }
    }
}
