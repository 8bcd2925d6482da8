"""Time SpecForge's own EAGLE-3 draft training step on the CPU (fp32 and autocast bf16).

SpecForge commit a6b6b0230009d15ec2a97a57384e6f53f0f96946 (a6b6b02, 2026-08-08), run with
Python 3.11.7, torch 2.15.0 (the PyPI wheel, MKL, TORCHDYNAMO_DISABLE=1), transformers
5.8.1 (SpecForge's own pin), safetensors 0.8.0 and huggingface-hub 1.33.0. SpecForge's code is
cloned outside this tree and imported, never copied here; time_specforge_step.sh makes the
checkout and a throwaway venv with those pins and runs this file (SPECFORGE_SRC: a clone
source of github.com/sgl-project/SpecForge, URL or local mirror):

    Scripts/reference/time_specforge_step.sh SPECFORGE_SRC       # T = 512 and 2048, 3 timed steps
    TORCH_FROM=/tmp/fledge-ref Scripts/reference/time_specforge_step.sh SPECFORGE_SRC \\
        -- --seq-len 512 2048 --runs 3 --threads 2               # torch from requirements.txt's venv

or by hand, with a SpecForge checkout at that commit on PYTHONPATH:

    TORCHDYNAMO_DISABLE=1 PYTHONPATH=/tmp/fledge-specforge/specforge \\
        python Scripts/reference/time_specforge_step.py --seq-len 512 2048 --runs 3

Configuration: the draft SpecForge derives from the SmolLM2-135M-Instruct target (hidden
576, 9 heads, 3 kv heads, head_dim 64, intermediate 1536, 30 target layers, vocab 49152,
rms eps 1e-5, rope theta 100000, max positions 8192; the target's config.json is written to a
temp dir and SpecForge's resolve_draft_config turns it into the LlamaForCausalLMEagle3
config: one layer, draft vocabulary 32,000), TTT length K = 7, batch 1, sequence length T,
attention backend "sdpa" (LlamaAttention's cached-KV TTT path; SpecForge's default
flex_attention and its fa/usp backends need a GPU).

What one timed step is: SpecForge's TrainerCore.train_step on one TrainBatch of SpecForge's
offline ("hidden_state") path, i.e.
  1. Eagle3TrainStrategy.forward_loss: TargetHead.preprocess (shift) and TargetHead (the
     frozen target lm_head, 576 -> 49,152, no grad) over the stored final hidden state, then
     OnlineEagle3Model.forward: _compute_target_p (full-vocabulary softmax / t2d slice /
     argmax), project_hidden_states (fc), and the 7 TTT steps (embed, backbone, compute_logits,
     accuracy, KL loss, acceptance rate), then the 0.8**k-weighted sum of the 7 losses;
  2. FSDPTrainingBackend.backward (loss.backward());
  3. FSDPTrainingBackend.step -> specforge.optimizer.BF16Optimizer.step: global grad norm,
     clip to 0.5, AdamW (lr 1e-4, SpecForge's default) on the fp32 master copies, the warmup
     cosine scheduler, copy back into the model;
  plus TrainerCore's metric reduction. Inputs are random: aux hidden states [1, T, 3*576],
  target final hidden states [1, T, 576], input ids [1, T], attention and loss mask all ones.
  One untimed warm-up step, then --runs timed steps; s/step is their median, tokens/s = T /
  (s/step). Each (T, precision) row builds a fresh model and optimizer (seed 0).

Precisions (--precisions):
  fp32           fp32 draft, target head and inputs.
  autocast-bf16  the same fp32 model, with forward_loss under torch.autocast("cpu",
                 dtype=torch.bfloat16) (backward and optimizer step outside it, as usual).
  bf16           (not run by default) SpecForge's own recipe: model.torch_dtype=bfloat16 (bf16
                 draft and bf16 target head, as TargetHead.from_pretrained casts it), bf16
                 inputs, fp32 master weights in BF16Optimizer.

Stand-ins (everything else is SpecForge's own classes, called as its trainer calls them):
  * The loss: OnlineEagle3Model calls specforge.core.loss.LogSoftmaxLoss, a Triton kernel that
    cannot launch on a CPU tensor. It is replaced (in specforge.algorithms.eagle3.model only)
    by specforge.core.loss._compute_loss, SpecForge's own reference implementation, which its
    tests/test_utils/test_loss.py asserts equal to the kernel in loss and gradient. On CPU this
    materializes log-softmax [1, T, 32000] per TTT step for backward instead of the kernel's
    in-place gradient.
  * No target model or checkpoint: TargetHead is SpecForge's class built from the written
    config.json with a random (frozen) lm_head instead of TargetHead.from_pretrained's
    safetensors load; the draft's embedding is random (load_embedding would copy the
    target's), and the vocabulary map (t2d/d2t, loaded with load_vocab_mapping) marks 32,000
    random target ids instead of the most frequent ones of a dataset.
  * No FSDP wrapper (one process, no process group): FSDPTrainingBackend.prepare_model(...,
    wrap=False), which is what a non-distributed run's backend does for backward and step.
  * torch.compile is disabled (TORCHDYNAMO_DISABLE=1, set here unless already set), so
    SpecForge's @torch.compile functions (RMSNorm, RoPE, _compute_target_p, _compute_loss)
    run eagerly.

Output: per (T, precision) one table line `T  K  precision  s/step  tokens/s` and one JSON
line (starts with "{", key "s_per_step" etc.); other lines start with "#".
--check-dtypes adds an untimed step under a dispatch mode that counts the matrix products
by dtype (to see that autocast really runs bf16 matmuls).
"""

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from types import SimpleNamespace

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")  # before torch is imported

import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import transformers  # noqa: E402

# SpecForge's own modules (PYTHONPATH=<SpecForge checkout>).
import specforge.algorithms.eagle3.model as sf_eagle3_model  # noqa: E402
import specforge.modeling.draft  # noqa: E402,F401  (registers LlamaForCausalLMEagle3)
from specforge.algorithms.eagle3.model import OnlineEagle3Model  # noqa: E402
from specforge.algorithms.eagle3.providers import algorithm_providers  # noqa: E402
from specforge.core.loss import _compute_loss  # noqa: E402
from specforge.modeling.auto import AutoDraftModel  # noqa: E402
from specforge.modeling.target.target_head import TargetHead  # noqa: E402
from specforge.optimizer import BF16Optimizer  # noqa: E402
from specforge.runtime.contracts import TrainBatch  # noqa: E402
from specforge.training.backend import FSDPTrainingBackend, ParallelConfig  # noqa: E402
from specforge.training.controller import TrainerCore  # noqa: E402
from specforge.training.model_loading import resolve_draft_config  # noqa: E402
from specforge.training.strategies.base import Eagle3TrainStrategy  # noqa: E402

PINNED_COMMIT = "a6b6b0230009d15ec2a97a57384e6f53f0f96946"

# HuggingFaceTB/SmolLM2-135M-Instruct's config.json (the fields SpecForge reads).
SMOLLM2_135M = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 576,
    "initializer_range": 0.041666666666666664,
    "intermediate_size": 1536,
    "max_position_embeddings": 8192,
    "num_attention_heads": 9,
    "num_hidden_layers": 30,
    "num_key_value_heads": 3,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 100000,
    "tie_word_embeddings": True,
    "use_cache": True,
    "vocab_size": 49152,
}
DRAFT_VOCAB = 32000  # SpecForge's EAGLE-3 default (TargetDerivedDraftDefaults)
PRECISIONS = ("fp32", "autocast-bf16", "bf16")


class _EagerLogSoftmaxLoss:
    """CPU stand-in for specforge.core.loss.LogSoftmaxLoss (Triton): SpecForge's own
    reference loss, asserted equal to the kernel by SpecForge's tests."""

    apply = staticmethod(_compute_loss)


sf_eagle3_model.LogSoftmaxLoss = _EagerLogSoftmaxLoss


class _AutocastEagle3Strategy(Eagle3TrainStrategy):
    """SpecForge's strategy with its forward/loss under CPU bf16 autocast."""

    def forward_loss(self, batch, ctx=None):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return super().forward_loss(batch, ctx)


class _MatmulCensus(TorchDispatchMode):
    """Counts matrix-product ATen ops by their input dtypes."""

    NAMES = ("mm", "bmm", "addmm", "baddbmm", "matmul", "linear", "_addmm_activation")

    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in self.NAMES or "mkldnn" in name and "linear" in name:
            dtypes = sorted({str(a.dtype).replace("torch.", "") for a in args if isinstance(a, torch.Tensor)})
            self.counts[f"{name}:{'/'.join(dtypes)}"] += 1
        return func(*args, **(kwargs or {}))


def specforge_commit():
    root = os.path.dirname(os.path.dirname(os.path.abspath(specforge.__file__)))  # the checkout
    try:
        return subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("SPECFORGE_COMMIT", "unknown")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def draft_config_for(target_dir):
    """SpecForge's own derivation of the EAGLE-3 draft config from a target config."""
    cfg = SimpleNamespace(
        model=SimpleNamespace(draft_model_config=None, draft_checkpoint_path=None, cache_dir=None,
                              trust_remote_code=False, target_model_path=target_dir,
                              draft_num_hidden_layers=None, draft_block_size=None),
        training=SimpleNamespace(strategy="eagle3"),
    )
    return resolve_draft_config(cfg, provider=algorithm_providers().model.draft_config)


def build(args, work, precision, seq_len):
    """Model, target head, SpecForge TrainerCore and one random offline batch."""
    torch.manual_seed(args.seed)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    draft_config = draft_config_for(work)
    assert draft_config.draft_vocab_size == DRAFT_VOCAB, draft_config.draft_vocab_size

    # build_eagle3_draft, minus warm start / target-embedding load.
    draft = AutoDraftModel.from_config(draft_config, attention_backend="sdpa", torch_dtype=dtype)
    draft.load_vocab_mapping(os.path.join(work, "vocab_mapping.pt"))
    draft.freeze_embedding()
    draft = draft.to(dtype=dtype)
    # build_eagle3_model.
    model = OnlineEagle3Model(draft_model=draft, length=args.ttt_length, attention_backend="sdpa").to(dtype=dtype)
    head = TargetHead(work)  # from_pretrained minus the checkpoint read: random frozen lm_head
    head.freeze_weights()
    head = head.eval().to(dtype=dtype)
    head.requires_grad_(False)

    backend = FSDPTrainingBackend(
        ParallelConfig(),
        optimizer_factory=lambda module: BF16Optimizer(module, lr=args.lr, max_grad_norm=0.5),
    )
    wrapped = backend.prepare_model(model, wrap=False, optimizer_target=model.draft_model)
    strategy_cls = _AutocastEagle3Strategy if precision == "autocast-bf16" else Eagle3TrainStrategy
    core = TrainerCore(strategy_cls(wrapped, target_head=head), backend, accumulation_steps=1)

    h = SMOLLM2_135M["hidden_size"]
    batch = TrainBatch(
        sample_ids=["random-0"],
        strategy="eagle3",
        tensors={
            "input_ids": torch.randint(0, SMOLLM2_135M["vocab_size"], (1, seq_len)),
            "attention_mask": torch.ones(1, seq_len, dtype=torch.long),
            "loss_mask": torch.ones(1, seq_len, dtype=torch.long),
            "hidden_state": torch.randn(1, seq_len, 3 * h, dtype=dtype),  # aux (3 target layers)
            "target": torch.randn(1, seq_len, h, dtype=dtype),  # target final hidden state
        },
        metadata={"target_repr": "hidden_state"},
    )
    return core, draft, batch


def run_row(args, work, precision, seq_len):
    core, draft, batch = build(args, work, precision, seq_len)
    census = None
    if args.check_dtypes:
        mode = _MatmulCensus()
        with mode:
            core.train_step(batch)
        census = dict(sorted(mode.counts.items()))
    head_dtypes = []
    hook = draft.lm_head.register_forward_hook(lambda m, i, o: head_dtypes.append(str(o.dtype)))
    for _ in range(args.warmup):
        result = core.train_step(batch)
    hook.remove()
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        result = core.train_step(batch)
        times.append(time.perf_counter() - start)
    assert result.optimizer_stepped
    seconds = statistics.median(times)
    row = {
        "tool": "specforge_eagle3_step",
        "T": seq_len,
        "K": args.ttt_length,
        "batch": 1,
        "precision": precision,
        "s_per_step": seconds,
        "tokens_per_s": seq_len / seconds,
        "step_seconds": times,
        "runs": args.runs,
        "warmup": args.warmup,
        "loss": float(result.loss),
        "grad_norm": None if result.grad_norm is None else float(result.grad_norm),
        "draft_lm_head_out_dtype": sorted(set(head_dtypes)),
        "matmul_dtypes": census,
        "threads": torch.get_num_threads(),
        "cpu": cpu_name(),
        "draft_vocab": DRAFT_VOCAB,
        "vocab": SMOLLM2_135M["vocab_size"],
        "hidden": SMOLLM2_135M["hidden_size"],
        "attention_backend": "sdpa",
        "specforge_commit": args.commit,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "torchdynamo_disable": os.environ.get("TORCHDYNAMO_DISABLE"),
        "loss_fn": "specforge.core.loss._compute_loss (CPU stand-in for Triton LogSoftmaxLoss)",
        "optimizer": "specforge.optimizer.BF16Optimizer (AdamW lr %g, clip 0.5)" % args.lr,
    }
    del core, draft, batch
    gc.collect()
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seq-len", type=int, nargs="+", default=[512, 2048], metavar="T")
    p.add_argument("--precisions", default="fp32,autocast-bf16",
                   help="comma separated, of %s (default: fp32,autocast-bf16)" % ", ".join(PRECISIONS))
    p.add_argument("--runs", type=int, default=3, help="timed steps per row (median); default 3")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first; default 1")
    p.add_argument("--ttt-length", type=int, default=7, metavar="K")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check-dtypes", action="store_true",
                   help="one extra untimed step counting matmul ops by dtype (JSON: matmul_dtypes)")
    args = p.parse_args()
    precisions = [s.strip() for s in args.precisions.split(",") if s.strip()]
    bad = [s for s in precisions if s not in PRECISIONS]
    if bad or not precisions or args.runs < 1 or args.warmup < 0:
        p.error(f"--precisions takes {', '.join(PRECISIONS)}; --runs >= 1; --warmup >= 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.commit = specforge_commit()

    print(f"# SpecForge {args.commit}"
          + ("" if args.commit == PINNED_COMMIT else f"  (NOT the pinned {PINNED_COMMIT[:7]})"))
    print(f"# python {platform.python_version()}, torch {torch.__version__}, transformers "
          f"{transformers.__version__}, threads {torch.get_num_threads()}, "
          f"TORCHDYNAMO_DISABLE={os.environ.get('TORCHDYNAMO_DISABLE')}")
    print(f"# EAGLE-3 draft of SmolLM2-135M-Instruct (H 576, Vd {DRAFT_VOCAB}), batch 1, "
          f"{args.warmup} warm-up + median of {args.runs} steps (TrainerCore.train_step, offline path)")

    with tempfile.TemporaryDirectory(prefix="specforge-step-") as work:
        with open(os.path.join(work, "config.json"), "w") as f:
            json.dump(SMOLLM2_135M, f)
        g = torch.Generator().manual_seed(args.seed)
        used = torch.randperm(SMOLLM2_135M["vocab_size"], generator=g)[:DRAFT_VOCAB].sort().values
        t2d = torch.zeros(SMOLLM2_135M["vocab_size"], dtype=torch.bool)
        t2d[used] = True
        torch.save({"d2t": used - torch.arange(DRAFT_VOCAB), "t2d": t2d}, os.path.join(work, "vocab_mapping.pt"))

        print(f"{'T':<6} {'K':<3} {'precision':<14} {'s/step':<9} tokens/s")
        for seq_len in args.seq_len:
            for precision in precisions:
                row = run_row(args, work, precision, seq_len)
                print(f"{seq_len:<6} {args.ttt_length:<3} {precision:<14} {row['s_per_step']:<9.3f} "
                      f"{row['tokens_per_s']:.1f}")
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())
