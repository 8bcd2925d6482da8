"""llama.cpp's own CPU speed on a GGUF, through the pinned llama-cpp-python.

Measures, as the median of --runs runs after one warm-up:
  prefill T=512: one llama_decode of a 512-token prompt (n_ctx 2048, n_batch = n_ubatch = 512,
                 logits of the last position only), from an empty KV cache;
  decode (batch 1): 64 greedy tokens, one llama_decode each, after a short prompt.
Times are llama.cpp's own counters (llama_perf_context: t_p_eval for the prompt, t_eval for
single tokens); the logits are read after every decode, which synchronizes so each decode is
counted on its own. Wall-clock time around the same calls (time.perf_counter) is shown beside.
Flash attention is on by default, as llama.cpp's own default (auto) resolves on the CPU;
llama-cpp-python's Llama() would otherwise turn it off.

usage (with the venv from Scripts/reference/llama_cpp_env.sh):
  "$(Scripts/reference/llama_cpp_env.sh)" Scripts/reference/llama_cpp_bench.py \
      [--model GGUF] [--threads 2] [--runs 3] [--flash-attn on|off]
"""

import argparse
import statistics
import time
from pathlib import Path

import llama_cpp
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PREFILL_T, DECODE_N, N_CTX = 512, 64, 2048
TEXT = ("The quick brown fox jumps over the lazy dog while the committee debates the budget "
        "for next year's library renovation, and a small robot counts the books on each shelf. ")


def last_logits(llm):
    # Reading the logits synchronizes the context: llama.cpp books the decode's time then.
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))


def perf(llm):
    return llama_cpp.llama_perf_context(llm.ctx)


def prefill(llm, tokens):
    llm.reset()
    llama_cpp.llama_perf_context_reset(llm.ctx)
    t0 = time.perf_counter()
    llm.eval(tokens)
    last_logits(llm)
    wall = time.perf_counter() - t0
    p = perf(llm)
    assert p.n_p_eval == len(tokens), (p.n_p_eval, len(tokens))
    return p.n_p_eval / (p.t_p_eval_ms / 1e3), len(tokens) / wall


def decode(llm, prompt):
    llm.reset()
    llm.eval(prompt)
    token = int(np.argmax(last_logits(llm)))
    llama_cpp.llama_perf_context_reset(llm.ctx)
    t0 = time.perf_counter()
    for _ in range(DECODE_N):
        llm.eval([token])
        token = int(np.argmax(last_logits(llm)))
    wall = time.perf_counter() - t0
    p = perf(llm)
    assert p.n_eval == DECODE_N, (p.n_eval, DECODE_N)
    return p.n_eval / (p.t_eval_ms / 1e3), DECODE_N / wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / ".cache/assets/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--flash-attn", choices=["on", "off"], default="on",
                    help="llama.cpp flash attention (default on, as llama.cpp's auto on the CPU)")
    args = ap.parse_args()

    llm = llama_cpp.Llama(args.model, n_ctx=N_CTX, n_batch=PREFILL_T, n_ubatch=PREFILL_T,
                          n_threads=args.threads, n_threads_batch=args.threads,
                          flash_attn=args.flash_attn == "on", logits_all=False, verbose=False)
    text = TEXT * (4 * PREFILL_T // len(llm.tokenize(TEXT.encode(), add_bos=False)) + 1)
    long_prompt = llm.tokenize(text.encode(), add_bos=False)[:PREFILL_T]
    short_prompt = llm.tokenize(b"Tell me a short story about a lighthouse keeper.", add_bos=False)
    assert len(long_prompt) == PREFILL_T

    results = {}
    for name, fn, arg in (("prefill", prefill, long_prompt), ("decode", decode, short_prompt)):
        fn(llm, arg)  # warm-up
        runs = [fn(llm, arg) for _ in range(args.runs)]
        results[name] = [statistics.median(r[i] for r in runs) for i in (0, 1)]

    print(f"llama.cpp (llama-cpp-python {llama_cpp.__version__}) {Path(args.model).name}")
    print(f"threads {args.threads}, runs {args.runs} (median), flash-attn "
          f"{args.flash_attn}, n_ctx {N_CTX}, n_batch {PREFILL_T}")
    print(f"{'':22}{'tokens/s':>10}{'wall tokens/s':>15}")
    print(f"{'prefill T=' + str(PREFILL_T):22}{results['prefill'][0]:10.1f}{results['prefill'][1]:15.1f}")
    print(f"{'decode (batch 1)':22}{results['decode'][0]:10.1f}{results['decode'][1]:15.1f}")


if __name__ == "__main__":
    main()
