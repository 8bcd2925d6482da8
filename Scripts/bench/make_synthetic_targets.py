#!/usr/bin/env python3
"""Writes GGUF files with the exact tensor shapes and metadata of real 7–8B targets and random
Q4_K weights, to measure Fledge at full size without downloading an 8B model.

    python3 -m venv /tmp/fledge-gguf && /tmp/fledge-gguf/bin/pip install gguf==0.19.0 numpy==2.4.6
    /tmp/fledge-gguf/bin/python Scripts/bench/make_synthetic_targets.py [--only llama31-8b|qwen3-8b] [--out DIR]

Targets (shapes and metadata as llama.cpp's converter writes a Q4_K_M file of each):
  llama31-8b   Llama-3.1-8B-Instruct: hidden 4096, 32 layers, 32 heads / 8 KV heads, MLP 14336,
               vocabulary 128,256, θ 500,000, llama3 RoPE scaling (rope_freqs.weight), untied
  qwen3-8b     Qwen3-8B: hidden 4096, 36 layers, 32 heads / 8 KV heads, head 128, MLP 12288,
               vocabulary 151,936, θ 1,000,000, q/k norms, untied
Matrices are Q4_K (the output head Q6_K, as Q4_K_M has it) with random blocks whose scales keep
the activations finite through every layer; norms are F32 ones. The tokenizer is SmolLM2's
(read from the GGUF that Scripts/fetch-assets.sh downloads) padded with reserved tokens to the
target's vocabulary size, with the family's special tokens at their real ids; the chat template
is the family's own (Tests/FledgeTemplateTests/Fixtures/templates). Files go to
.cache/synthetic (ignored, never committed): about 4.6 GB and 4.9 GB.
"""
import argparse
import math
import os
import subprocess

import gguf
import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATES = os.path.join(ROOT, "Tests", "FledgeTemplateTests", "Fixtures", "templates")

TARGETS = {
    "llama31-8b": dict(
        arch="llama", name="Llama-3.1-8B-Instruct (synthetic)", hidden=4096, layers=32, heads=32, kv_heads=8,
        head_dim=128, ffn=14336, vocab=128256, theta=500000.0, eps=1e-5, context=131072, qk_norm=False,
        template="llama-3.1-8b-instruct.jinja", pre="llama-bpe",
        special={128000: "<|begin_of_text|>", 128001: "<|end_of_text|>", 128006: "<|start_header_id|>",
                 128007: "<|end_header_id|>", 128008: "<|eom_id|>", 128009: "<|eot_id|>"},
        bos=128000, eos=128009, llama3_rope=dict(factor=8.0, low=1.0, high=4.0, original=8192)),
    "qwen3-8b": dict(
        arch="qwen3", name="Qwen3-8B (synthetic)", hidden=4096, layers=36, heads=32, kv_heads=8, head_dim=128,
        ffn=12288, vocab=151936, theta=1000000.0, eps=1e-6, context=40960, qk_norm=True,
        template="qwen3.jinja", pre="qwen2",
        special={151643: "<|endoftext|>", 151644: "<|im_start|>", 151645: "<|im_end|>", 151667: "<think>",
                 151668: "</think>"},
        bos=None, eos=151645, llama3_rope=None),
}

Q4_K, Q6_K = gguf.GGMLQuantizationType.Q4_K, gguf.GGMLQuantizationType.Q6_K
rng = np.random.default_rng(5)


def random_q4_k(rows, columns, d):
    """Random Q4_K blocks (144 bytes per 256 weights): f16 d, f16 dmin, 12 bytes of 6-bit scales
    and mins, 128 bytes of 4-bit quants. dmin = 7.5·d centres the weights on zero."""
    blocks = rows * columns // 256
    raw = rng.integers(0, 256, size=(blocks, 144), dtype=np.uint8)
    raw[:, 0:2] = np.frombuffer(np.float16(d).tobytes(), dtype=np.uint8)
    raw[:, 2:4] = np.frombuffer(np.float16(7.5 * d).tobytes(), dtype=np.uint8)
    return raw.reshape(rows, columns // 256 * 144)


def random_q6_k(rows, columns, d):
    """Random Q6_K blocks (210 bytes per 256 weights): 128 bytes of low bits, 64 of high bits,
    16 int8 scales, an f16 d. Quants are 6-bit minus 32, so centred already."""
    blocks = rows * columns // 256
    raw = rng.integers(0, 256, size=(blocks, 210), dtype=np.uint8)
    raw[:, 192:208] = rng.integers(1, 32, size=(blocks, 16), dtype=np.uint8)  # positive scales
    raw[:, 208:210] = np.frombuffer(np.float16(d).tobytes(), dtype=np.uint8)
    return raw.reshape(rows, columns // 256 * 210)


def smollm2_tokenizer():
    path = subprocess.run([os.path.join(ROOT, "Scripts", "fetch-assets.sh"), "model"], check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
    reader = gguf.GGUFReader(path)
    fields = reader.fields

    def strings(key):
        field = fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    def ints(key):
        field = fields[key]
        return [int(field.parts[i][0]) for i in field.data]

    return strings("tokenizer.ggml.tokens"), ints("tokenizer.ggml.token_type"), strings("tokenizer.ggml.merges")


def llama3_factors(head_dim, theta, rope):
    """rope_freqs.weight as llama.cpp's converter computes it for rope_type llama3."""
    base = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    low_wavelen = rope["original"] / rope["low"]
    high_wavelen = rope["original"] / rope["high"]
    factors = []
    for freq in base:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(rope["factor"])
        else:
            smooth = (rope["original"] / wavelen - rope["low"]) / (rope["high"] - rope["low"])
            factors.append(1 / ((1 - smooth) / rope["factor"] + smooth))
    return np.array(factors, dtype=np.float32)


def write(key, out):
    t = TARGETS[key]
    path = os.path.join(out, f"{key}.Q4_K.gguf")
    writer = gguf.GGUFWriter(path + ".partial", arch=t["arch"])
    writer.add_name(t["name"])
    writer.add_context_length(t["context"])
    writer.add_embedding_length(t["hidden"])
    writer.add_block_count(t["layers"])
    writer.add_feed_forward_length(t["ffn"])
    writer.add_head_count(t["heads"])
    writer.add_head_count_kv(t["kv_heads"])
    writer.add_key_length(t["head_dim"])
    writer.add_value_length(t["head_dim"])
    writer.add_layer_norm_rms_eps(t["eps"])
    writer.add_rope_freq_base(t["theta"])
    writer.add_vocab_size(t["vocab"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    tokens, types, merges = smollm2_tokenizer()
    tokens, types = list(tokens), list(types)
    while len(tokens) < t["vocab"]:
        tokens.append(f"<|reserved_{len(tokens)}|>")
        types.append(gguf.TokenType.CONTROL)
    for index, text in t["special"].items():
        tokens[index] = text
        types[index] = gguf.TokenType.CONTROL
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(t["pre"])
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    if t["bos"] is not None:
        writer.add_bos_token_id(t["bos"])
    writer.add_eos_token_id(t["eos"])
    writer.add_chat_template(open(os.path.join(TEMPLATES, t["template"])).read())

    h, d, ffn = t["hidden"], t["head_dim"], t["ffn"]
    q, kv = t["heads"] * d, t["kv_heads"] * d
    scale = 5e-5  # weights of |w| < 0.05, std ≈ 0.012: a layer keeps the activations at their scale
    writer.add_tensor("token_embd.weight", random_q4_k(t["vocab"], h, scale), raw_dtype=Q4_K)
    if t["llama3_rope"]:
        writer.add_tensor("rope_freqs.weight", llama3_factors(d, t["theta"], t["llama3_rope"]))
    ones = np.ones(h, dtype=np.float32)
    for layer in range(t["layers"]):
        p = f"blk.{layer}."
        writer.add_tensor(p + "attn_norm.weight", ones)
        writer.add_tensor(p + "attn_q.weight", random_q4_k(q, h, scale), raw_dtype=Q4_K)
        writer.add_tensor(p + "attn_k.weight", random_q4_k(kv, h, scale), raw_dtype=Q4_K)
        writer.add_tensor(p + "attn_v.weight", random_q4_k(kv, h, scale), raw_dtype=Q4_K)
        if t["qk_norm"]:
            writer.add_tensor(p + "attn_q_norm.weight", np.ones(d, dtype=np.float32))
            writer.add_tensor(p + "attn_k_norm.weight", np.ones(d, dtype=np.float32))
        writer.add_tensor(p + "attn_output.weight", random_q4_k(h, q, scale), raw_dtype=Q4_K)
        writer.add_tensor(p + "ffn_norm.weight", ones)
        writer.add_tensor(p + "ffn_gate.weight", random_q4_k(ffn, h, scale), raw_dtype=Q4_K)
        writer.add_tensor(p + "ffn_up.weight", random_q4_k(ffn, h, scale), raw_dtype=Q4_K)
        writer.add_tensor(p + "ffn_down.weight", random_q4_k(h, ffn, scale), raw_dtype=Q4_K)
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", random_q6_k(t["vocab"], h, 1e-4), raw_dtype=Q6_K)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file(progress=False)
    writer.close()
    os.replace(path + ".partial", path)
    print(path, os.path.getsize(path), "bytes")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(TARGETS))
    parser.add_argument("--out", default=os.path.join(ROOT, ".cache", "synthetic"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for key in TARGETS:
        if args.only in (None, key):
            write(key, args.out)


if __name__ == "__main__":
    main()
