#!/usr/bin/env python3
"""Writes Tests/FledgeDataTests/Fixtures/vocab/: token counts and the d2t/t2d that the
reference algorithm (docs/design.md §2.8: speculators' sort by (-count, token id), SpecForge's
fill with the lowest unused ids) gives for them, saved with numpy.save.

    python3 Scripts/reference/make_vocab_fixtures.py    (numpy 2.4.6)
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FledgeDataTests", "Fixtures", "vocab")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(11)


def build(counts, draft_size):
    seen = [(int(-c), t) for t, c in enumerate(counts) if c > 0]
    top = [t for _, t in sorted(seen)[:draft_size]]
    chosen = set(top)
    fill = 0
    while len(chosen) < draft_size:
        if fill not in chosen:
            chosen.add(fill)
        fill += 1
    used = sorted(chosen)
    d2t = np.array([t - i for i, t in enumerate(used)], dtype=np.int64)
    t2d = np.zeros(len(counts), dtype=bool)
    t2d[used] = True
    return d2t, t2d


cases = {}
# Many ties (small counts), a vocabulary of 500, a draft of 64.
counts = rng.integers(0, 6, size=500) * (rng.random(500) < 0.4)
d2t, t2d = build(counts, 64)
np.save(os.path.join(OUT, "ties.d2t.npy"), d2t)
np.save(os.path.join(OUT, "ties.t2d.npy"), t2d)
cases["ties"] = {"counts": counts.tolist(), "draft_size": 64}
# Fewer distinct tokens (7) than the draft size (20): filled with the lowest unused ids.
counts = np.zeros(100, dtype=np.int64)
counts[[3, 50, 51, 99, 7, 8, 60]] = [5, 5, 2, 9, 1, 1, 3]
d2t, t2d = build(counts, 20)
np.save(os.path.join(OUT, "sparse.d2t.npy"), d2t)
np.save(os.path.join(OUT, "sparse.t2d.npy"), t2d)
cases["sparse"] = {"counts": counts.tolist(), "draft_size": 20}
with open(os.path.join(OUT, "cases.json"), "w") as handle:
    json.dump(cases, handle)
print("wrote", sorted(os.listdir(OUT)))
