#!/usr/bin/env python3
"""A small PyTorch reference of EAGLE-1 draft training. It implements the maths of
docs/design.md §3 (model, alignment, losses, noise) with the official EAGLE-1 optimiser
recipe, and the export names of §5.11, in float32 on the CPU, without transformers.

* `Eagle1Draft`: fc over [embed(x_{t+1}) | f_t] (2H -> H, bias configurable), one decoder
  layer WITHOUT input norm (`layers.0.*`), no final norm; the frozen target embedding and
  the frozen target `lm_head` [V, H]. State-dict names are the EAGLE-1 export layout (docs/design.md §5.11).
* `align`: the per-sample dataset transform of docs/design.md §3.2 (ids and features shifted left by one,
  the loss mask not shifted, its last position zeroed).
* `losses`: vloss (SmoothL1, beta 1, mean over H, masked, ÷ (Σm + 1e-5)), ploss (soft
  cross-entropy against softmax(lm_head(target)) over the full vocabulary, same
  normalisation), loss = v_w·vloss + p_w·ploss; top-1/2/3 accuracy against
  argmax(lm_head(target)) on masked positions.
* `uniform_noise`: (U[0,1) − 0.5)·std·512/T, std 0.2 (train split only, input feature only).
* `train_step`: AdamW (β (0.9, 0.95), eps 1e-8, weight decay 0.01 = PyTorch's default),
  gradient clipping by value (0.5) before each update, as the official recipe.
* `self_test`: float64 gradcheck of the total loss and a falling loss over AdamW steps.

Fixtures: Scripts/reference/make_eagle1_fixtures.py.
"""
import math
import sys
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

V_W, P_W = 1.0, 0.1
NOISE_STD = 0.2
ADAM_BETAS = (0.9, 0.95)
ADAM_EPS = 1e-8
WEIGHT_DECAY = 0.01
CLIP_VALUE = 0.5

EXPORT_KEYS = [
    "fc.weight", "fc.bias",
    "layers.0.self_attn.q_proj.weight", "layers.0.self_attn.k_proj.weight",
    "layers.0.self_attn.v_proj.weight", "layers.0.self_attn.o_proj.weight",
    "layers.0.post_attention_layernorm.weight",
    "layers.0.mlp.gate_proj.weight", "layers.0.mlp.up_proj.weight", "layers.0.mlp.down_proj.weight",
]


@dataclass
class Eagle1Config:
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    head_dim: Optional[int] = None
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    bias: bool = False  # the fc bias (official Llama-3 checkpoints: false)

    def __post_init__(self):
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads
        assert self.num_attention_heads % self.num_key_value_heads == 0


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, positions, theta):
    """x [B, heads, T, hd]; HF rotate_half convention, frequencies in float64."""
    hd = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = positions.to(torch.float64)[:, None] * inv
    emb = torch.cat((freqs, freqs), dim=-1)
    return x * emb.cos().to(x.dtype) + rotate_half(x) * emb.sin().to(x.dtype)


class Attention(nn.Module):
    def __init__(self, c: Eagle1Config):
        super().__init__()
        self.nh, self.nkv, self.hd, self.theta = c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rope_theta
        self.q_proj = nn.Linear(c.hidden_size, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, c.hidden_size, bias=False)

    def forward(self, x, attention_mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        positions = torch.arange(T)
        q, k = apply_rope(q, positions, self.theta), apply_rope(k, positions, self.theta)
        groups = self.nh // self.nkv
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.hd)
        allowed = torch.ones(T, T, dtype=torch.bool).tril()[None, None] & attention_mask.bool()[:, None, None, :]
        scores = scores.masked_fill(~allowed, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(B, T, self.nh * self.hd))


class MLP(nn.Module):
    def __init__(self, c: Eagle1Config):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    """Layer 0 of an EAGLE-1 draft: no input_layernorm (docs/design.md §3.1)."""

    def __init__(self, c: Eagle1Config):
        super().__init__()
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)

    def forward(self, z, attention_mask):
        a = z + self.self_attn(z, attention_mask)
        return a + self.mlp(self.post_attention_layernorm(a))


class Eagle1Draft(nn.Module):
    def __init__(self, c: Eagle1Config, embed: torch.Tensor, lm_head: torch.Tensor):
        super().__init__()
        self.config = c
        self.fc = nn.Linear(2 * c.hidden_size, c.hidden_size, bias=True)
        self.layers = nn.ModuleList([DecoderLayer(c)])
        # Frozen target tensors (not parameters, not exported).
        self.register_buffer("embed_tokens", embed.clone())
        self.register_buffer("lm_head", lm_head.clone())
        if not c.bias:
            with torch.no_grad():
                self.fc.bias.zero_()
            self.fc.bias.requires_grad_(False)

    def trainable(self):
        """(name, parameter) in export order (fc.bias only when the config has it)."""
        params = dict(self.named_parameters())
        return [(k, params[k]) for k in EXPORT_KEYS if k != "fc.bias" or self.config.bias]

    def forward(self, ids_in, features, attention_mask):
        e = self.embed_tokens[ids_in]
        z = self.fc(torch.cat((e, features), dim=-1))  # embedding first, then feature
        return self.layers[0](z, attention_mask)  # the predicted feature (no final norm)


def align(input_ids, features, loss_mask, attention_mask):
    """docs/design.md §3.2, per sample before padding (as `CustomDataset.__getitem__` runs before the
    collator pads): ids_in[t] = x[t+1], target[t] = f[t+1], both zero at the sample's last
    real position L−1 (padding ids and features are zero), and loss_mask'[L−1] = 0."""
    ids_in = torch.cat((input_ids[:, 1:], torch.zeros_like(input_ids[:, :1])), dim=1) * attention_mask
    target = torch.cat((features[:, 1:], torch.zeros_like(features[:, :1])), dim=1) * attention_mask[..., None]
    mask = loss_mask.clone()
    lengths = attention_mask.sum(1)
    for b in range(mask.shape[0]):
        if lengths[b] > 0:
            mask[b, lengths[b] - 1] = 0
    return ids_in, target, mask


def uniform_noise(features, generator):
    T = features.shape[1]
    return (torch.rand(features.shape, generator=generator, dtype=features.dtype) - 0.5) * NOISE_STD * 512 / T


def losses(model: Eagle1Draft, input_ids, features, attention_mask, loss_mask, noise=None):
    ids_in, target, mask = align(input_ids, features, loss_mask, attention_mask)
    f_in = features if noise is None else features + noise
    predict = model(ids_in, f_in, attention_mask)
    m = mask.to(predict.dtype)[..., None]
    with torch.no_grad():
        target_head = target @ model.lm_head.T
        target_p = torch.softmax(target_head, dim=-1)
    out_head = predict @ model.lm_head.T
    denominator = m.sum() + 1e-5
    ploss = -(m * target_p * torch.log_softmax(out_head, dim=-1)).sum() / denominator
    vloss = (m * F.smooth_l1_loss(predict, target, reduction="none", beta=1.0)).mean(-1).sum() / denominator
    # (the official code: torch.sum(torch.mean(loss_mask * vloss, 2)) — the mean over H
    # includes the mask factor, which is the same thing.)
    total = V_W * vloss + P_W * ploss
    with torch.no_grad():
        truth = target_head.argmax(-1)
        top = out_head.topk(3, dim=-1).indices
        masked = mask.bool()
        correct = [int(((top[..., :k] == truth[..., None]).any(-1) & masked).sum()) for k in (1, 2, 3)]
    return {"predict": predict, "out_head": out_head, "vloss": vloss, "ploss": ploss, "total": total,
            "correct": correct, "count": int(mask.sum())}


def make_optimizer(model: Eagle1Draft, lr: float):
    return torch.optim.AdamW([p for _, p in model.trainable()], lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS,
                             weight_decay=WEIGHT_DECAY)


def train_step(model, optimizer, batch, clip=CLIP_VALUE):
    optimizer.zero_grad(set_to_none=True)
    result = losses(model, *batch)
    result["total"].backward()
    torch.nn.utils.clip_grad_value_([p for _, p in model.trainable()], clip)
    optimizer.step()
    return result


def init_parameters(model: Eagle1Draft, generator: torch.Generator, std: float = 0.1):
    """Matrices and the fc bias ~ std·N(0, 1); the norm weight 1 + std·N(0, 1); export order."""
    with torch.no_grad():
        for name, p in model.trainable():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float32).to(p.dtype)
            p.copy_(1 + std * noise if name.endswith("layernorm.weight") else std * noise)


def self_test():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    c = Eagle1Config(hidden_size=8, num_attention_heads=2, num_key_value_heads=1, intermediate_size=12, vocab_size=10, bias=True)
    B, T = 2, 5
    embed, head = torch.randn(c.vocab_size, 8, generator=g), torch.randn(c.vocab_size, 8, generator=g)
    model = Eagle1Draft(c, embed, head).double()
    init_parameters(model, g)
    ids = torch.randint(0, c.vocab_size, (B, T), generator=g)
    attention_mask = torch.tensor([[1] * T, [1] * 3 + [0] * 2])
    loss_mask = attention_mask.clone()
    features = torch.randn(B, T, 8, generator=g, dtype=torch.float64)
    names = [n for n, _ in model.trainable()]

    def total_of(*values):
        # The losses through torch.func.functional_call, so the inputs carry the graph.
        class Wrapped(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self):
                return losses(self.inner, ids, features, attention_mask, loss_mask)["total"]

        return torch.func.functional_call(Wrapped(model), {"inner." + n: v for n, v in zip(names, values)}, ())

    inputs = [p.detach().clone().requires_grad_(True) for _, p in model.trainable()]
    assert torch.autograd.gradcheck(total_of, inputs)
    model = model.float()
    optimizer = make_optimizer(model, 1e-2)
    batch = (ids, features.float(), attention_mask, loss_mask)
    totals = [train_step(model, optimizer, batch)["total"].item() for _ in range(6)]
    assert totals[-1] < totals[0], totals
    print("eagle1_reference self-test passed:", [round(t, 4) for t in totals])


if __name__ == "__main__":
    if sys.argv[1:] == ["self-test"]:
        self_test()
    else:
        print(__doc__)
