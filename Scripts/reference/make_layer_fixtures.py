#!/usr/bin/env python3
"""Writes the PyTorch golden values for Fledge's kernels (Tests/FledgeNNTests/Fixtures/layers).

Every kernel is computed by PyTorch from the same float32 inputs Fledge reads: forward
outputs and, for an upstream gradient `dout`, the gradients of every input (autograd).
Attention and cross-entropy references are computed in float64 from the float32 inputs so
the tolerances in the Swift tests measure Fledge's error alone.

Format: manifest.json maps each tensor name to {"shape", "dtype" ("f32" | "i32"), "file"};
each file is raw little-endian data. Regenerate with:
    python3 Scripts/reference/make_layer_fixtures.py
"""
import json
import math
import os
import sys

import numpy as np
import torch

SEED = 1234
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FledgeNNTests", "Fixtures", "layers")

torch.manual_seed(SEED)
torch.set_num_threads(1)
tensors = {}
meta = {"seed": SEED, "torch": torch.__version__, "numpy": np.__version__}


def put(name, value):
    if isinstance(value, torch.Tensor):
        value = value.detach().clone()  # a copy: later in-place updates must not change it
        if value.dtype in (torch.int32, torch.int64):
            tensors[name] = value.to(torch.int32).numpy()
        else:
            tensors[name] = value.to(torch.float32).numpy()
    else:
        tensors[name] = np.asarray(value)


def rand(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).float()


# --- matmul, every transpose case: C = op(A) op(B) ---------------------------------------
M, K, N = 5, 7, 3
for ta in (False, True):
    for tb in (False, True):
        tag = f"matmul_{'t' if ta else 'n'}{'t' if tb else 'n'}"
        a = rand(K, M) if ta else rand(M, K)
        b = rand(N, K) if tb else rand(K, N)
        a.requires_grad_(True)
        b.requires_grad_(True)
        c = (a.t() if ta else a) @ (b.t() if tb else b)
        dc = rand(M, N)
        c.backward(dc)
        for key, value in (("a", a), ("b", b), ("c", c), ("dc", dc), ("da", a.grad), ("db", b.grad)):
            put(f"{tag}.{key}", value)

# --- linear with bias -------------------------------------------------------------------
x = rand(6, 8).requires_grad_(True)
w = rand(5, 8, scale=0.3).requires_grad_(True)
bias = rand(5).requires_grad_(True)
y = torch.nn.functional.linear(x, w, bias)
dy = rand(6, 5)
y.backward(dy)
for key, value in (("x", x), ("w", w), ("b", bias), ("y", y), ("dy", dy), ("dx", x.grad), ("dw", w.grad), ("db", bias.grad)):
    put(f"linear.{key}", value)

# --- embedding (repeated ids) -----------------------------------------------------------
table = rand(11, 8).requires_grad_(True)
ids = torch.tensor([3, 0, 10, 3, 7, 3], dtype=torch.int64)
out = torch.nn.functional.embedding(ids, table)
dout = rand(6, 8)
out.backward(dout)
for key, value in (("table", table), ("ids", ids), ("out", out), ("dout", dout), ("dtable", table.grad)):
    put(f"embedding.{key}", value)

# --- RMSNorm (transformers LlamaRMSNorm) ------------------------------------------------
x = rand(6, 32, scale=2.0).requires_grad_(True)
w = (1 + rand(32, scale=0.1)).requires_grad_(True)
eps = 1e-5
variance = x.pow(2).mean(-1, keepdim=True)
y = w * (x * torch.rsqrt(variance + eps))
dy = rand(6, 32)
y.backward(dy)
for key, value in (("x", x), ("w", w), ("y", y), ("dy", dy), ("dx", x.grad), ("dw", w.grad)):
    put(f"rmsnorm.{key}", value)
meta["rmsnorm.eps"] = eps


# --- RoPE (transformers rotate_half; default, linear and llama3 inverse frequencies) --------
def inv_freq_default(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype=torch.float) / dim))


def inv_freq_llama3(base, dim, factor, low, high, original):
    inv_freq = inv_freq_default(base, dim)
    low_wavelen = original / low
    high_wavelen = original / high
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (original / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
    is_medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama)


def rotate_half(t):
    half = t.shape[-1] // 2
    return torch.cat((-t[..., half:], t[..., :half]), dim=-1)


D, HEADS = 16, 3
positions = torch.tensor([0, 7, 3, 100, 2047], dtype=torch.int64)
variants = {
    "default": inv_freq_default(10000.0, D),
    "linear": inv_freq_default(10000.0, D) / 4.0,
    "llama3": inv_freq_llama3(500000.0, D, 8.0, 1.0, 4.0, 64),
}
for name, inv_freq in variants.items():
    freqs = positions.float()[:, None] @ inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    x = rand(len(positions), HEADS, D).requires_grad_(True)
    y = x * cos + rotate_half(x) * sin
    dy = rand(len(positions), HEADS, D)
    y.backward(dy)
    for key, value in (("x", x), ("y", y), ("dy", dy), ("dx", x.grad), ("inv_freq", inv_freq)):
        put(f"rope_{name}.{key}", value)
put("rope.positions", positions)

# --- SiLU and SwiGLU ----------------------------------------------------------------------
g = rand(7, 24, scale=3.0).requires_grad_(True)
u = rand(7, 24).requires_grad_(True)
h = torch.nn.functional.silu(g) * u
dh = rand(7, 24)
h.backward(dh)
for key, value in (("gate", g), ("up", u), ("out", h), ("dout", dh), ("dgate", g.grad), ("dup", u.grad)):
    put(f"swiglu.{key}", value)
g2 = rand(50, scale=4.0).requires_grad_(True)
s2 = torch.nn.functional.silu(g2)
ds2 = rand(50)
s2.backward(ds2)
for key, value in (("x", g2), ("y", s2), ("dy", ds2), ("dx", g2.grad)):
    put(f"silu.{key}", value)

# --- softmax and log-softmax --------------------------------------------------------------
for name, fn in (("softmax", torch.softmax), ("logsoftmax", torch.log_softmax)):
    x = rand(4, 37, scale=3.0).requires_grad_(True)
    y = fn(x, dim=-1)
    dy = rand(4, 37)
    y.backward(dy)
    for key, value in (("x", x), ("y", y), ("dy", dy), ("dx", x.grad)):
        put(f"{name}.{key}", value)

# --- soft and hard cross-entropy (weighted rows, mean over all rows) ------------------------
ROWS, VOCAB = 6, 45
logits = rand(ROWS, VOCAB, scale=2.0)
target = torch.softmax(rand(ROWS, VOCAB, scale=2.0).double(), -1)
weights = torch.tensor([1, 0, 1, 1, 0.5, 1], dtype=torch.float64)
z = logits.double().requires_grad_(True)
loss = -(weights * (target * torch.log_softmax(z, -1)).sum(-1)).sum() / ROWS
loss.backward()
for key, value in (("logits", logits), ("target", target), ("weights", weights), ("loss", loss.reshape(1)), ("dlogits", z.grad)):
    put(f"softce.{key}", value)
labels = torch.tensor([3, -1, 44, 0, 17, 3], dtype=torch.int64)
z = logits.double().requires_grad_(True)
per_row = torch.nn.functional.cross_entropy(z, labels.clamp(min=0), reduction="none")
per_row = torch.where(labels >= 0, per_row, torch.zeros_like(per_row))
loss = (weights * per_row).sum() / ROWS
loss.backward()
for key, value in (("labels", labels), ("loss", loss.reshape(1)), ("dlogits", z.grad)):
    put(f"hardce.{key}", value)


# --- attention: causal GQA with padding, a dense (TTT-style) mask, and a decoding offset -----
def attention_case(tag, B, T, S, NH, NKV, Dh, allowed, note):
    q = rand(B, T, NH, Dh)
    k = rand(B, S, NKV, Dh)
    v = rand(B, S, NKV, Dh)
    dout = rand(B, T, NH, Dh)
    qd, kd, vd = (t.double().requires_grad_(True) for t in (q, k, v))
    group = NH // NKV
    kx = kd.repeat_interleave(group, dim=2)
    vx = vd.repeat_interleave(group, dim=2)
    scores = torch.einsum("bthd,bshd->bhts", qd, kx) / math.sqrt(Dh)
    scores = scores.masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(scores, -1)
    probs = torch.nan_to_num(probs, nan=0.0)  # rows with no visible key give 0
    out = torch.einsum("bhts,bshd->bthd", probs, vx)
    out.backward(dout.double())
    for key, value in (("q", q), ("k", k), ("v", v), ("dout", dout), ("out", out), ("dq", qd.grad), ("dk", kd.grad), ("dv", vd.grad)):
        put(f"{tag}.{key}", value)
    meta[f"{tag}.shape"] = {"batch": B, "queries": T, "keys": S, "heads": NH, "kvHeads": NKV, "headDimension": Dh}
    meta[f"{tag}.note"] = note


# 1) causal, 2 sequences, second one right-padded (last 6 keys are padding).
B, T, NH, NKV, Dh = 2, 150, 4, 2, 16
valid = torch.ones(B, T, dtype=torch.bool)
valid[1, T - 6:] = False
causal = torch.ones(T, T, dtype=torch.bool).tril()
allowed = causal[None, None] & valid[:, None, None, :]
put("attn_causal.key_valid", valid.to(torch.int32))
attention_case("attn_causal", B, T, T, NH, NKV, Dh, allowed, "causal GQA, batch 1 right-padded by 6")

# 2) EAGLE-3 TTT step 2: keys = 3 blocks of T; block 0 causal, blocks 1..2 diagonal only.
T2, steps = 70, 3
S2 = T2 * steps
dense = torch.zeros(T2, S2, dtype=torch.bool)
for i in range(T2):
    dense[i, : i + 1] = True
    for j in range(1, steps):
        dense[i, j * T2 + i] = True
put("attn_ttt.allowed", dense.to(torch.int32))
attention_case("attn_ttt", 1, T2, S2, 6, 2, 32, dense[None, None], "TTT mask: causal block + diagonals")

# 3) decoding: 3 new queries after 200 cached keys (query i sees keys <= 200 + i).
P, Tn = 200, 3
S3 = P + Tn
offset = torch.arange(S3)[None, :] <= (torch.arange(Tn)[:, None] + P)
attention_case("attn_decode", 1, Tn, S3, 4, 4, 16, offset[None, None], "queries offset by 200 cached keys, MHA")

# --- AdamW (torch.optim.AdamW, foreach=False), five steps -----------------------------------
params0 = rand(40)
p = params0.clone().requires_grad_(True)
opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, foreach=False)
put("adamw.p0", params0)
for step in range(5):
    grad = rand(40)
    p.grad = grad.clone()
    opt.step()
    put(f"adamw.g{step}", grad)
    put(f"adamw.p{step + 1}", p)
meta["adamw"] = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1}

# --- gradient-norm clipping -----------------------------------------------------------------
grads = [rand(30), rand(7, 5), rand(11)]
params = [torch.zeros_like(g).requires_grad_(True) for g in grads]
for param, grad in zip(params, grads):
    param.grad = grad.clone()
norm = torch.nn.utils.clip_grad_norm_(params, max_norm=0.5)
put("clip.grads", torch.cat([g.flatten() for g in grads]))
put("clip.clipped", torch.cat([param.grad.flatten() for param in params]))
put("clip.norm", norm.reshape(1))

# --- bf16 / f16 rounding --------------------------------------------------------------------
values = torch.cat([
    rand(200, scale=10.0),
    torch.tensor([0.0, -0.0, 1.0, -1.0, 65504.0, 65520.0, 1e-8, -3e-5, 1e30, 3.3895314e38, float("inf"), float("-inf")]),
    # ties: exactly halfway between two bf16 values
    torch.tensor([1.0 + 2**-8, 1.0 + 3 * 2**-8, 1.0 + 2**-11, 1.0 + 3 * 2**-11]),
])
put("half.values", values)
put("half.bf16", values.to(torch.bfloat16).view(torch.int16).to(torch.int32) & 0xFFFF)
put("half.f16", values.to(torch.float16).view(torch.int16).to(torch.int32) & 0xFFFF)

# --- write ----------------------------------------------------------------------------------
os.makedirs(OUT, exist_ok=True)
for old in os.listdir(OUT):
    if old.endswith(".bin"):
        os.remove(os.path.join(OUT, old))
manifest = {"format": "fledge-fixtures", "version": 1, "meta": meta, "tensors": {}}
for name, array in sorted(tensors.items()):
    dtype = "i32" if array.dtype.kind in "iub" else "f32"
    data = array.astype("<i4" if dtype == "i32" else "<f4")
    file = name + ".bin"
    data.tofile(os.path.join(OUT, file))
    manifest["tensors"][name] = {"shape": list(array.shape), "dtype": dtype, "file": file}
with open(os.path.join(OUT, "manifest.json"), "w") as handle:
    json.dump(manifest, handle, indent=1, sort_keys=True)
total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print(f"wrote {len(tensors)} tensors, {total} bytes, to {os.path.normpath(OUT)}", file=sys.stderr)
