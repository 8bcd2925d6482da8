/// Tensor names of llama.cpp GGUF files mapped to Hugging Face checkpoint names
/// (`llama.cpp/gguf-py/gguf/tensor_mapping.py`, the Llama-family subset).
public enum TensorNames {
    private static let global: [String: String] = [
        "token_embd.weight": "model.embed_tokens.weight",
        "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight",
    ]

    private static let perLayer: [String: String] = [
        "attn_norm.weight": "input_layernorm.weight",
        "attn_q.weight": "self_attn.q_proj.weight",
        "attn_k.weight": "self_attn.k_proj.weight",
        "attn_v.weight": "self_attn.v_proj.weight",
        "attn_q.bias": "self_attn.q_proj.bias",
        "attn_k.bias": "self_attn.k_proj.bias",
        "attn_v.bias": "self_attn.v_proj.bias",
        "attn_output.weight": "self_attn.o_proj.weight",
        "attn_q_norm.weight": "self_attn.q_norm.weight",
        "attn_k_norm.weight": "self_attn.k_norm.weight",
        "ffn_norm.weight": "post_attention_layernorm.weight",
        "ffn_gate.weight": "mlp.gate_proj.weight",
        "ffn_up.weight": "mlp.up_proj.weight",
        "ffn_down.weight": "mlp.down_proj.weight",
    ]

    /// The Hugging Face name of a GGUF tensor, or nil for a name outside the Llama family
    /// (e.g. `rope_freqs.weight`, which holds values Fledge computes itself).
    public static func huggingFace(fromGGUF name: String) -> String? {
        if let mapped = global[name] { return mapped }
        let parts = name.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]), let suffix = perLayer[String(parts[2])] else {
            return nil
        }
        return "model.layers.\(layer).\(suffix)"
    }
}

/// Undoes llama.cpp's row permutation of Q and K in `llama` GGUFs.
///
/// The converter interleaves the two halves of each head so its RoPE can rotate adjacent
/// pairs; with head dimension d, head h, i < d/2 and j ∈ {0, 1}:
/// `HF_row[h·d + j·d/2 + i] = GGUF_row[h·d + 2i + j]` (docs/formats.md). Applies to weights
/// ([rows, columns]) and biases ([rows], columns = 1).
public enum LlamaQKPermutation {
    public static func unpermute(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, heads: Int, rows: Int, columns: Int) {
        for (target, origin) in sourceRows(heads: heads, rows: rows).enumerated() {
            (destination + target * columns).update(from: source + origin * columns, count: columns)
        }
    }

    /// For each row of the un-permuted matrix, the row of the stored (permuted) one it comes from.
    public static func sourceRows(heads: Int, rows: Int) -> [Int] {
        precondition(rows % heads == 0, "\(rows) rows do not split into \(heads) heads")
        let d = rows / heads
        precondition(d % 2 == 0, "head dimension \(d) is odd")
        var origins = [Int](repeating: 0, count: rows)
        for h in 0..<heads {
            for j in 0..<2 {
                for i in 0..<(d / 2) { origins[h * d + j * d / 2 + i] = h * d + 2 * i + j }
            }
        }
        return origins
    }
}
