#!/usr/bin/env python3
"""Writes the EAGLE-3 training golden values (Tests/FledgeDraftTests/Fixtures/eagle3).

Everything is computed by Scripts/reference/eagle3_reference.py (float32, CPU) for a tiny
draft: H=64, 4 heads, 2 KV heads, head_dim 16, intermediate 128, V=512, Vd=128, T=24, K=7,
batch 2 (row 1 has 18 real tokens, then 6 padding positions), rms_norm_eps 1e-5,
rope_theta 10000. Recorded: the inputs, the initial parameters, per-step TTT loss / acc /
cond_acc and the total for the initial parameters, the gradient of the total for every
trainable tensor, h_out / logits of steps 0 and 2, then 5 AdamW steps (lr 1e-3, betas
(0.9, 0.95), eps 1e-8, weight decay 0, clip 0.5) on the same batch: per-step totals, grad
norms before clipping, and the parameters after the 5th update.

With `--num-layers 2` it writes Tests/FledgeDraftTests/Fixtures/eagle3-2layers instead: the
same batch, steps and records for a two-layer draft (the second a standard pre-norm layer
`layers.1` on the first's output) of H=32, 2 heads, 1 KV head, head_dim 16, intermediate 64,
V=256, Vd=64.

Format: manifest.json maps each tensor name to {"shape", "dtype" ("f32" | "i32"), "file"};
each file is raw little-endian data (int64 d2t and bool t2d are written as i32). Regenerate:
    /work/venv-ref/bin/python Scripts/reference/make_eagle3_fixtures.py [--num-layers 2]
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eagle3_reference as ref  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--num-layers", type=int, default=1, choices=(1, 2))
LAYERS = parser.parse_args().num_layers
SEED = 20250611 + (LAYERS - 1)
OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests",
                                    "FledgeDraftTests", "Fixtures", "eagle3" if LAYERS == 1 else "eagle3-2layers"))
B, T, K, DECAY = 2, 24, 7, 0.8
LENGTHS = (24, 18)
LR, CLIP, TRAIN_STEPS = 1e-3, 0.5, 5
MEMO_LR, MEMO_STEPS = 1e-2, 11  # the "memo" parameters: non-trivial acc / cond_acc (see below)

torch.manual_seed(SEED)
torch.set_num_threads(1)
g = torch.Generator().manual_seed(SEED)
if LAYERS == 1:
    config = ref.Eagle3Config(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                              intermediate_size=128, vocab_size=512, draft_vocab_size=128,
                              rms_norm_eps=1e-5, rope_theta=10000.0)
else:
    config = ref.Eagle3Config(hidden_size=32, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                              intermediate_size=64, vocab_size=256, draft_vocab_size=64,
                              rms_norm_eps=1e-5, rope_theta=10000.0, num_hidden_layers=LAYERS)
V, Vd, H = config.vocab_size, config.draft_vocab_size, config.hidden_size

tensors = {}


def put(name, value):
    value = torch.as_tensor(value).detach().clone()
    if value.dtype in (torch.int32, torch.int64, torch.bool):
        tensors[name] = value.to(torch.int32).numpy()
    else:
        tensors[name] = value.to(torch.float32).numpy()


# --- inputs ---------------------------------------------------------------------------------
embed = 0.5 * torch.randn(V, H, generator=g)
attention_mask = torch.zeros(B, T, dtype=torch.int64)
for b, n in enumerate(LENGTHS):
    attention_mask[b, :n] = 1
input_ids = torch.randint(1, V, (B, T), generator=g) * attention_mask
loss_mask = (torch.rand(B, T, generator=g) < 0.7).to(torch.int64) * attention_mask
loss_mask[0, T - 1] = 1  # step 0 then scores the zero target row at the end (uniform p; argmax 0)
loss_mask[1, LENGTHS[1] - 1] = 1  # the last real token's target is the padding position's logits
aux = torch.randn(B, T, 3 * H, generator=g)
target_logits = 3 * torch.randn(B, T, V, generator=g)

# Draft vocabulary: keep ~75 % of the distinct argmax targets of real positions, leave the
# others OUT (exercises pm = t2d[argmax] masking), always keep id 0 (the argmax of the zero
# rows shifted in at the end), fill the rest with random ids; ascending; d2t[i] = id_i - i.
argmax_ids = sorted(set(target_logits.argmax(-1)[attention_mask.bool()].tolist()))
perm = torch.randperm(len(argmax_ids), generator=g).tolist()
cut = (3 * len(argmax_ids)) // 4
kept = [argmax_ids[i] for i in perm[:cut]]
left_out = [argmax_ids[i] for i in perm[cut:]]
d2t, t2d = ref.random_vocab(V, Vd, g, must_include=[0] + kept, must_exclude=left_out)

model = ref.Eagle3Draft(config, d2t, t2d)
with torch.no_grad():
    model.embed_tokens.weight.copy_(embed)
ref.init_parameters(model, g, std=0.05)
names = [n for n, _ in model.trainable()]
assert names == [k for k in ref.model_keys(LAYERS) if k not in ("d2t", "t2d")], names

put("embed_tokens.weight", embed)
put("d2t", d2t)
put("t2d", t2d)
put("input_ids", input_ids)
put("attention_mask", attention_mask)
put("loss_mask", loss_mask)
put("aux_hidden_states", aux)
# Padding positions have no target: Fledge reads them as the zero row (uniform, argmax 0),
# the same row the official code uses past the end of the longest sequence, so a sample's
# loss does not depend on which batch it is in and online equals offline training. Zeroing
# the padded target logits gives the reference the same semantics.
target_logits[attention_mask == 0] = 0.0
put("target_logits", target_logits)
for name, p in model.trainable():
    put(name, p)

batch = (input_ids, attention_mask, loss_mask, aux, target_logits)

# --- initial parameters: metrics, gradients, intermediates ------------------------------------
out = ref.ttt_forward(model, *batch, steps=K, decay=DECAY, cross_check=True, keep=(0, 2))
out["total"].backward()
put("loss", torch.stack([l.detach() for l in out["loss"]]))
put("acc", out["acc"])
put("cond_acc", out["cond_acc"])
put("total_loss", out["total"].detach().reshape(1))
for name, p in model.trainable():
    put(f"grad.{name}", p.grad)
for k in (0, 2):
    h_out, logits = out["intermediates"][k]
    put(f"step{k}.h_out", h_out)
    put(f"step{k}.logits", logits)
initial = {k: out[k] for k in ("acc", "cond_acc")}
initial["loss"] = [l.item() for l in out["loss"]]
initial["total"] = out["total"].item()

# Sanity checks on what the fixture exercises.
with torch.no_grad():
    tgt0 = ref.shift_left(target_logits)
    pm0 = t2d[tgt0.argmax(-1)].float() * loss_mask.float()
    oov = ((~t2d[tgt0.argmax(-1)]) & loss_mask.bool()).sum().item()
    assert oov > 0 and pm0.sum() > 0
    restricted = tgt0[..., t2d]
    assert torch.equal(restricted.argmax(-1), torch.softmax(restricted, -1).argmax(-1))  # no ties

# --- 5 AdamW steps on the same batch ----------------------------------------------------------
model.zero_grad(set_to_none=True)
optimizer = ref.make_optimizer(model, LR)
train_total, grad_norm = [], []
for step in range(TRAIN_STEPS):
    result, norm = ref.train_step(model, optimizer, batch, steps=K, decay=DECAY, clip=CLIP)
    train_total.append(result["total"].item())
    grad_norm.append(norm)
assert abs(train_total[0] - initial["total"]) < 1e-6
assert all(b < a for a, b in zip(train_total, train_total[1:])), train_total
put("train_total", train_total)
put("grad_norm", grad_norm)
for name, p in model.trainable():
    put(f"final.{name}", p)
with torch.no_grad():
    after = ref.ttt_forward(model, *batch, steps=K, decay=DECAY)
put("final.loss", torch.stack(after["loss"]))
put("final.acc", after["acc"])
put("final.cond_acc", after["cond_acc"])
put("final.total_loss", after["total"].reshape(1))

# --- "memo" parameters: the random initial model has acc ~ 0 and cond_acc = 0 at every step,
# which tests little. Continue from the final parameters with a fresh AdamW (lr 1e-2, same
# betas / eps / clip) for MEMO_STEPS updates on the same batch; the model then half-memorises
# the batch and cond_acc takes values strictly between 0 and 1. Argmax margins (top-1 minus
# top-2 logit) at the counted positions are checked so float32 noise cannot flip them.
memo_optimizer = ref.make_optimizer(model, MEMO_LR)
for step in range(MEMO_STEPS):
    ref.train_step(model, memo_optimizer, batch, steps=K, decay=DECAY, clip=CLIP)
for name, p in model.trainable():
    put(f"memo.{name}", p)
with torch.no_grad():
    memo = ref.ttt_forward(model, *batch, steps=K, decay=DECAY, keep=tuple(range(K)))
    tgt, lm, margin = ref.shift_left(target_logits), loss_mask.float(), float("inf")
    for k in range(K):
        pm = t2d[tgt.argmax(-1)].float() * lm
        top = memo["intermediates"][k][1].topk(2, -1).values
        margin = min(margin, (top[..., 0] - top[..., 1])[pm > 0].min().item())
        tgt, lm = ref.shift_left(tgt), ref.shift_left(lm)
assert margin > 1e-4, margin
put("memo.loss", torch.stack(memo["loss"]))
put("memo.acc", memo["acc"])
put("memo.cond_acc", memo["cond_acc"])
put("memo.total_loss", memo["total"].reshape(1))

# --- write ----------------------------------------------------------------------------------
meta = {
    "seed": SEED,
    "torch": torch.__version__,
    "numpy": np.__version__,
    "script": "Scripts/reference/make_eagle3_fixtures.py (reference: Scripts/reference/eagle3_reference.py)",
    "config": {
        "hidden_size": H, "num_attention_heads": config.num_attention_heads,
        "num_key_value_heads": config.num_key_value_heads, "head_dim": config.head_dim,
        "intermediate_size": config.intermediate_size, "vocab_size": V, "draft_vocab_size": Vd,
        "rms_norm_eps": config.rms_norm_eps, "rope_theta": config.rope_theta, "hidden_act": "silu",
        "num_hidden_layers": LAYERS,
    },
    "batch": B, "seq_len": T, "lengths": list(LENGTHS), "ttt_steps": K, "ttt_decay": DECAY,
    "optimizer": {"kind": "AdamW", "lr": LR, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.0,
                  "clip_grad_norm": CLIP, "clip_formula": "g *= min(1, clip / (norm + 1e-6))",
                  "steps": TRAIN_STEPS},
    "trainable": names,
    "init": "matrices N(0, 0.05^2); norm weights 1 + 0.05 N(0,1); drawn in the order of 'trainable'",
    "out_of_vocab_counted_positions_step0": oov,
    "notes": {
        "alignment": "ids_0[t]=x[t+1] (0 at end), tgt_0[t]=L[t+1] (zero row at end), lm_0=loss_mask[t]; shift all left by 1 after each step",
        "positions": "step k uses i + k",
        "loss": "loss_k = -mean_{B*T}(pm * sum_v p log_softmax(logits)); p = softmax(tgt[..., t2d]); pm = t2d[argmax_V tgt] * lm",
        "acc": "acc_k = sum([argmax logits == argmax p] * pm) / (sum lm_k + 1e-6)",
        "cond_acc": "ok_j = [argmax logits_j == argmax p_j] * pm_j; prev_k = prod_{j<k} ok_j (prev_0 = 1); cond_acc_k = sum(ok_k * prev_k) / (sum(pm_k * prev_k) + 1e-6)",
        "argmax": "first index on ties (torch.argmax); the zero target rows give argmax 0",
        "train_total": "total loss of each step, before its update (train_total[0] == total_loss)",
        "grad_norm": "global L2 norm of all trainable gradients before clipping, per step",
        "step_intermediates": "stepK.h_out = pre-norm draft output (next step's h), stepK.logits = lm_head(norm(h_out)), for the initial parameters",
        "final.metrics": "final.loss / acc / cond_acc / total_loss: TTT metrics for the parameters after the 5th update",
        "memo": f"memo.<param>: the final parameters after {MEMO_STEPS} more AdamW updates with a fresh optimiser at lr {MEMO_LR} (same betas, eps, clip, batch); memo.loss / acc / cond_acc / total_loss: their TTT metrics (non-trivial cond_acc)",
    },
    "memo_min_argmax_margin": margin,
    "tensors": sorted(tensors),
}

if os.path.isdir(OUT):
    for f in os.listdir(OUT):
        if f.endswith(".bin") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
os.makedirs(OUT, exist_ok=True)
manifest = {"format": "fledge-fixtures", "version": 1, "meta": meta, "tensors": {}}
for name, array in sorted(tensors.items()):
    dtype = "i32" if array.dtype.kind in "iub" else "f32"
    data = np.ascontiguousarray(array.astype("<i4" if dtype == "i32" else "<f4"))
    file = f"{name}.bin"
    data.tofile(os.path.join(OUT, file))
    manifest["tensors"][name] = {"shape": list(array.shape), "dtype": dtype, "file": file}
with open(os.path.join(OUT, "manifest.json"), "w") as handle:
    json.dump(manifest, handle, indent=1, sort_keys=True)

total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print(f"wrote {len(tensors)} tensors, {total} bytes, to {OUT}", file=sys.stderr)
print("initial loss_k   ", " ".join(f"{v:.6f}" for v in initial["loss"]))
print("initial acc_k    ", " ".join(f"{v:.6f}" for v in initial["acc"]))
print("initial cond_acc ", " ".join(f"{v:.6f}" for v in initial["cond_acc"]))
print("initial total     %.6f" % initial["total"])
print("train_total      ", " ".join(f"{v:.6f}" for v in train_total))
print("grad_norm        ", " ".join(f"{v:.6f}" for v in grad_norm))
print("final loss_k     ", " ".join(f"{v.item():.6f}" for v in after["loss"]))
print("final acc_k      ", " ".join(f"{v:.6f}" for v in after["acc"]))
print("final cond_acc   ", " ".join(f"{v:.6f}" for v in after["cond_acc"]))
print("final total       %.6f" % after["total"].item())
print("memo loss_k      ", " ".join(f"{v.item():.6f}" for v in memo["loss"]))
print("memo acc_k       ", " ".join(f"{v:.6f}" for v in memo["acc"]))
print("memo cond_acc    ", " ".join(f"{v:.6f}" for v in memo["cond_acc"]))
print("memo total        %.6f   (min argmax margin at counted positions %.5f)" % (memo["total"].item(), margin))
print(f"step-0 counted positions {int(pm0.sum().item())}, out-of-vocab masked {oov}")
