#!/usr/bin/env python3
"""Writes Tests/FledgeLlamaTests/Fixtures/tiny-minicpm: a tiny random MiniCPM and what a PyTorch
reference of MiniCPM's published modeling code computes on it.

The reference below is written from OpenBMB's `modeling_minicpm.py` (the remote code that
`model_type: "minicpm"` configs run, MiniCPM-2B to MiniCPM4): Llama's pre-norm decoder with
  - the token embedding times `scale_emb`,
  - each sublayer's output (attention after o_proj, MLP after down_proj) times
    `scale_depth / sqrt(num_hidden_layers)` before it is added to the residual,
  - the final norm's output divided by `hidden_size / dim_model_base` before `lm_head`,
  - LongRoPE (`rope_scaling.rope_type = "longrope"`): the inverse frequencies divided by the
    per-dimension `long_factor` when max_position_embeddings > original_max_position_embeddings
    (the remote code builds its table once for max_position_embeddings), else `short_factor`,
    and cos/sin times sqrt(1 + ln(max / original) / ln(original)); rotate_half rotation,
  - RMSNorm in float32, GQA attention softmax(q·kᵀ/√d), SwiGLU MLP, tied embeddings.

Files:
  config.json, model.safetensors       the model as a Hugging Face folder (max positions 64,
                                       original 32: long factors and the attention factor apply)
  expected.safetensors                 input_ids, lengths (a right-padded batch of two), logits,
                                       every layer's output `hidden.{i}`, `final_hidden` (the final
                                       norm's output, before the logit scale)
  model.gguf                           the same model as llama.cpp's converter writes a `minicpm`
                                       GGUF: minicpm.embedding_scale / residual_scale / logit_scale,
                                       Q/K rows permuted, rope_factors_long/short tensors, the MLP in
                                       Q8_0 blocks, a byte-level tokenizer and a ChatML template
  expected-gguf.safetensors            the reference on the GGUF's weights (Q8_0 dequantised) with
                                       llama.cpp's choice for a context within context_length:
                                       the short factors and no attention factor

    /tmp/fledge-ref/bin/python Scripts/reference/make_minicpm_fixtures.py
(torch 2.15.0, numpy 2.4.6, gguf 0.19.0, safetensors 0.8.0; seed 11)
"""
import json
import math
import os

import gguf
import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "FledgeLlamaTests", "Fixtures", "tiny-minicpm")
torch.manual_seed(11)

HIDDEN, INTER, LAYERS, HEADS, KV_HEADS, VOCAB = 64, 96, 3, 4, 2, 160
HEAD_DIM = HIDDEN // HEADS
EPS, THETA = 1e-5, 10000.0
SCALE_EMB, SCALE_DEPTH, DIM_MODEL_BASE = 12.0, 1.4, 16
MAX_POS, ORIGINAL = 64, 32
SHORT = [round(1.0 + 0.05 * i, 4) for i in range(HEAD_DIM // 2)]
LONG = [round(1.0 + 0.9 * i, 4) for i in range(HEAD_DIM // 2)]

config = {
    "architectures": ["MiniCPMForCausalLM"], "model_type": "minicpm", "hidden_size": HIDDEN,
    "intermediate_size": INTER, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
    "num_key_value_heads": KV_HEADS, "vocab_size": VOCAB, "max_position_embeddings": MAX_POS,
    "rms_norm_eps": EPS, "rope_theta": THETA, "hidden_act": "silu", "tie_word_embeddings": True,
    "scale_emb": SCALE_EMB, "scale_depth": SCALE_DEPTH, "dim_model_base": DIM_MODEL_BASE,
    "rope_scaling": {"rope_type": "longrope", "short_factor": SHORT, "long_factor": LONG,
                     "original_max_position_embeddings": ORIGINAL},
    "bos_token_id": 96, "eos_token_id": 97, "torch_dtype": "float32",
}

# Weights under the Hugging Face names, larger than the default init so that layers matter.
weights = {"model.embed_tokens.weight": torch.randn(VOCAB, HIDDEN) * 0.2, "model.norm.weight": 1 + 0.1 * torch.randn(HIDDEN)}
for layer in range(LAYERS):
    p = f"model.layers.{layer}."
    weights[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(HIDDEN)
    weights[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(HIDDEN)
    weights[p + "self_attn.q_proj.weight"] = torch.randn(HEADS * HEAD_DIM, HIDDEN) * 0.2
    weights[p + "self_attn.k_proj.weight"] = torch.randn(KV_HEADS * HEAD_DIM, HIDDEN) * 0.2
    weights[p + "self_attn.v_proj.weight"] = torch.randn(KV_HEADS * HEAD_DIM, HIDDEN) * 0.2
    weights[p + "self_attn.o_proj.weight"] = torch.randn(HIDDEN, HEADS * HEAD_DIM) * 0.2
    weights[p + "mlp.gate_proj.weight"] = torch.randn(INTER, HIDDEN) * 0.2
    weights[p + "mlp.up_proj.weight"] = torch.randn(INTER, HIDDEN) * 0.2
    weights[p + "mlp.down_proj.weight"] = torch.randn(HIDDEN, INTER) * 0.2


def rms_norm(x, weight):
    x32 = x.to(torch.float32)
    variance = x32.pow(2).mean(-1, keepdim=True)
    return weight * (x32 * torch.rsqrt(variance + EPS)).to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_tables(length, use_long, attention_factor):
    inv_freq = 1.0 / (THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.int64).float() / HEAD_DIM))
    factors = torch.tensor(LONG if use_long else SHORT, dtype=torch.float32)
    t = torch.arange(length, dtype=torch.float32)
    freqs = torch.outer(t, 1.0 / factors) * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * attention_factor, emb.sin() * attention_factor


def forward(w, ids, use_long, attention_factor):
    """Hidden states after each layer, the final norm's output and the logits."""
    batch, length = ids.shape
    cos, sin = rope_tables(length, use_long, attention_factor)
    causal = torch.full((length, length), float("-inf")).triu(1)
    residual_scale = SCALE_DEPTH / math.sqrt(LAYERS)
    h = w["model.embed_tokens.weight"][ids] * SCALE_EMB
    outputs = []
    for layer in range(LAYERS):
        p = f"model.layers.{layer}."
        x = rms_norm(h, w[p + "input_layernorm.weight"])
        q = (x @ w[p + "self_attn.q_proj.weight"].T).view(batch, length, HEADS, HEAD_DIM).transpose(1, 2)
        k = (x @ w[p + "self_attn.k_proj.weight"].T).view(batch, length, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).view(batch, length, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(HEADS // KV_HEADS, dim=1)
        v = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
        scores = q @ k.transpose(2, 3) / math.sqrt(HEAD_DIM) + causal
        attention = torch.softmax(scores.float(), dim=-1) @ v
        attention = attention.transpose(1, 2).reshape(batch, length, HEADS * HEAD_DIM)
        h = h + (attention @ w[p + "self_attn.o_proj.weight"].T) * residual_scale
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"])
        mlp = (torch.nn.functional.silu(x @ w[p + "mlp.gate_proj.weight"].T) * (x @ w[p + "mlp.up_proj.weight"].T))
        h = h + (mlp @ w[p + "mlp.down_proj.weight"].T) * residual_scale
        outputs.append(h)
    final = rms_norm(h, w["model.norm.weight"])
    logits = (final / (HIDDEN / DIM_MODEL_BASE)) @ w["model.embed_tokens.weight"].T
    return outputs, final, logits


sequences = [[5, 17, 99, 3, 42, 7, 150, 8, 23, 64, 1, 2], [9, 100, 31, 77, 4, 58, 12]]
length = max(len(s) for s in sequences)
ids = torch.tensor([s + [0] * (length - len(s)) for s in sequences])


def expected(w, use_long, attention_factor):
    with torch.no_grad():
        outputs, final, logits = forward(w, ids, use_long, attention_factor)
    result = {"input_ids": ids.to(torch.int64), "lengths": torch.tensor([len(s) for s in sequences]),
              "logits": logits.contiguous(), "final_hidden": final.contiguous()}
    for layer, output in enumerate(outputs):
        result[f"hidden.{layer}"] = output.contiguous()
    return result


os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "config.json"), "w") as handle:
    json.dump(config, handle, indent=2)
save_file({k: v.contiguous() for k, v in weights.items()}, os.path.join(OUT, "model.safetensors"))
use_long = MAX_POS > ORIGINAL
scale = MAX_POS / ORIGINAL
save_file(expected(weights, use_long, math.sqrt(1 + math.log(scale) / math.log(ORIGINAL))),
          os.path.join(OUT, "expected.safetensors"))

# --- the GGUF, as llama.cpp's convert_hf_to_gguf.py writes arch "minicpm" --------------------


def permute(w, n_head, n_head_kv):
    """llama.cpp's LlamaModel.permute: rotate_half pairs to interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


Q8_0 = gguf.GGMLQuantizationType.Q8_0
writer = gguf.GGUFWriter(os.path.join(OUT, "model.gguf"), arch="minicpm")
writer.add_name("tiny-minicpm")
writer.add_context_length(MAX_POS)
writer.add_embedding_length(HIDDEN)
writer.add_block_count(LAYERS)
writer.add_feed_forward_length(INTER)
writer.add_head_count(HEADS)
writer.add_head_count_kv(KV_HEADS)
writer.add_layer_norm_rms_eps(EPS)
writer.add_rope_freq_base(THETA)
writer.add_vocab_size(VOCAB)
writer.add_embedding_scale(SCALE_EMB)
writer.add_residual_scale(SCALE_DEPTH / LAYERS ** 0.5)
writer.add_logit_scale(HIDDEN / DIM_MODEL_BASE)
writer.add_rope_scaling_type(gguf.RopeScalingType.LONGROPE)
# Tokenizer: printable ASCII, space (Ġ) and newline (Ċ) as byte-level symbols, two control
# tokens, two merges (ab, abc), unused slots up to the vocabulary size.
tokens = [chr(c) for c in range(33, 127)] + ["Ġ", "Ċ", "<|im_start|>", "<|im_end|>", "ab", "abc"]
types = [1] * (len(tokens) - 4) + [3, 3, 1, 1]
while len(tokens) < VOCAB:
    tokens.append(f"<unused{len(tokens)}>")
    types.append(5)
writer.add_tokenizer_model("gpt2")
writer.add_tokenizer_pre("gpt-2")
writer.add_token_list(tokens)
writer.add_token_types(types)
writer.add_token_merges(["a b", "ab c"])
writer.add_bos_token_id(96)
writer.add_eos_token_id(97)
writer.add_chat_template(
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

gguf_weights = dict(weights)  # what the GGUF holds, dequantised (the reference of expected-gguf)
names = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
         "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
         "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
         "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
         "mlp.down_proj.weight": "ffn_down.weight"}
writer.add_tensor("token_embd.weight", weights["model.embed_tokens.weight"].numpy())
for layer in range(LAYERS):
    for suffix, gguf_suffix in names.items():
        name = f"model.layers.{layer}.{suffix}"
        array = weights[name].numpy()
        if suffix == "self_attn.q_proj.weight":
            array = permute(array, HEADS, HEADS)
        elif suffix == "self_attn.k_proj.weight":
            array = permute(array, HEADS, KV_HEADS)
        if suffix.startswith("mlp."):
            raw = gguf.quants.quantize(array, Q8_0)
            writer.add_tensor(f"blk.{layer}.{gguf_suffix}", raw, raw_dtype=Q8_0)
            gguf_weights[name] = torch.from_numpy(gguf.quants.dequantize(raw, Q8_0).reshape(array.shape).astype(np.float32))
        else:
            writer.add_tensor(f"blk.{layer}.{gguf_suffix}", np.ascontiguousarray(array))
writer.add_tensor("output_norm.weight", weights["model.norm.weight"].numpy())
writer.add_tensor("rope_factors_long.weight", np.array(LONG, dtype=np.float32))
writer.add_tensor("rope_factors_short.weight", np.array(SHORT, dtype=np.float32))
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
save_file(expected(gguf_weights, False, 1.0), os.path.join(OUT, "expected-gguf.safetensors"))
print("wrote", OUT)
