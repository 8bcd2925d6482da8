#!/usr/bin/env python3
"""Writes the EAGLE-1 bf16 (mixed precision) golden values (Tests/FledgeDraftTests/Fixtures/eagle1-bf16).

The inputs and initial parameters are those of the float32 fixture
(Tests/FledgeDraftTests/Fixtures/eagle1, made by make_eagle1_fixtures.py), read from there. The
same reference (Scripts/reference/eagle1_reference.py) runs under
`torch.autocast("cpu", dtype=torch.bfloat16)` (the forward and both losses; backward outside):
every linear layer and product with the frozen head takes bf16 operands; softmax and
log-softmax run in float32; parameters and gradients stay float32. Recorded: vloss, ploss,
total and the gradient of the total for every trainable tensor; the meta holds the float32
reference's values and the cosine similarity of each autocast gradient to the float32 one.

Regenerate (torch pinned in requirements.txt):
    /tmp/fledge-ref/bin/python Scripts/reference/make_eagle1_bf16_fixtures.py
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eagle1_reference as ref  # noqa: E402
import fixture_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SOURCE = os.path.join(ROOT, "Tests", "FledgeDraftTests", "Fixtures", "eagle1")
OUT = os.path.join(ROOT, "Tests", "FledgeDraftTests", "Fixtures", "eagle1-bf16")

load, source = fixture_io.reader(SOURCE)


torch.set_num_threads(1)
config = ref.Eagle1Config(hidden_size=32, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                          intermediate_size=64, vocab_size=96, rms_norm_eps=1e-5, rope_theta=10000.0, bias=True)
model = ref.Eagle1Draft(config, load("embed_tokens.weight"), load("lm_head.weight"))
with torch.no_grad():
    for name, parameter in model.trainable():
        parameter.copy_(load(name))
batch = (load("input_ids").to(torch.int64), load("features"), load("attention_mask").to(torch.int64),
         load("loss_mask").to(torch.int64))


def run(autocast):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = ref.losses(model, *batch)
    out["total"].float().backward()
    return out, {name: p.grad.detach().clone() for name, p in model.trainable()}


fp32, fp32_grads = run(False)
bf16, bf16_grads = run(True)
tensors = {name: np.array([bf16[name].float().item()], dtype=np.float32) for name in ("vloss", "ploss")}
tensors["total_loss"] = np.array([bf16["total"].float().item()], dtype=np.float32)
cosine = {}
for name, grad in bf16_grads.items():
    tensors[f"grad.{name}"] = grad.float().numpy()
    a, b = grad.double().flatten(), fp32_grads[name].double().flatten()
    cosine[name] = (a @ b / (a.norm() * b.norm())).item()
meta = {
    "torch": torch.__version__,
    "script": "Scripts/reference/make_eagle1_bf16_fixtures.py (reference: Scripts/reference/eagle1_reference.py)",
    "inputs": "Tests/FledgeDraftTests/Fixtures/eagle1 (inputs and initial parameters)",
    "autocast": "torch.autocast('cpu', dtype=torch.bfloat16) around losses(); backward outside",
    "fp32": {name: fp32[name].item() for name in ("vloss", "ploss", "total")},
    "bf16": {name: bf16[name].float().item() for name in ("vloss", "ploss", "total")},
    "grad_cosine_autocast_vs_fp32": cosine,
    "tensors": sorted(tensors),
}
fixture_io.write_f32(OUT, tensors, meta)
print("fp32", meta["fp32"])
print("bf16", meta["bf16"])
print("grad cosine autocast vs fp32: min %.6f" % min(cosine.values()))
