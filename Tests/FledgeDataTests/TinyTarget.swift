import Foundation
import FledgeLlama
import FledgeTemplate
import FledgeTokenizer

/// The tiny random Llama of the Llama fixtures with a small byte-level vocabulary and a
/// ChatML template: a complete target for pipeline tests.
enum TinyTarget {
    static let template = """
        {% for message in messages %}<|im_start|>{{ message.role }}
        {{ message.content }}<|im_end|>
        {% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
        {% endif %}
        """

    static func make() throws -> TargetModel {
        let model = try LlamaModel.load(
            from: DataTestAssets.packageRoot.appendingPathComponent("Tests/FledgeLlamaTests/Fixtures/tiny-llama"))
        // Printable ASCII, space (Ġ) and newline (Ċ) as byte-level symbols, two control tokens.
        var tokens = (33...126).map { String(UnicodeScalar(UInt8($0))) } + ["Ġ", "Ċ", "<|im_start|>", "<|im_end|>"]
        var types = [Int32](repeating: 1, count: tokens.count - 2) + [3, 3]
        while tokens.count < model.configuration.vocabularySize {
            tokens.append("<unused\(tokens.count)>")
            types.append(5)
        }
        let vocabulary = GGUFVocabulary(
            model: "gpt2", pre: "gpt-2", tokens: tokens, tokenTypes: types, merges: [],
            bosTokenID: 96, eosTokenID: 97)
        let format = ChatFormat(
            tokenizer: try Tokenizer(vocabulary: vocabulary), template: try ChatTemplate(source: template),
            bosToken: "<|im_start|>", eosToken: "<|im_end|>", url: DataTestAssets.packageRoot)
        return TargetModel(model: model, format: format)
    }
}
