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
    /// (e.g. `rope_freqs.weight`, which the configuration reads as RoPE factors).
    public static func huggingFace(fromGGUF name: String) -> String? {
        if let mapped = global[name] { return mapped }
        let parts = name.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]), let suffix = perLayer[String(parts[2])]
        else {
            return nil
        }
        return "model.layers.\(layer).\(suffix)"
    }
}
