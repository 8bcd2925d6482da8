import ArgumentParser
import Foundation
import FledgeDraft
import FledgeLlama
import FledgeSpeculative

/// `--temperature`, `--top-p`, `--seed`: shared by `generate`, `chat` and `eval`.
struct SamplingOptionGroup: ParsableArguments {
    @Option(help: "Sampling temperature (0 = greedy; with a draft, sampling runs as a chain).")
    var temperature: Float = 0

    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass (with --temperature).")
    var topP: Float = 1

    @Option(help: "Sampling seed (each turn of a conversation or benchmark derives its own).")
    var seed: UInt64 = 0

    func validate() throws {
        guard temperature >= 0 else { throw ValidationError("--temperature must not be negative") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    var options: SamplingOptions { SamplingOptions(temperature: temperature, topP: topP, seed: seed) }
}

/// `--draft` and the speculation strategy: shared by `generate`, `chat` and `eval`, with one
/// set of defaults (a chain of 3 draft tokens when a draft is given).
struct SpeculationOptions: ParsableArguments {
    @Option(help: "An exported draft folder or a training checkpoint (any method: EAGLE-3, EAGLE-1).")
    var draft: String?

    @Option(help: "plain, chain or tree (EAGLE-2 dynamic tree); default: chain with --draft, plain without.")
    var mode: String?

    @Option(help: "Draft tokens per cycle (chain).")
    var steps = 3

    @Option(name: .customLong("top-k"), help: "Children per expanded node (tree).")
    var topK = 8

    @Option(help: "Tree depth.")
    var depth = 6

    @Option(name: .customLong("tree-tokens"), help: "Tokens verified per cycle (tree, the root included; at most 64).")
    var treeTokens = 48

    @Option(
        help: """
            Decoding kernels of a GGUF's quantised matrices: integer (8-bit activations × the weight blocks, \
            as llama.cpp), dequantising (each weight converted to Float32: the Float32 path's bits) or float32 \
            (the dequantised Float32 weights only).
            """)
    var kernels = "integer"

    func validate() throws {
        if let mode, !["plain", "chain", "tree"].contains(mode) {
            throw ValidationError("--mode must be plain, chain or tree")
        }
        if draft == nil, let mode, mode != "plain" { throw ValidationError("--mode \(mode) needs --draft") }
        guard KernelPolicy(spelling: kernels) != nil else {
            throw ValidationError("--kernels: unknown kernels \"\(kernels)\"; use integer, dequantising or float32")
        }
        guard steps >= 1, topK >= 1, depth >= 1, treeTokens >= 2 else {
            throw ValidationError("--steps, --top-k and --depth must be ≥ 1 and --tree-tokens ≥ 2")
        }
    }

    /// The strategy the options name.
    var strategy: DecodingStrategy {
        switch mode ?? (draft == nil ? "plain" : "chain") {
        case "tree": .tree(topK: topK, depth: depth, treeTokens: treeTokens)
        case "chain": .chain(steps: steps)
        default: .plain
        }
    }

    /// Refuses `strategy` with `sampling` and the default kernels (the engine's own check).
    static func check(_ strategy: DecodingStrategy, sampling: SamplingOptions) throws {
        if let refusal = strategy.refusal(sampling: sampling, kernels: .standard) {
            throw ValidationError("\(strategy): \(refusal)")
        }
    }

    /// The kernel policy `--kernels` names.
    var policy: KernelPolicy { KernelPolicy(spelling: kernels) ?? .standard }

    /// The target's decoding session, with the draft when one was given.
    func session(target: TargetModel) throws -> DecodingSession {
        guard let draft else { return DecodingSession(target: target.model, kernels: policy) }
        let loaded = try DraftMethods.load(URL(fileURLWithPath: draft), target: target.model)
        return DecodingSession(
            target: target.model,
            drafter: try loaded.makeDrafter(target: target.model, capacity: target.model.configuration.maxPositions),
            kernels: policy)
    }
}

/// `--max-tokens`: shared by `generate`, `chat` and `eval`.
struct LengthOptions: ParsableArguments {
    @Option(name: .customLong("max-tokens"), help: "The most new tokens per answer.")
    var maxTokens = 256

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }
}
