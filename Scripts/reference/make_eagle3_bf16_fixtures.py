#!/usr/bin/env python3
"""Writes the EAGLE-3 bf16 (mixed precision) golden values (Tests/FledgeDraftTests/Fixtures/eagle3-bf16).

The inputs and initial parameters are those of the float32 fixture
(Tests/FledgeDraftTests/Fixtures/eagle3, made by make_eagle3_fixtures.py); this script reads them
from there. It runs the same reference (Scripts/reference/eagle3_reference.py) on the CPU under
`torch.autocast("cpu", dtype=torch.bfloat16)`, as SpecForge's trainers run on GPUs: every
linear layer and attention product takes bf16 operands, softmax / log-softmax / norms run in
float32, parameters and gradients stay float32. Recorded: per-step TTT loss, acc, cond_acc,
the total, and the gradient of the total for every trainable tensor; plus, for the README's
tolerance table, the same float32 reference's values and the per-tensor cosine similarity of
the autocast gradients to the float32 ones (meta).

Regenerate (torch pinned in requirements.txt):
    /tmp/fledge-ref/bin/python Scripts/reference/make_eagle3_bf16_fixtures.py
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eagle3_reference as ref  # noqa: E402
import fixture_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SOURCE = os.path.join(ROOT, "Tests", "FledgeDraftTests", "Fixtures", "eagle3")
OUT = os.path.join(ROOT, "Tests", "FledgeDraftTests", "Fixtures", "eagle3-bf16")
K, DECAY = 7, 0.8

load, source = fixture_io.reader(SOURCE)


meta_config = source["meta"]["config"]
config = ref.Eagle3Config(
    hidden_size=meta_config["hidden_size"], num_attention_heads=meta_config["num_attention_heads"],
    num_key_value_heads=meta_config["num_key_value_heads"], head_dim=meta_config["head_dim"],
    intermediate_size=meta_config["intermediate_size"], vocab_size=meta_config["vocab_size"],
    draft_vocab_size=meta_config["draft_vocab_size"], rms_norm_eps=meta_config["rms_norm_eps"],
    rope_theta=meta_config["rope_theta"])
model = ref.Eagle3Draft(config, load("d2t").to(torch.int64), load("t2d").to(torch.bool))
with torch.no_grad():
    model.embed_tokens.weight.copy_(load("embed_tokens.weight"))
    for name, parameter in model.trainable():
        parameter.copy_(load(name))
batch = (load("input_ids").to(torch.int64), load("attention_mask").to(torch.int64),
         load("loss_mask").to(torch.int64), load("aux_hidden_states"), load("target_logits"))
torch.set_num_threads(1)


def run(autocast):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = ref.ttt_forward(model, *batch, steps=K, decay=DECAY)
    out["total"].backward()
    grads = {name: p.grad.detach().clone() for name, p in model.trainable()}
    return out, grads


fp32, fp32_grads = run(False)
bf16, bf16_grads = run(True)

tensors = {}
tensors["loss"] = torch.stack([l.detach().float() for l in bf16["loss"]]).numpy()
tensors["acc"] = np.array(bf16["acc"], dtype=np.float32)
tensors["cond_acc"] = np.array(bf16["cond_acc"], dtype=np.float32)
tensors["total_loss"] = np.array([bf16["total"].item()], dtype=np.float32)
cosine = {}
for name, grad in bf16_grads.items():
    tensors[f"grad.{name}"] = grad.float().numpy()
    a, b = grad.double().flatten(), fp32_grads[name].double().flatten()
    cosine[name] = (a @ b / (a.norm() * b.norm())).item()

meta = {
    "torch": torch.__version__,
    "script": "Scripts/reference/make_eagle3_bf16_fixtures.py (reference: Scripts/reference/eagle3_reference.py)",
    "inputs": "Tests/FledgeDraftTests/Fixtures/eagle3 (inputs and initial parameters)",
    "autocast": "torch.autocast('cpu', dtype=torch.bfloat16) around ttt_forward; backward outside",
    "fp32_loss": [l.item() for l in fp32["loss"]],
    "fp32_total": fp32["total"].item(),
    "bf16_loss": [l.item() for l in bf16["loss"]],
    "bf16_total": bf16["total"].item(),
    "grad_cosine_autocast_vs_fp32": cosine,
    "tensors": sorted(tensors),
}
fixture_io.write_f32(OUT, tensors, meta)
print("fp32 total %.6f, autocast bf16 total %.6f" % (fp32["total"].item(), bf16["total"].item()))
print("loss fp32 ", " ".join("%.5f" % l.item() for l in fp32["loss"]))
print("loss bf16 ", " ".join("%.5f" % l.item() for l in bf16["loss"]))
print("grad cosine autocast vs fp32: min %.6f" % min(cosine.values()))
for name, value in cosine.items():
    print("  %-45s %.6f" % (name, value))
