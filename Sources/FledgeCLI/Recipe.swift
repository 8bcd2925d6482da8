import Foundation

/// A pipeline of fledge commands: prepare data, build the vocabulary, train, evaluate, export.
///
/// Each stage is a `fledge` command line with `${RUN}` (the run folder) and `${ASSETS}` (the
/// downloaded model and data) substituted. A stage that finished is recorded in
/// `RUN/stages/NAME.json` with its command line; the next run reuses it while the line is the
/// same and no earlier stage ran again, and a training stage that was killed resumes from its
/// last checkpoint.
public struct Recipe: Codable, Sendable {
    public struct Stage: Codable, Sendable {
        public var name: String
        public var command: [String]
        public var about: String?
    }

    public var name: String
    public var about: String
    public var stages: [Stage]

    /// The stage's command line with the variables substituted.
    func expand(_ stage: Stage, run: String, assets: String) -> [String] {
        stage.command.map {
            $0.replacingOccurrences(of: "${RUN}", with: run).replacingOccurrences(of: "${ASSETS}", with: assets)
        }
    }

    /// The recipes built into the binary (`fledge recipe show NAME` prints one to start from).
    public static let builtIn: [String: Recipe] = ["demo": demo, "long": long, "regen": regen]

    /// The first 4,000 ShareGPT conversations, prepared (the `demo` and `regen` recipes' data).
    static let demoData = Stage(
        name: "prepare",
        command: [
            "data", "prepare", "${ASSETS}/ShareGPT_V3_unfiltered_cleaned_split.json", "--output", "${RUN}/data",
            "--max-conversations", "4000",
        ],
        about: "ShareGPT → unified JSONL, train/eval split")

    /// `make demo`: a draft for SmolLM2 from a ShareGPT sample in 15–26 minutes on 2 cores (about
    /// 15 at the EPYC machines' ~500 training tokens/s; 26 measured on a machine whose OpenBLAS
    /// fell back to its Prescott kernels). A 4,096-token draft vocabulary (as accurate as 8,192
    /// at this budget on MT-bench, and a cheaper head while decoding) and 600 steps.
    public static let demo = Recipe(
        name: "demo",
        about: "EAGLE-3 draft for SmolLM2-135M-Instruct from 4,000 ShareGPT conversations: 15–26 minutes on 2 cores",
        stages: [
            demoData,
            Stage(
                name: "vocab",
                command: [
                    "vocab", "--data-path", "${RUN}/data", "--draft-vocab-size", "4096", "--output", "${RUN}/vocab",
                ],
                about: "the 4,096 most frequent assistant tokens (d2t/t2d)"),
            Stage(
                name: "train",
                command: [
                    "train", "--data-path", "${RUN}/data", "--d2t-path", "${RUN}/vocab/vocab.safetensors",
                    "--save-path", "${RUN}/train", "--draft-vocab-size", "4096", "--max-length", "512",
                    "--max-steps", "600", "--ttt-steps", "4", "--lr", "1e-3", "--warmup-ratio", "0.03",
                    "--init-head-from-target", "--save-interval", "50", "--eval-interval", "100",
                    "--max-eval-samples", "16", "--logger", "jsonl",
                ],
                about: "online EAGLE-3 training (the target runs in the loop), checkpoints every 50 steps"),
            Stage(
                name: "eval",
                command: [
                    "eval", "--draft", "${RUN}/train/export", "--bench", "mtbench", "--per-category", "1", "--modes",
                    "tree:8/4/24", "chain:3", "--max-tokens", "64", "--output", "${RUN}/eval.json",
                ],
                about: "speculative vs plain decoding on one MT-bench question of each category, both turns"),
            Stage(
                name: "export",
                command: [
                    "export", "--checkpoint", "${RUN}/train/export", "--format", "speculators", "--output",
                    "${RUN}/export-speculators",
                ],
                about: "the draft in the speculators layout too (RUN/train/export is the EAGLE/SpecForge layout)"),
        ])

    /// The budget curve's run as a recipe (README › Draft quality): the first 20,000 ShareGPT
    /// conversations, 6,500 one-sample steps (about 3.1 M trained tokens) at a constant
    /// learning rate, a checkpoint and an eval-split τ every 250 steps, then the draft
    /// comparison's MT-bench line on the last step.
    public static let long = Recipe(
        name: "long",
        about:
            "EAGLE-3 draft for SmolLM2-135M-Instruct from 20,000 ShareGPT conversations, 6,500 steps "
            + "(about 3.1 M tokens), all 80 MT-bench questions: 2 h 15 min–4 h on 2 cores",
        stages: [
            Stage(
                name: "prepare",
                command: [
                    "data", "prepare", "${ASSETS}/ShareGPT_V3_unfiltered_cleaned_split.json", "--output", "${RUN}/data",
                    "--max-conversations", "20000",
                ],
                about: "ShareGPT → unified JSONL, train/eval split"),
            Stage(
                name: "vocab",
                command: [
                    "vocab", "--data-path", "${RUN}/data", "--draft-vocab-size", "8192", "--output", "${RUN}/vocab",
                ],
                about: "the 8,192 most frequent assistant tokens (d2t/t2d)"),
            Stage(
                name: "train",
                command: [
                    "train", "--data-path", "${RUN}/data", "--d2t-path", "${RUN}/vocab/vocab.safetensors",
                    "--save-path", "${RUN}/train", "--draft-vocab-size", "8192", "--max-length", "512",
                    "--max-steps", "6500", "--ttt-steps", "4", "--lr", "5e-4", "--scheduler", "constant",
                    "--warmup-ratio", "0.005", "--init-head-from-target", "--save-interval", "250",
                    "--keep-checkpoints", "30", "--eval-interval", "250", "--max-eval-samples", "16", "--logger",
                    "jsonl",
                ],
                about: "online EAGLE-3 training, a budget point (checkpoint, eval-split τ) every 250 steps"),
            Stage(
                name: "eval",
                command: [
                    "eval", "--draft", "${RUN}/train/export", "--bench", "mtbench", "--modes", "chain:3", "chain:5",
                    "tree:8/4/24", "--max-tokens", "64", "--output", "${RUN}/eval.json",
                ],
                about: "speculative vs plain decoding, all 80 MT-bench questions, both turns"),
            Stage(
                name: "export",
                command: [
                    "export", "--checkpoint", "${RUN}/train/export", "--format", "speculators", "--output",
                    "${RUN}/export-speculators",
                ],
                about: "the draft in the speculators layout too"),
        ])

    /// The `demo` recipe's data, budget and settings on answers the target wrote itself
    /// (self-distillation, as the EAGLE authors, SpecForge and speculators recommend): the
    /// first 760 training conversations regenerated greedily up to the training length (512
    /// tokens; 659 fit, the rest go to the failure file), 64 of the eval split the same way,
    /// then the demo's vocabulary size, training (360 one-sample steps, about the demo's
    /// 172 k tokens) and the comparison's evaluation of all 80 MT-bench questions. The regen
    /// stage resumes where a killed run stopped, and a finished one is reused by the next run.
    public static let regen = Recipe(
        name: "regen",
        about:
            "the demo draft trained on SmolLM2's own answers to 760 ShareGPT conversations "
            + "(regenerated here, about 20 minutes), then all 80 MT-bench questions",
        stages: [
            demoData,
            Stage(
                name: "regen",
                command: [
                    "data", "regenerate", "--data-path", "${RUN}/data", "--output", "${RUN}/regen/train.jsonl",
                    "--max-conversations", "760", "--max-tokens", "512", "--max-length", "512", "--temperature", "0",
                    "--batch-size", "32",
                ],
                about: "every assistant turn rewritten by the target, greedy, resumable"),
            Stage(
                name: "regen-eval",
                command: [
                    "data", "regenerate", "--data-path", "${RUN}/data", "--split", "eval", "--output",
                    "${RUN}/regen/eval.jsonl", "--max-conversations", "64", "--max-tokens", "512", "--max-length",
                    "512", "--temperature", "0", "--batch-size", "32",
                ],
                about: "the eval split rewritten the same way"),
            Stage(
                name: "vocab",
                command: [
                    "vocab", "--data-path", "${RUN}/regen/train.jsonl", "--draft-vocab-size", "8192", "--output",
                    "${RUN}/vocab",
                ],
                about: "the 8,192 most frequent tokens of the regenerated answers"),
            Stage(
                name: "train",
                command: [
                    "train", "--data-path", "${RUN}/regen/train.jsonl", "--eval-data-path", "${RUN}/regen/eval.jsonl",
                    "--d2t-path", "${RUN}/vocab/vocab.safetensors", "--save-path", "${RUN}/train",
                    "--draft-vocab-size", "8192", "--max-length", "512", "--max-steps", "360", "--ttt-steps", "4",
                    "--lr", "1e-3", "--warmup-ratio", "0.03", "--init-head-from-target", "--save-interval", "50",
                    "--eval-interval", "100", "--max-eval-samples", "16", "--logger", "jsonl",
                ],
                about: "the demo's training on the regenerated answers"),
            Stage(
                name: "eval",
                command: [
                    "eval", "--draft", "${RUN}/train/export", "--bench", "mtbench", "--modes", "chain:3", "chain:5",
                    "tree:8/4/24", "--max-tokens", "64", "--output", "${RUN}/eval.json",
                ],
                about: "speculative vs plain decoding, all 80 MT-bench questions, both turns"),
        ])

    /// A built-in name or a JSON file.
    static func load(_ nameOrPath: String) throws -> Recipe {
        if let recipe = builtIn[nameOrPath] { return recipe }
        let url = URL(fileURLWithPath: nameOrPath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CLIError(
                "no recipe called \(nameOrPath) and no such file",
                hint:
                    "built in: \(builtIn.keys.sorted().joined(separator: ", ")); "
                    + "or a JSON file (fledge recipe show demo)"
            )
        }
        do {
            let recipe = try JSONDecoder().decode(Recipe.self, from: Data(contentsOf: url))
            for stage in recipe.stages where stage.command.isEmpty || stage.name.isEmpty || stage.name.contains("/") {
                throw CLIError("\(url.path): stage '\(stage.name)' needs a name (no '/') and a command")
            }
            guard Set(recipe.stages.map(\.name)).count == recipe.stages.count else {
                throw CLIError("\(url.path): two stages share a name")
            }
            return recipe
        } catch let error as DecodingError {
            throw CLIError("\(url.path): not a recipe: \(error)", hint: "fledge recipe show demo prints one")
        }
    }
}
