#!/bin/bash
# fledge train killed with SIGKILL and restarted: same losses as an uninterrupted run.
F=.build/release/fledge
head -200 runs/sharegpt/train.jsonl > runs/kill-data.jsonl
ARGS="--data-path runs/kill-data.jsonl --max-length 256 --max-steps 8 --save-interval 2 --eval-interval 100 --draft-vocab-size 8000 --lr 3e-4"
rm -rf runs/kill-straight runs/kill-resumed
$F train $ARGS --save-path runs/kill-straight > /dev/null 2>&1
$F train $ARGS --save-path runs/kill-resumed > /dev/null 2>&1 &
PID=$!
while [ ! -d runs/kill-resumed/checkpoints/step-0000004 ]; do sleep 0.5; done
kill -9 $PID; wait $PID 2>/dev/null
echo "killed with SIGKILL after: $(ls runs/kill-resumed/checkpoints)"
$F train $ARGS --save-path runs/kill-resumed > /dev/null 2>&1
python3 - <<'PY'
import json
def losses(path):
    return {r["step"]: r["values"]["loss"] for r in map(json.loads, open(path)) if r["kind"] == "train"}
a, b = losses("runs/kill-straight/logs/metrics.jsonl"), losses("runs/kill-resumed/logs/metrics.jsonl")
print("steps", sorted(a), sorted(b))
print("TRAIN KILL/RESUME: identical losses" if a == b else f"TRAIN KILL/RESUME: DIFFERENT {a} {b}")
PY
