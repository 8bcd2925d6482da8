"""Reading and writing Fledge's fixture folders (manifest.json + raw little-endian tensors).

manifest.json maps each tensor name to {"shape", "dtype" ("f32" | "i32"), "file"}; used by the
bf16 fixture scripts, which read the inputs of an fp32 fixture and write their own folder.
"""
import json
import os

import numpy as np
import torch


def reader(folder):
    """A function name -> torch tensor over the fixture folder `folder`, and its manifest."""
    with open(os.path.join(folder, "manifest.json")) as handle:
        manifest = json.load(handle)

    def load(name):
        entry = manifest["tensors"][name]
        dtype = "<i4" if entry["dtype"] == "i32" else "<f4"
        data = np.fromfile(os.path.join(folder, entry["file"]), dtype=dtype).reshape(entry["shape"])
        return torch.from_numpy(data.copy())

    return load, manifest


def write_f32(folder, tensors, meta):
    """Replaces the tensors of `folder` with `tensors` (name -> array-like, written as f32)."""
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        if f.endswith(".bin") or f == "manifest.json":
            os.remove(os.path.join(folder, f))
    manifest = {"format": "fledge-fixtures", "version": 1, "meta": meta, "tensors": {}}
    for name, array in sorted(tensors.items()):
        data = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
        data.tofile(os.path.join(folder, f"{name}.bin"))
        manifest["tensors"][name] = {"shape": list(data.shape), "dtype": "f32", "file": f"{name}.bin"}
    with open(os.path.join(folder, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
