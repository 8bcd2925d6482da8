#!/bin/bash
# Real-data checks of the data pipeline, run by hand from the repository root after `make release`
# and `fledge data prepare ... --output runs/sharegpt` (see README).
set -x
F=.build/release/fledge
python3 - <<'PY'
import json
out = open("runs/regen-input.jsonl", "w")
kept = 0
for line in open("runs/sharegpt/train.jsonl"):
    conversation = json.loads(line)
    if len(conversation["messages"]) <= 4 and sum(len(m["content"]) for m in conversation["messages"]) < 1500:
        out.write(line)
        kept += 1
        if kept == 20:
            break
PY
rm -f runs/regen-straight.jsonl* runs/regen-killed.jsonl*
time $F data regenerate --data-path runs/regen-input.jsonl --output runs/regen-straight.jsonl --max-tokens 48 --batch-size 4 --temperature 0.7 --seed 7
timeout -s KILL 25 $F data regenerate --data-path runs/regen-input.jsonl --output runs/regen-killed.jsonl --max-tokens 48 --batch-size 4 --temperature 0.7 --seed 7
echo "killed run exit: $?; lines written before the kill: $(wc -l < runs/regen-killed.jsonl)"
time $F data regenerate --data-path runs/regen-input.jsonl --output runs/regen-killed.jsonl --max-tokens 48 --batch-size 4 --temperature 0.7 --seed 7
cmp runs/regen-straight.jsonl runs/regen-killed.jsonl && echo "REGENERATE: resumed output identical to the uninterrupted run"
wc -l runs/regen-straight.jsonl runs/regen-straight.failed.jsonl
rm -rf runs/cache100
time $F cache build --data-path runs/sharegpt --output runs/cache100 --max-samples 100 --max-length 2048
du -b runs/cache100/*.safetensors | awk '{s+=$1} END {print "CACHE bytes on disk:", s}'
