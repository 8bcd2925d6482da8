"""Greedy continuations of the SmolLM2 GGUF by llama.cpp itself, as a fixture for Fledge.

For six short chat prompts: renders the GGUF's own tokenizer.chat_template (one user turn,
add_generation_prompt), tokenizes with llama.cpp (special tokens parsed, no BOS added), then
decodes 32 tokens by pure argmax of llama.cpp's last-position logits (no sampler, no penalty;
end-of-turn tokens do not stop it) and records top1 - top2 logit margins so a consumer can
tell near-ties. Flash attention stays off: llama.cpp's CPU flash attention accumulates
softmax(QK)V in fp16 and moves the margins by up to ~0.6 (3 of the 6 continuations change).
Writes Tests/FledgeLlamaTests/Fixtures/llama_cpp_greedy.json.

usage (with the venv from Scripts/reference/llama_cpp_env.sh):
  "$(Scripts/reference/llama_cpp_env.sh)" Scripts/reference/make_llama_cpp_greedy_fixture.py \
      [--model GGUF] [--threads 2]
"""

import argparse
import hashlib
import json
from pathlib import Path

import jinja2.sandbox
import llama_cpp
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/FledgeLlamaTests/Fixtures/llama_cpp_greedy.json"
NEW_TOKENS = 32
PROMPTS = [
    "Hi there! How are you today?",
    "What is 17 multiplied by 24?",
    "Write a Python function that reverses a string.",
    "List three fruits that are red.",
    "Translate 'good morning, my friend' into French.",
    "What is the tallest mountain on Earth?",
]
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
CHATML = "<|im_start|>system\n" + SYSTEM + "<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"


def render(template, prompt):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(
        messages=[{"role": "user", "content": prompt}], add_generation_prompt=True,
        bos_token="", eos_token="")


def greedy(llm, prompt_tokens):
    llm.reset()
    llm.eval(prompt_tokens)
    tokens, margins = [], []
    for _ in range(NEW_TOKENS):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
        token = int(np.argmax(logits))
        runner_up = np.partition(logits, -2)[-2]  # equals the top logit on a tie
        tokens.append(token)
        margins.append(round(float(logits[token] - runner_up), 5))
        llm.eval([token])
    return tokens, margins


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / ".cache/assets/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    model = Path(args.model)

    llm = llama_cpp.Llama(str(model), n_ctx=512, n_batch=512, n_threads=args.threads,
                          n_threads_batch=args.threads, flash_attn=False, logits_all=False, verbose=False)
    template = llm.metadata["tokenizer.chat_template"]
    cases = []
    for prompt in PROMPTS:
        text = render(template, prompt)
        assert text == CHATML.format(prompt), f"the GGUF's template renders {text!r}"
        prompt_tokens = llm.tokenize(text.encode(), add_bos=False, special=True)
        tokens, margins = greedy(llm, prompt_tokens)
        cases.append({"prompt": prompt, "prompt_tokens": prompt_tokens, "greedy_tokens": tokens,
                      "top2_margin": margins})
        print(f"{prompt!r} -> {llm.detokenize(tokens).decode(errors='replace')!r} "
              f"(min margin {min(margins):.3f})")

    fixture = {
        "generator": {"llama_cpp_python": llama_cpp.__version__,
                      "script": "Scripts/reference/make_llama_cpp_greedy_fixture.py",
                      "flash_attn": False},
        "model": {"file": model.name, "sha256": hashlib.sha256(model.read_bytes()).hexdigest()},
        "threads": args.threads,
        "cases": cases,
    }
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
