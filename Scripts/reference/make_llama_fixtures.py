#!/usr/bin/env python3
"""Writes the fixtures of Tests/FledgeLlamaTests/Fixtures with Hugging Face transformers.

1. tiny-{llama,llama3rope,qwen2,qwen3,mistral}/: random tiny models saved with
   `save_pretrained` (config.json + model.safetensors) and `expected.safetensors` holding, for
   a right-padded batch of two sequences, the logits of every position, the output of every
   layer (`hidden.{i}`, HF hidden_states[i+1]) and the final-norm hidden state.
2. smollm2/expected.json + smollm2/logits.safetensors: the real SmolLM2-135M-Instruct GGUF
   (Scripts/fetch-assets.sh model) loaded by transformers (dequantised, fp32): greedy
   continuations of five chat prompts, and the full logits of the last two prompt positions
   of the first prompt plus three captured layers.

    /tmp/fledge-ref/bin/python Scripts/reference/make_llama_fixtures.py
(transformers 5.23.0, accelerate, torch 2.15.0, gguf 0.19.0, safetensors 0.8.0; seed 7)
"""
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "FledgeLlamaTests", "Fixtures")
torch.manual_seed(7)
torch.set_num_threads(2)

COMMON = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, vocab_size=160, max_position_embeddings=256,
              rms_norm_eps=1e-5, tie_word_embeddings=False)
VARIANTS = {
    "tiny-llama": dict(model_type="llama", rope_theta=10000.0),
    "tiny-llama3rope": dict(model_type="llama", rope_theta=500000.0, tie_word_embeddings=True,
                            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0, "original_max_position_embeddings": 32}),
    "tiny-qwen2": dict(model_type="qwen2", rope_theta=1000000.0, use_sliding_window=False),
    "tiny-qwen3": dict(model_type="qwen3", rope_theta=1000000.0, use_sliding_window=False),
    "tiny-mistral": dict(model_type="mistral", rope_theta=10000.0, sliding_window=None),
}

sequences = [[5, 17, 99, 3, 42, 7, 150, 8, 23, 64, 1, 2], [9, 100, 31, 77, 4, 58, 12]]
length = max(len(s) for s in sequences)
ids = torch.tensor([s + [0] * (length - len(s)) for s in sequences])
mask = torch.tensor([[1] * len(s) + [0] * (length - len(s)) for s in sequences])

for name, extra in VARIANTS.items():
    settings = dict(COMMON)
    settings.update(extra)
    model_type = settings.pop("model_type")
    config = AutoConfig.for_model(model_type, **settings)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # larger than the default init, so layers matter
            parameter.normal_(0, 0.2)
        for norm_name, parameter in model.named_parameters():
            if "norm" in norm_name:
                parameter.copy_(1 + 0.1 * torch.randn_like(parameter))
        out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    folder = os.path.join(OUT, name)
    model.save_pretrained(folder, safe_serialization=True)
    expected = {"input_ids": ids.to(torch.int64), "lengths": torch.tensor([len(s) for s in sequences]),
                "logits": out.logits.float().contiguous(), "final_hidden": out.hidden_states[-1].contiguous()}
    # hidden_states[i + 1] is the output of layer i, except the last entry, which HF stores after the final norm.
    for layer in range(config.num_hidden_layers - 1):
        expected[f"hidden.{layer}"] = out.hidden_states[layer + 1].contiguous()
    save_file(expected, os.path.join(folder, "expected.safetensors"))
    for leftover in ("generation_config.json",):
        path = os.path.join(folder, leftover)
        if os.path.exists(path):
            os.remove(path)
    print("wrote", name, file=sys.stderr)

# --- the real SmolLM2 GGUF ------------------------------------------------------------------
gguf_path = subprocess.run([os.path.join(ROOT, "Scripts", "fetch-assets.sh"), "model"], check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
directory, file = os.path.split(gguf_path)
tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=file)
model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=file, dtype=torch.float32).eval()
prompts = [
    "What is the capital of France? Answer briefly.",
    "Write a haiku about the sea.",
    "List three prime numbers.",
    "Explain what a CPU cache is in one sentence.",
    "Translate 'good morning' into Spanish.",
]
cases = []
for prompt in prompts:
    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt")
    if not isinstance(ids, torch.Tensor):
        ids = ids["input_ids"]
    with torch.no_grad():
        # An explicit all-ones attention mask: without it generate() infers padding from
        # pad_token_id, and SmolLM2's pad token (2, <|im_end|>) occurs inside every prompt.
        generated = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, do_sample=False,
                                   eos_token_id=None, pad_token_id=2)
    new = generated[0, ids.shape[1]:].tolist()
    cases.append({"prompt": prompt, "input_ids": ids[0].tolist(), "generated": new, "text": tokenizer.decode(new)})
    print(repr(prompt), "->", repr(tokenizer.decode(new)), file=sys.stderr)
first = torch.tensor([cases[0]["input_ids"]])
layers = [1, 14, 26]
with torch.no_grad():
    out = model(input_ids=first, output_hidden_states=True)
os.makedirs(os.path.join(OUT, "smollm2"), exist_ok=True)
save_file({
    "logits_last2": out.logits[0, -2:].float().contiguous(),
    **{f"hidden.{layer}": out.hidden_states[layer + 1][0].contiguous() for layer in layers},
    "final_hidden": out.hidden_states[-1][0].contiguous(),
}, os.path.join(OUT, "smollm2", "logits.safetensors"))
with open(os.path.join(OUT, "smollm2", "expected.json"), "w") as handle:
    json.dump({"model": "SmolLM2-135M-Instruct.Q4_1.gguf", "layers": layers, "cases": cases}, handle, indent=1)
print("wrote smollm2", file=sys.stderr)
