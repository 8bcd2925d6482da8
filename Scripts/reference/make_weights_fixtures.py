#!/usr/bin/env python3
"""Writes the fixtures of Tests/FledgeWeightsTests/Fixtures:

- tiny.gguf: a GGUF v3 file written by the `gguf` package (GGUFWriter) with metadata of
  every value type and one tensor of each ggml type Fledge reads (F32, F16, BF16, Q8_0,
  Q4_0, Q4_1, Q4_K, Q6_K); the quantised blocks are random bytes with sane scales.
- tiny.gguf.expected.safetensors: the same tensors dequantised by `gguf.quants.dequantize`
  (the reference), in PyTorch shape order, F32.
- mixed.safetensors: F32, F16, BF16, I64 and BOOL tensors written by the `safetensors` package,
  and mixed.expected.json with their values as floats / integers.

    python3 Scripts/reference/make_weights_fixtures.py   (gguf 0.19.0, safetensors 0.8.0, numpy 2.4.6, torch 2.15.0)
"""
import json
import os

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import save_file
from safetensors.torch import save_file as save_torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FledgeWeightsTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(2024)


def random_blocks(qtype, rows, columns):
    block_elements, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rows * columns // block_elements
    raw = rng.integers(0, 256, size=(blocks, block_bytes), dtype=np.uint8)
    half = lambda v: np.frombuffer(np.float16(v).tobytes(), dtype=np.uint8)
    for b in range(blocks):
        if qtype in (Q.Q8_0, Q.Q4_0):
            raw[b, 0:2] = half(rng.uniform(0.01, 0.1))
        elif qtype == Q.Q4_1:
            raw[b, 0:2] = half(rng.uniform(0.01, 0.1))
            raw[b, 2:4] = half(rng.uniform(-0.5, 0.5))
        elif qtype == Q.Q4_K:
            raw[b, 0:2] = half(rng.uniform(0.001, 0.01))
            raw[b, 2:4] = half(rng.uniform(0.001, 0.01))
        elif qtype == Q.Q6_K:
            raw[b, 208:210] = half(rng.uniform(0.0005, 0.005))
    return raw.reshape(rows, columns // block_elements * block_bytes)


writer = gguf.GGUFWriter(os.path.join(OUT, "tiny.gguf"), arch="llama")
writer.add_uint32("test.u32", 7)
writer.add_int32("test.i32", -3)
writer.add_float32("test.f32", 0.5)
writer.add_bool("test.bool", True)
writer.add_string("test.string", "héllo")
writer.add_array("test.strings", ["a", "bc", ""])
writer.add_array("test.ints", [1, 2, 3])
writer.add_uint64("test.u64", 1 << 40)
writer.add_float64("test.f64", 0.25)
expected = {}
rows, columns = 4, 256
dense = rng.standard_normal((rows, columns)).astype(np.float32)
writer.add_tensor("dense_f32", dense)
expected["dense_f32"] = dense
writer.add_tensor("dense_f16", dense.astype(np.float16))
expected["dense_f16"] = dense.astype(np.float16).astype(np.float32)
bf16 = torch.from_numpy(dense).to(torch.bfloat16)
writer.add_tensor("dense_bf16", bf16.view(torch.int16).numpy().view(np.uint8).reshape(rows, columns * 2), raw_dtype=Q.BF16)
expected["dense_bf16"] = bf16.float().numpy()
for name, qtype in (("q8_0", Q.Q8_0), ("q4_0", Q.Q4_0), ("q4_1", Q.Q4_1), ("q4_k", Q.Q4_K), ("q6_k", Q.Q6_K)):
    raw = random_blocks(qtype, rows, columns)
    writer.add_tensor(name, raw, raw_dtype=qtype)
    expected[name] = gguf.quants.dequantize(raw, qtype).reshape(rows, columns).astype(np.float32)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
save_file({k: np.ascontiguousarray(v) for k, v in expected.items()}, os.path.join(OUT, "tiny.gguf.expected.safetensors"))

values = torch.randn(3, 5)
tensors = {
    "f32": values.clone(),
    "f16": values.to(torch.float16),
    "bf16": values.to(torch.bfloat16),
    "i64": torch.tensor([0, -1, 1 << 40, 7], dtype=torch.int64),
    "mask": torch.tensor([True, False, True]),
}
save_torch(tensors, os.path.join(OUT, "mixed.safetensors"), metadata={"format": "pt"})
with open(os.path.join(OUT, "mixed.expected.json"), "w") as handle:
    json.dump({
        "f32": tensors["f32"].flatten().tolist(),
        "f16": tensors["f16"].float().flatten().tolist(),
        "bf16": tensors["bf16"].float().flatten().tolist(),
        "i64": tensors["i64"].tolist(),
        "mask": [int(v) for v in tensors["mask"].tolist()],
    }, handle)
print("wrote", sorted(os.listdir(OUT)))
