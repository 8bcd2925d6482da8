#!/usr/bin/env python3
"""Writes the EAGLE-1 training golden values (Tests/FledgeDraftTests/Fixtures/eagle1).

Everything is computed by Scripts/reference/eagle1_reference.py (float32, CPU) for a tiny
draft with an fc bias: H=32, 2 heads, 1 KV head, head_dim 16 (Fledge's attention needs a multiple of 16), intermediate 64, V=96, T=12,
batch 2 (row 1 has 9 real tokens, then 3 padding positions), rms_norm_eps 1e-5, rope_theta
10000, no noise. Recorded: the inputs (target embedding and lm_head, ids, masks, features),
the initial parameters, the predicted features and head logits, vloss / ploss / total, the
top-1/2/3 correct counts, the gradient of the total for every trainable tensor, then 3 AdamW
steps (lr 1e-2, betas (0.9, 0.95), eps 1e-8, weight decay 0.01, gradients clipped by value at
0.01 first: this tiny model's gradients stay below the recipe's 0.5) on the same batch: per-step totals and the parameters after the 3rd update.

Format (as the eagle3 fixtures): manifest.json maps each tensor name to {"shape", "dtype"
("f32" | "i32"), "file"}; each file is raw little-endian data. Regenerate with a venv holding
torch (e.g. the 2.13.0+cpu wheel of /opt/wheels) and numpy:
    python3 -m venv /tmp/fledge-ref && /tmp/fledge-ref/bin/pip install torch numpy
    /tmp/fledge-ref/bin/python Scripts/reference/make_eagle1_fixtures.py
"""
import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eagle1_reference as ref  # noqa: E402

SEED = 20251130
OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests",
                                    "FledgeDraftTests", "Fixtures", "eagle1"))
B, T = 2, 12
LENGTHS = (12, 9)
LR, TRAIN_STEPS = 1e-2, 3
MEMO_STEPS = 15
CLIP = 0.01  # smaller than the recipe's 0.5 so that value clipping acts on some gradients here

torch.manual_seed(SEED)
torch.set_num_threads(1)
g = torch.Generator().manual_seed(SEED)
config = ref.Eagle1Config(hidden_size=32, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                          intermediate_size=64, vocab_size=96, rms_norm_eps=1e-5, rope_theta=10000.0, bias=True)
V, H = config.vocab_size, config.hidden_size
tensors = {}


def put(name, value):
    value = torch.as_tensor(value).detach().clone()
    if value.dtype in (torch.int32, torch.int64, torch.bool):
        tensors[name] = value.to(torch.int32).numpy()
    else:
        tensors[name] = value.to(torch.float32).numpy()


embed = 0.5 * torch.randn(V, H, generator=g)
lm_head = 0.5 * torch.randn(V, H, generator=g)
attention_mask = torch.zeros(B, T, dtype=torch.int64)
for b, n in enumerate(LENGTHS):
    attention_mask[b, :n] = 1
input_ids = torch.randint(1, V, (B, T), generator=g) * attention_mask
loss_mask = (torch.rand(B, T, generator=g) < 0.7).to(torch.int64) * attention_mask
loss_mask[1, LENGTHS[1] - 1] = 1  # the padded row's last real token: masked by the alignment, not by chance
features = torch.randn(B, T, H, generator=g) * attention_mask[..., None]  # padding features are zero

model = ref.Eagle1Draft(config, embed, lm_head)
ref.init_parameters(model, g, std=0.1)
names = [n for n, _ in model.trainable()]
assert names == ref.EXPORT_KEYS, names

put("embed_tokens.weight", embed)
put("lm_head.weight", lm_head)
put("input_ids", input_ids)
put("attention_mask", attention_mask)
put("loss_mask", loss_mask)
put("features", features)
for name, p in model.trainable():
    put(name, p)
batch = (input_ids, features, attention_mask, loss_mask)

out = ref.losses(model, *batch)
out["total"].backward()
put("predict", out["predict"])
put("out_head", out["out_head"])
put("vloss", out["vloss"].reshape(1))
put("ploss", out["ploss"].reshape(1))
put("total_loss", out["total"].reshape(1))
put("correct", torch.tensor(out["correct"] + [out["count"]]))  # top-1, top-2, top-3, masked count
for name, p in model.trainable():
    put(f"grad.{name}", p.grad)
largest = max(p.grad.abs().max().item() for _, p in model.trainable())
smallest = min(p.grad.abs().max().item() for _, p in model.trainable())
assert largest > CLIP > smallest, (largest, smallest)  # value clipping acts on some tensors, not all
initial_total = out["total"].item()

model.zero_grad(set_to_none=True)
optimizer = ref.make_optimizer(model, LR)
totals = [ref.train_step(model, optimizer, batch, clip=CLIP)["total"].item() for _ in range(TRAIN_STEPS)]
assert abs(totals[0] - initial_total) < 1e-6 and totals[-1] < totals[0], totals
put("train_total", totals)
for name, p in model.trainable():
    put(f"final.{name}", p)

# "memo": the random model's top-k accuracy is ~0, which tests little. Continue with a fresh
# AdamW (lr 1e-2, clip 0.5) for MEMO_STEPS updates on the same batch, until the model half
# memorises it; record those parameters and their metrics (top-1 < top-3).
memo_optimizer = ref.make_optimizer(model, LR)
for _ in range(MEMO_STEPS):
    ref.train_step(model, memo_optimizer, batch)
with torch.no_grad():
    memo = ref.losses(model, *batch)
    top = memo["out_head"].topk(4, -1).values
    _, _, mask = ref.align(input_ids, features, loss_mask, attention_mask)
    margin = (top[..., :3] - top[..., 1:4]).min(-1).values[mask.bool()].min().item()
assert 0 < memo["correct"][0] < memo["correct"][2] <= memo["count"], memo["correct"]
assert margin > 1e-4, margin  # no near-ties among the top 4 that float32 noise could flip
for name, p in model.trainable():
    put(f"memo.{name}", p)
put("memo.correct", torch.tensor(memo["correct"] + [memo["count"]]))
put("memo.vloss", memo["vloss"].reshape(1))
put("memo.ploss", memo["ploss"].reshape(1))

meta = {
    "seed": SEED, "torch": torch.__version__, "numpy": np.__version__,
    "script": "Scripts/reference/make_eagle1_fixtures.py (reference: Scripts/reference/eagle1_reference.py)",
    "config": {"hidden_size": H, "num_attention_heads": config.num_attention_heads,
               "num_key_value_heads": config.num_key_value_heads, "head_dim": config.head_dim,
               "intermediate_size": config.intermediate_size, "vocab_size": V, "rms_norm_eps": config.rms_norm_eps,
               "rope_theta": config.rope_theta, "bias": config.bias, "hidden_act": "silu"},
    "batch": B, "seq_len": T, "lengths": list(LENGTHS), "v_w": ref.V_W, "p_w": ref.P_W,
    "optimizer": {"kind": "AdamW", "lr": LR, "beta1": ref.ADAM_BETAS[0], "beta2": ref.ADAM_BETAS[1], "eps": ref.ADAM_EPS,
                  "weight_decay": ref.WEIGHT_DECAY, "clip_grad_value": CLIP, "steps": TRAIN_STEPS},
    "trainable": names,
    "init": "matrices and fc.bias 0.1 N(0,1); the norm weight 1 + 0.1 N(0,1); drawn in the order of 'trainable'",
    "notes": {
        "alignment": "per sample of length L: ids_in[t] = x[t+1], target[t] = f[t+1] (both zero at L-1 and on padding), mask = loss_mask with mask[L-1] = 0",
        "model": "predict = layer0(fc([embed(ids_in) | f])); no input norm, no final norm; out_head = predict @ lm_head^T",
        "loss": "vloss = sum(mask * mean_H smoothL1(predict, target)) / (sum mask + 1e-5); ploss = -sum(mask * softmax(target @ lm_head^T) * log_softmax(out_head)) / (sum mask + 1e-5); total = v_w vloss + p_w ploss",
        "correct": "[top-1, top-2, top-3 hits of argmax(target @ lm_head^T) in out_head at masked positions, masked count]",
        "train_total": "total loss of each step, before its update (train_total[0] == total_loss)",
        "memo": "memo.<param>: the final parameters after MEMO_STEPS more AdamW updates (fresh optimiser, lr 1e-2, value clip 0.5, same batch); memo.correct / vloss / ploss: their metrics",
    },
    "memo_steps": MEMO_STEPS, "memo_min_top4_margin": margin,
    "tensors": sorted(tensors),
}

if os.path.isdir(OUT):
    shutil.rmtree(OUT)
os.makedirs(OUT)
manifest = {"format": "fledge-fixtures", "version": 1, "meta": meta, "tensors": {}}
for name, array in sorted(tensors.items()):
    dtype = "i32" if array.dtype.kind in "iub" else "f32"
    data = np.ascontiguousarray(array.astype("<i4" if dtype == "i32" else "<f4"))
    file = f"{name}.bin"
    data.tofile(os.path.join(OUT, file))
    manifest["tensors"][name] = {"shape": list(array.shape), "dtype": dtype, "file": file}
with open(os.path.join(OUT, "manifest.json"), "w") as handle:
    json.dump(manifest, handle, indent=1, sort_keys=True)
with open(os.path.join(OUT, "README.md"), "w") as handle:
    handle.write("EAGLE-1 training golden values written by Scripts/reference/make_eagle1_fixtures.py "
                 "(see its docstring and manifest.json's meta). Do not edit by hand; regenerate.\n")
print(f"wrote {len(tensors)} tensors to {OUT}: vloss {out['vloss'].item():.6f} ploss {out['ploss'].item():.6f} "
      f"total {initial_total:.6f}, AdamW totals {[round(t, 6) for t in totals]}; memo correct {memo['correct']} of {memo['count']}, "
      f"total {memo['total'].item():.6f}, top-4 margin {margin:.5f}")
