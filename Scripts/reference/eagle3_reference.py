#!/usr/bin/env python3
"""A small PyTorch reference of EAGLE-3 draft training with Fledge's choices.

It implements the maths of docs/design.md §2 (draft step, training-time test, loss, metrics)
with the choices of §5 (optimiser §5.9, export layout §5.11), in float32 on the CPU,
without transformers:

* `Eagle3Draft`: the draft model (fc 3H->H, the first decoder layer `midlayer` on
  [input_layernorm(embed) | hidden_norm(h)], `num_hidden_layers - 1` more standard pre-norm
  layers `layers.i` (i >= 1) on its output, final `norm`, `lm_head` H->Vd, frozen
  `embed_tokens`, buffers `d2t` int64 / `t2d` bool). With one layer its state-dict names are
  the EAGLE/SpecForge export layout (docs/design.md §5.11) plus `embed_tokens.weight`; with
  more, exports name the first layer `layers.0` (vLLM's and speculators' multi-layer layout).
* `ttt_forward`: the training-time test (K unrolled steps, official semantics).
* `make_optimizer` / `train_step`: AdamW (0.9, 0.95), eps 1e-8, weight decay 0, and global
  grad-norm clipping 0.5 before every update.
* `export_check`: loads an exported draft folder (config.json + model.safetensors, design §5.11) into
  `Eagle3Draft` and returns its logits for given inputs.
* `self_test`: (a) cache_hidden attention == dense-mask attention, (b) float64 gradcheck of
  the total TTT loss, (c) the loss falls over a few AdamW steps, (d) export round trip.

Run `python Scripts/reference/eagle3_reference.py self-test`, or
`python Scripts/reference/eagle3_reference.py export-check FOLDER --embed EMB --inputs IN`
(see `main`). Fixtures: Scripts/reference/make_eagle3_fixtures.py.
"""
import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

TTT_STEPS = 7
TTT_DECAY = 0.8
ADAM_BETAS = (0.9, 0.95)
ADAM_EPS = 1e-8
CLIP_NORM = 0.5


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------
@dataclass
class Eagle3Config:
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    draft_vocab_size: int
    head_dim: Optional[int] = None
    target_hidden_size: Optional[int] = None  # fc input is 3 * this (defaults to hidden_size)
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_scaling: Optional[dict] = None
    num_hidden_layers: int = 1
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.target_hidden_size is None:
            self.target_hidden_size = self.hidden_size
        assert self.num_attention_heads % self.num_key_value_heads == 0

    @classmethod
    def from_json(cls, data: dict) -> "Eagle3Config":
        return cls(
            hidden_size=data["hidden_size"],
            num_attention_heads=data["num_attention_heads"],
            num_key_value_heads=data.get("num_key_value_heads", data["num_attention_heads"]),
            intermediate_size=data["intermediate_size"],
            vocab_size=data["vocab_size"],
            draft_vocab_size=data.get("draft_vocab_size", data["vocab_size"]),
            head_dim=data.get("head_dim"),
            target_hidden_size=data.get("target_hidden_size"),
            rms_norm_eps=data.get("rms_norm_eps", 1e-5),
            rope_theta=data.get("rope_theta", 10000.0),
            rope_scaling=data.get("rope_scaling"),
            num_hidden_layers=data.get("num_hidden_layers", 1),
        )


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    """y = w * x * rsqrt(mean(x^2) + eps), the statistics in float32."""

    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x32 = x.float() if dtype in (torch.float16, torch.bfloat16) else x
        y = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * y.to(dtype)


def rope_inv_freq(config: Eagle3Config) -> torch.Tensor:
    """HF Llama inverse frequencies (float64), with `linear` / `llama3` rope_scaling."""
    hd = config.head_dim
    inv = 1.0 / (config.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    scaling = config.rope_scaling
    if not scaling:
        return inv
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind in (None, "default"):
        return inv
    if kind == "linear":
        return inv / scaling["factor"]
    if kind == "llama3":
        factor = scaling["factor"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old / high) & (wavelen <= old / low)
        return torch.where(medium, smoothed, scaled)
    raise ValueError(f"unsupported rope_scaling {scaling}")


def softmax_fp32(x):
    """Softmax in float32 (float64 stays float64, for gradcheck), cast back to x's dtype."""
    up = x if x.dtype == torch.float64 else x.float()
    return torch.softmax(up, dim=-1).to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, positions, inv_freq):
    """x [B, heads, T, hd]; positions [T] (or [B, T]) integers; HF rotate_half convention."""
    freqs = positions.to(torch.float64)[..., None] * inv_freq  # [.., T, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    if cos.dim() == 3:  # per-batch positions
        cos, sin = cos[:, None], sin[:, None]
    return x * cos + rotate_half(x) * sin


def repeat_kv(x, groups: int):
    """[B, nkv, T, hd] -> [B, nkv*groups, T, hd]; query head j uses KV head j // groups."""
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


def step0_mask(attention_mask: torch.Tensor, dtype) -> torch.Tensor:
    """Additive [B, 1, T, T] mask of the step-0 block: 0 where key m <= query i and m is not
    padding, -inf elsewhere. Built once per batch (docs/design.md §2.5)."""
    T = attention_mask.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]
    mask = torch.zeros(allowed.shape, dtype=dtype)
    return mask.masked_fill(~allowed, float("-inf"))


def ttt_attention_cache(q, cache_k, cache_v, mask0):
    """The official "cache_hidden" TTT attention (docs/design.md §2.5).

    q [B, nh, T, hd] of step k = len(cache_k) - 1; cache_k / cache_v: lists of k+1 tensors
    [B, nh, T, hd] (post-RoPE, GQA-expanded). Query (i, step k) sees step-0 keys m <= i that
    are not padding (mask0) and the same position i of steps 1..k (no mask on the diagonal).
    """
    hd = q.shape[-1]
    scale = 1.0 / math.sqrt(hd)
    T = q.shape[2]
    scores = [(q @ cache_k[0].transpose(-1, -2)) * scale + mask0]  # [B, nh, T, T]
    for kj in cache_k[1:]:
        scores.append(((q * kj).sum(-1) * scale)[..., None])  # [B, nh, T, 1]
    probs = softmax_fp32(torch.cat(scores, dim=-1))
    out = probs[..., :T] @ cache_v[0]
    for j, vj in enumerate(cache_v[1:], start=1):
        out = out + probs[..., T + j - 1, None] * vj
    return out


def ttt_dense_allowed(attention_mask: torch.Tensor, steps: int) -> torch.Tensor:
    """Boolean [B, 1, T, T*steps] mask over a KV of length T*steps (KV index j*T + m):
    allowed(i, j*T+m) = (m <= i and m not padding) if j == 0 else (m == i)."""
    B, T = attention_mask.shape
    i = torch.arange(T)[:, None]
    m = torch.arange(T)[None, :]
    blocks = [(m <= i)[None] & attention_mask.bool()[:, None, :]]
    blocks += [(m == i)[None].expand(B, T, T)] * (steps - 1)
    return torch.cat(blocks, dim=-1)[:, None]


def ttt_attention_dense(q, cache_k, cache_v, attention_mask):
    """The same attention as `ttt_attention_cache`, written as one dense masked softmax."""
    k = torch.cat(cache_k, dim=2)  # [B, nh, T*(k+1), hd]
    v = torch.cat(cache_v, dim=2)
    allowed = ttt_dense_allowed(attention_mask, len(cache_k))
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed, float("-inf"))
    return softmax_fp32(scores) @ v


# --------------------------------------------------------------------------------------
# The draft model (docs/design.md §2.2, §2.3)
# --------------------------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, c: Eagle3Config, input_size: Optional[int] = None):
        super().__init__()
        self.nh, self.nkv, self.hd = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        width = 2 * c.hidden_size if input_size is None else input_size
        self.q_proj = nn.Linear(width, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(width, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(width, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, c.hidden_size, bias=False)

    def forward(self, x, positions, inv_freq, cache_k, cache_v, mask0, attention_mask=None, cross_check=False):
        """q/k/v of x [B, T, in], RoPE, this step's K/V appended to the caches, the TTT
        attention, o_proj: [B, T, H]."""
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, positions, inv_freq), apply_rope(k, positions, inv_freq)
        groups = self.nh // self.nkv
        cache_k.append(repeat_kv(k, groups))
        cache_v.append(repeat_kv(v, groups))
        out = ttt_attention_cache(q, cache_k, cache_v, mask0)
        if cross_check:
            dense = ttt_attention_dense(q, cache_k, cache_v, attention_mask)
            diff = (dense - out).abs().max().item()
            assert diff <= 1e-5, f"cache_hidden vs dense TTT attention differ by {diff} at step {len(cache_k) - 1}"
        return self.o_proj(out.transpose(1, 2).reshape(B, T, self.nh * self.hd))


class MLP(nn.Module):
    def __init__(self, c: Eagle3Config):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c: Eagle3Config):
        super().__init__()
        self.hidden_norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)


class StandardLayer(nn.Module):
    """A draft layer after the first: a Llama pre-norm decoder layer on H inputs."""

    def __init__(self, c: Eagle3Config):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c, input_size=c.hidden_size)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)


class Eagle3Draft(nn.Module):
    """State-dict names = the EAGLE/SpecForge export layout (design §5.11) + `embed_tokens.weight` (frozen, not exported)."""

    def __init__(self, c: Eagle3Config, d2t: Optional[torch.Tensor] = None, t2d: Optional[torch.Tensor] = None):
        super().__init__()
        self.config = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.embed_tokens.weight.requires_grad_(False)  # frozen copy of the target's table
        self.fc = nn.Linear(3 * c.target_hidden_size, c.hidden_size, bias=False)
        self.midlayer = DecoderLayer(c)
        if c.num_hidden_layers > 1:  # state-dict names layers.1.*, layers.2.*, ...
            self.layers = nn.ModuleDict({str(i): StandardLayer(c) for i in range(1, c.num_hidden_layers)})
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.lm_head = nn.Linear(c.hidden_size, c.draft_vocab_size, bias=False)
        if d2t is None:  # identity vocabulary
            d2t = torch.zeros(c.draft_vocab_size, dtype=torch.int64)
            t2d = torch.zeros(c.vocab_size, dtype=torch.bool)
            t2d[: c.draft_vocab_size] = True
        self.register_buffer("d2t", d2t.to(torch.int64).clone())
        self.register_buffer("t2d", t2d.to(torch.bool).clone())
        self.register_buffer("inv_freq", rope_inv_freq(c), persistent=False)

    def trainable(self):
        """(name, parameter) of every trainable tensor, in state-dict order."""
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def draft_step(self, e, h, positions, cache_k, cache_v, mask0, attention_mask=None, cross_check=False,
                   later_caches=None):
        """One draft step (docs/design.md §2.3). Appends this step's K/V to the caches.

        e: embeddings [B, T, H]; h: fused feature (after fc) or previous h_out [B, T, H];
        positions: [T] ints (i + k); cache_k / cache_v: the first layer's caches,
        later_caches: [(cache_k, cache_v)] of the later layers. Returns (h_out pre-norm, the
        last layer's output, logits [B, T, Vd])."""
        layer = self.midlayer
        inv_freq = self.inv_freq.to(e.dtype) if e.dtype == torch.float64 else self.inv_freq
        residual = h  # raw h: norm_before_residual = false
        x = torch.cat((layer.input_layernorm(e), layer.hidden_norm(h)), dim=-1)  # embedding FIRST
        a = residual + layer.self_attn(x, positions, inv_freq, cache_k, cache_v, mask0, attention_mask, cross_check)
        h_out = a + layer.mlp(layer.post_attention_layernorm(a))
        for i in range(1, self.config.num_hidden_layers):
            later = self.layers[str(i)]
            ck, cv = later_caches[i - 1]
            a = h_out + later.self_attn(later.input_layernorm(h_out), positions, inv_freq, ck, cv, mask0,
                                        attention_mask, cross_check)
            h_out = a + later.mlp(later.post_attention_layernorm(a))
        logits = self.lm_head(self.norm(h_out))
        return h_out, logits

    def new_later_caches(self):
        return [([], []) for _ in range(self.config.num_hidden_layers - 1)]


# --------------------------------------------------------------------------------------
# Training-time test (docs/design.md §2.4-§2.7)
# --------------------------------------------------------------------------------------
def shift_left(x):
    """padding(x, left=False): x[:, 1:] followed by a zero slice along dim 1."""
    return torch.cat((x[:, 1:], torch.zeros_like(x[:, :1])), dim=1)


def ttt_forward(model: Eagle3Draft, input_ids, attention_mask, loss_mask, aux_hidden_states, target_logits,
                steps: int = TTT_STEPS, decay: float = TTT_DECAY, cross_check: bool = False, keep=()):
    """The unrolled TTT loop with official semantics. Returns a dict:

    total (tensor, differentiable) = Σ_k decay^k · loss_k; loss [K] tensors; acc, cond_acc [K]
    floats; `intermediates` {k: (h_out, logits)} for the steps listed in `keep`.

    Alignment (docs/design.md §2.4): ids_0[t] = x[t+1] (0 at the end), tgt_0[t] = L[t+1] (zero row at the
    end), lm_0[t] = loss_mask[t] (NOT shifted). After each step ids, tgt, lm shift left by one.
    Step k uses positions i + k and ground-truth ids; h_out (pre-norm) feeds the next step.

    Per step, with p = softmax(tgt[..., t2d]) and pm = t2d[argmax_V tgt] · lm (no gradient):
      loss_k = -mean over all B·T of pm · Σ_v p · log_softmax(logits)
      c_k    = [argmax logits == argmax p]       (first index on ties, as torch.argmax)
      acc_k  = Σ c_k · pm_k / (Σ lm_k + 1e-6)    (lm_k = the shifted loss mask of step k)
    Conditional accuracy (the speculators metric, with Fledge's masking):
      ok_j      = c_j · pm_j                     (a step counts as accepted only when its target
                                                  is in the draft vocabulary and in the loss mask)
      prev_k    = Π_{j<k} ok_j                   (prev_0 = 1), per (b, t)
      cond_acc_k = Σ ok_k · prev_k / (Σ pm_k · prev_k + 1e-6)
    i.e. the accuracy at step k over the positions whose step-k target counts (pm_k = 1) and
    whose steps 0..k-1 were all accepted; cond_acc_0 = Σ ok_0 / (Σ pm_0 + 1e-6). Position t of
    step k is the draft chain started at feature t, predicting x[t+k+2].
    """
    B, T = input_ids.shape
    dtype = aux_hidden_states.dtype
    t2d = model.t2d
    ids = shift_left(input_ids)
    tgt = shift_left(target_logits)
    lm = loss_mask.to(dtype)
    mask0 = step0_mask(attention_mask, dtype)
    h = model.fc(aux_hidden_states)
    cache_k, cache_v = [], []
    later = model.new_later_caches()
    base = torch.arange(T)
    total = 0.0
    losses, accs, cond_accs, inter = [], [], [], {}
    prev = torch.ones(B, T, dtype=dtype)
    for k in range(steps):
        e = model.embed_tokens(ids).to(dtype)
        h, logits = model.draft_step(e, h, base + k, cache_k, cache_v, mask0, attention_mask, cross_check, later)
        if k in keep:
            inter[k] = (h.detach().clone(), logits.detach().clone())
        with torch.no_grad():
            pm = t2d[tgt.argmax(-1)].to(dtype) * lm  # [B, T]
            # The target distribution in float32 at least (float64 in the gradcheck; float32,
            # not bf16, under autocast: Fledge's bf16 path keeps targets in float32 too).
            p = torch.softmax(tgt[..., t2d].to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
        logq = torch.log_softmax(logits, dim=-1)
        loss = -(pm * (p * logq).sum(-1)).mean()
        losses.append(loss)
        total = total + decay ** k * loss
        with torch.no_grad():
            c = (logits.argmax(-1) == p.argmax(-1)).to(dtype)
            accs.append(((c * pm).sum() / (lm.sum() + 1e-6)).item())
            ok = c * pm
            cond_accs.append(((ok * prev).sum() / ((pm * prev).sum() + 1e-6)).item())
            prev = prev * ok
        if k < steps - 1:
            ids, tgt, lm = shift_left(ids), shift_left(tgt), shift_left(lm)
    return {"total": total, "loss": losses, "acc": accs, "cond_acc": cond_accs, "intermediates": inter}


# --------------------------------------------------------------------------------------
# Optimiser (docs/design.md §5.9)
# --------------------------------------------------------------------------------------
def make_optimizer(model: Eagle3Draft, lr: float):
    return torch.optim.AdamW([p for _, p in model.trainable()], lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS,
                             weight_decay=0.0, foreach=False)


def train_step(model, optimizer, batch, steps=TTT_STEPS, decay=TTT_DECAY, clip=CLIP_NORM):
    """One update: total loss, backward, global grad-norm clip (norm before clipping is
    returned; torch scales by clip / (norm + 1e-6) when that is < 1), AdamW step."""
    optimizer.zero_grad(set_to_none=True)
    out = ttt_forward(model, *batch, steps=steps, decay=decay)
    out["total"].backward()
    norm = torch.nn.utils.clip_grad_norm_([p for _, p in model.trainable()], clip, foreach=False)
    optimizer.step()
    return out, norm.item()


# --------------------------------------------------------------------------------------
# Export check (EAGLE/SpecForge layout, docs/design.md §5.11)
# --------------------------------------------------------------------------------------
EXPORT_KEYS = (
    "fc.weight", "midlayer.hidden_norm.weight", "midlayer.input_layernorm.weight",
    "midlayer.self_attn.q_proj.weight", "midlayer.self_attn.k_proj.weight",
    "midlayer.self_attn.v_proj.weight", "midlayer.self_attn.o_proj.weight",
    "midlayer.post_attention_layernorm.weight", "midlayer.mlp.gate_proj.weight",
    "midlayer.mlp.up_proj.weight", "midlayer.mlp.down_proj.weight", "norm.weight", "lm_head.weight",
    "d2t", "t2d",
)
LATER_LAYER_KEYS = (
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
    "self_attn.o_proj.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
    "mlp.down_proj.weight",
)


def model_keys(layers: int):
    """The trainable state-dict names of an `layers`-layer draft, in order, plus d2t / t2d."""
    later = [f"layers.{i}.{k}" for i in range(1, layers) for k in LATER_LAYER_KEYS]
    return EXPORT_KEYS[:11] + tuple(later) + EXPORT_KEYS[11:]


def export_name(name: str, layers: int) -> str:
    """A state-dict name in the EAGLE layout: `midlayer.` becomes `layers.0.` with more than one layer."""
    return "layers.0." + name[len("midlayer."):] if layers > 1 and name.startswith("midlayer.") else name


def write_export(model: Eagle3Draft, folder: str, config_extra: Optional[dict] = None):
    """Writes `model` in the EAGLE/SpecForge layout (float32 weights; used by the self-test)."""
    from safetensors.torch import save_file
    os.makedirs(folder, exist_ok=True)
    layers = model.config.num_hidden_layers
    keys = model_keys(layers)
    state = {export_name(k, layers): v.detach().contiguous() for k, v in model.state_dict().items() if k in keys}
    save_file(state, os.path.join(folder, "model.safetensors"))
    c = model.config
    config = {
        "architectures": ["LlamaForCausalLMEagle3"], "model_type": "llama", "hidden_act": "silu",
        "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
        "num_attention_heads": c.num_attention_heads, "num_key_value_heads": c.num_key_value_heads,
        "head_dim": c.head_dim, "num_hidden_layers": layers, "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": c.rope_theta, "rope_scaling": c.rope_scaling, "tie_word_embeddings": False,
        "vocab_size": c.vocab_size, "draft_vocab_size": c.draft_vocab_size, "torch_dtype": "float32",
    }
    config.update(config_extra or {})
    with open(os.path.join(folder, "config.json"), "w") as handle:
        json.dump(config, handle, indent=2)


def load_export(folder: str, embed_tokens: torch.Tensor) -> Eagle3Draft:
    """Loads an exported draft (config.json + model.safetensors, design §5.11) into `Eagle3Draft`,
    checking the layout: architecture, draft_vocab_size, untied embeddings, exactly the
    layout's keys (no embedding), `d2t` I64 [Vd], `t2d` BOOL [V]. Weights become float32.
    `embed_tokens` [V, H] is the target's table (not part of the export)."""
    from safetensors import safe_open
    with open(os.path.join(folder, "config.json")) as handle:
        raw = json.load(handle)
    problems = []
    if raw.get("architectures", [None])[0] != "LlamaForCausalLMEagle3":
        problems.append(f"architectures = {raw.get('architectures')}")
    if "draft_vocab_size" not in raw:
        problems.append("no draft_vocab_size")
    if raw.get("tie_word_embeddings", False):
        problems.append("tie_word_embeddings is true")
    layers = raw.get("num_hidden_layers", 1)
    if not isinstance(layers, int) or layers < 1:
        problems.append(f"num_hidden_layers = {layers}")
        layers = 1
    config = Eagle3Config.from_json(raw)
    tensors = {}
    with safe_open(os.path.join(folder, "model.safetensors"), framework="pt") as f:
        for key in f.keys():
            tensors[key] = f.get_tensor(key)
    expected = {export_name(k, layers): k for k in model_keys(layers)}
    missing = [k for k in expected if k not in tensors]
    extra = [k for k in tensors if k not in expected]
    if missing:
        problems.append(f"missing keys {missing}")
    if extra:
        problems.append(f"unexpected keys {extra}")
    if "d2t" in tensors and tensors["d2t"].dtype != torch.int64:
        problems.append(f"d2t is {tensors['d2t'].dtype}, not int64")
    if "t2d" in tensors and tensors["t2d"].dtype != torch.bool:
        problems.append(f"t2d is {tensors['t2d'].dtype}, not bool")
    if problems:
        raise ValueError("export does not follow the EAGLE/SpecForge layout: " + "; ".join(problems))
    model = Eagle3Draft(config, tensors["d2t"], tensors["t2d"])
    state = {expected[k]: (v if k in ("d2t", "t2d") else v.to(torch.float32)) for k, v in tensors.items()}
    state["embed_tokens.weight"] = embed_tokens.to(torch.float32)
    model.load_state_dict(state, strict=True)  # shapes checked here
    d2t, t2d = model.d2t, model.t2d
    assert t2d.sum().item() == config.draft_vocab_size, "t2d does not select draft_vocab_size ids"
    assert torch.equal(torch.arange(config.draft_vocab_size) + d2t, torch.nonzero(t2d).flatten()), \
        "d2t and t2d disagree (draft id i must map to the i-th selected target id)"
    return model.eval()


@torch.no_grad()
def export_check(folder: str, embed_tokens: torch.Tensor, input_ids, aux_hidden_states, attention_mask=None,
                 steps: int = 1, verbose: bool = True):
    """Loads the export in `folder` and returns its logits [steps, B, T, Vd] for the inputs,
    computed exactly as in training (`ttt_forward` alignment: the draft reads x[t+1] with the
    feature of position t; step k reads x[t+k+1] at positions t+k and the previous h_out).
    input_ids [B, T] int; aux_hidden_states [B, T, 3*target_hidden_size]; attention_mask [B, T]."""
    model = load_export(folder, embed_tokens)
    input_ids = torch.as_tensor(input_ids).to(torch.int64)
    aux = torch.as_tensor(aux_hidden_states).to(torch.float32)
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    attention_mask = torch.as_tensor(attention_mask).to(torch.int64)
    B, T = input_ids.shape
    ids = shift_left(input_ids)
    mask0 = step0_mask(attention_mask, torch.float32)
    h = model.fc(aux)
    cache_k, cache_v, out = [], [], []
    later = model.new_later_caches()
    for k in range(steps):
        h, logits = model.draft_step(model.embed_tokens(ids), h, torch.arange(T) + k, cache_k, cache_v, mask0,
                                     later_caches=later)
        out.append(logits)
        ids = shift_left(ids)
    logits = torch.stack(out)
    if verbose:
        top = logits.argmax(-1)
        print(f"export_check {folder}: logits {list(logits.shape)}, mean {logits.mean().item():.6f}, "
              f"std {logits.std().item():.6f}; step-0 argmax (target ids) row 0: "
              f"{(top[0, 0] + model.d2t[top[0, 0]]).tolist()}")
    return logits


# --------------------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------------------
def init_parameters(model: Eagle3Draft, generator: torch.Generator, std: float = 0.05):
    """Matrices ~ N(0, std); norm weights 1 + std·N(0, 1); in state-dict order."""
    with torch.no_grad():
        for name, p in model.trainable():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32).to(p.dtype)
            p.copy_(1 + std * noise if p.dim() == 1 else std * noise)


def random_vocab(V, Vd, generator, must_include=(), must_exclude=()):
    """Vd distinct ids (sorted ascending) containing `must_include` and not `must_exclude`;
    returns d2t [Vd] int64 (id_i - i) and t2d [V] bool."""
    chosen = list(dict.fromkeys(int(i) for i in must_include))
    excluded = set(int(i) for i in must_exclude) | set(chosen)
    rest = [i for i in torch.randperm(V, generator=generator).tolist() if i not in excluded]
    used = sorted(chosen + rest[: Vd - len(chosen)])
    assert len(used) == Vd
    d2t = torch.tensor(used, dtype=torch.int64) - torch.arange(Vd)
    t2d = torch.zeros(V, dtype=torch.bool)
    t2d[used] = True
    return d2t, t2d


def random_batch(c: Eagle3Config, B, T, lengths, generator, dtype=torch.float32):
    g = generator
    input_ids = torch.randint(1, c.vocab_size, (B, T), generator=g)
    attention_mask = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(lengths):
        attention_mask[b, :n] = 1
    input_ids = input_ids * attention_mask
    loss_mask = (torch.rand(B, T, generator=g) < 0.7).to(torch.int64) * attention_mask
    aux = torch.randn(B, T, 3 * c.target_hidden_size, generator=g).to(dtype)
    target_logits = (3 * torch.randn(B, T, c.vocab_size, generator=g)).to(dtype)
    return input_ids, attention_mask, loss_mask, aux, target_logits


def self_test():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(7)
    # (a) cache_hidden == dense, and (c) the loss falls, on a small float32 model.
    c = Eagle3Config(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
                     vocab_size=96, draft_vocab_size=40, rope_theta=10000.0)
    d2t, t2d = random_vocab(c.vocab_size, c.draft_vocab_size, g)
    model = Eagle3Draft(c, d2t, t2d)
    init_parameters(model, g)
    with torch.no_grad():
        model.embed_tokens.weight.copy_(0.5 * torch.randn(c.vocab_size, c.hidden_size, generator=g))
    batch = random_batch(c, 2, 12, (12, 8), g)
    first = ttt_forward(model, *batch, cross_check=True)
    print(f"(a) cache_hidden attention == dense mask attention (max diff <= 1e-5) over {TTT_STEPS} steps")
    opt = make_optimizer(model, 1e-3)
    totals = []
    for _ in range(5):
        out, _ = train_step(model, opt, batch)
        totals.append(out["total"].item())
    assert all(b < a for a, b in zip(totals, totals[1:])), totals
    print(f"(c) total loss falls over 5 AdamW steps: {['%.5f' % t for t in totals]}")

    # (b) gradcheck of the total TTT loss in float64 on a tinier model.
    for layers in (1, 2):
        gradcheck_tiny(layers)
    export_round_trip(model, batch)
    deep = Eagle3Config(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
                        vocab_size=96, draft_vocab_size=40, rope_theta=10000.0, num_hidden_layers=2)
    model2 = Eagle3Draft(deep, d2t, t2d)
    init_parameters(model2, g)
    with torch.no_grad():
        model2.embed_tokens.weight.copy_(model.embed_tokens.weight)
    ttt_forward(model2, *batch, cross_check=True)
    export_round_trip(model2, batch)


def gradcheck_tiny(layers: int):
    """(b) float64 gradcheck of the total TTT loss of a tiny `layers`-layer draft."""
    tiny = Eagle3Config(hidden_size=8, num_attention_heads=2, num_key_value_heads=1, intermediate_size=16,
                        vocab_size=24, draft_vocab_size=10, rope_theta=10000.0, num_hidden_layers=layers)
    g = torch.Generator().manual_seed(11)
    d2t, t2d = random_vocab(tiny.vocab_size, tiny.draft_vocab_size, g)
    m64 = Eagle3Draft(tiny, d2t, t2d).double()
    init_parameters(m64, g, std=0.3)
    with torch.no_grad():
        m64.embed_tokens.weight.copy_(0.5 * torch.randn(tiny.vocab_size, tiny.hidden_size, generator=g))
    ids, am, lmask, aux, tl = random_batch(tiny, 2, 6, (6, 4), g, dtype=torch.float64)
    lmask = lmask.clone()
    lmask[0, :5] = 1  # enough counted positions
    names = [n for n, _ in m64.trainable()]
    params = tuple(p.detach().clone().requires_grad_(True) for _, p in m64.trainable())
    fixed = {n: b for n, b in m64.named_buffers()}
    fixed["embed_tokens.weight"] = m64.embed_tokens.weight.detach()

    def total_of(*ps):
        state = dict(zip(names, ps))
        state.update(fixed)
        with torch.nn.utils.stateless._reparametrize_module(m64, state):
            return ttt_forward(m64, ids, am, lmask, aux, tl, steps=4)["total"]

    assert torch.autograd.gradcheck(total_of, params, eps=1e-6, atol=1e-6, rtol=1e-4)
    print(f"(b) gradcheck (float64, K=4, {layers} layer(s), {sum(p.numel() for p in params)} parameters) passed")


def export_round_trip(model, batch):
    """(d) export round trip."""
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        write_export(model, folder)
        logits = export_check(folder, model.embed_tokens.weight, batch[0], batch[3], batch[1], steps=3,
                              verbose=False)
        with torch.no_grad():
            ref = ttt_forward(model, *batch, steps=3, keep=(0, 1, 2))["intermediates"]
        for k in range(3):
            assert torch.allclose(logits[k], ref[k][1], atol=1e-6), k
    print(f"(d) export_check reloads an EAGLE-layout export of {model.config.num_hidden_layers} layer(s) "
          "with identical logits")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("self-test", help="run the reference's own checks")
    ec = sub.add_parser("export-check", help="load an exported draft folder and print its logits")
    ec.add_argument("folder")
    ec.add_argument("--embed", required=True,
                    help="safetensors file holding the target embedding ([V, H]; key --embed-key)")
    ec.add_argument("--embed-key", default="model.embed_tokens.weight")
    ec.add_argument("--inputs", required=True,
                    help="safetensors file with input_ids [B,T], aux_hidden_states [B,T,3H], optional attention_mask")
    ec.add_argument("--steps", type=int, default=1)
    ec.add_argument("--out", help="write logits [steps,B,T,Vd] here (safetensors, key 'logits')")
    args = parser.parse_args()
    if args.command == "self-test":
        self_test()
        return
    from safetensors import safe_open
    from safetensors.torch import save_file
    with safe_open(args.embed, framework="pt") as f:
        embed = f.get_tensor(args.embed_key)
    with safe_open(args.inputs, framework="pt") as f:
        inputs = {k: f.get_tensor(k) for k in f.keys()}
    logits = export_check(args.folder, embed, inputs["input_ids"], inputs["aux_hidden_states"],
                          inputs.get("attention_mask"), steps=args.steps)
    if args.out:
        save_file({"logits": logits.contiguous()}, args.out)


if __name__ == "__main__":
    sys.exit(main())
