#!/usr/bin/env bash
# One ablation run at the demo budget: the `demo` recipe's training line with one setting
# changed, on the demo's prepared data (runs/demo/data), evaluated at its last step on the
# whole original eval split (84 conversations) so that every run is scored on the same text.
# Settings come from the environment (defaults are the demo's):
#   LR=1e-3 SCHED=cosine K=4 VD=8192 LEN=512 STEPS=360 LAYERS=1 HEAD=1 DATA=runs/demo/data
# The draft vocabulary of size VD is built once from DATA (runs/ablate/vocab-VD[-tag]).
# Prints one line: name, trained tokens, wall time, eval τ and accuracy by position; the
# run folder keeps the metrics (runs/ablate/NAME/logs/metrics.jsonl).
#
# usage: Scripts/bench/ablate.sh NAME
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,11p' "$0"; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
F=${FLEDGE:-$ROOT/.build/release/fledge}
NAME=$1
LR=${LR:-1e-3}; SCHED=${SCHED:-cosine}; K=${K:-4}; VD=${VD:-8192}; LEN=${LEN:-512}
STEPS=${STEPS:-360}; LAYERS=${LAYERS:-1}; HEAD=${HEAD:-1}
DATA=${DATA:-$ROOT/runs/demo/data}; EVAL=${EVAL:-$ROOT/runs/demo/data/eval.jsonl}
OUT=$ROOT/runs/ablate
mkdir -p "$OUT"
VOCAB=$OUT/vocab-$VD${VTAG:+-$VTAG}
[ -f "$VOCAB/vocab.safetensors" ] ||
    "$F" vocab --data-path "$DATA" --draft-vocab-size "$VD" --output "$VOCAB" > /dev/null
ARGS=(train --data-path "$DATA" --eval-data-path "$EVAL" --d2t-path "$VOCAB/vocab.safetensors"
      --save-path "$OUT/$NAME" --draft-vocab-size "$VD" --max-length "$LEN" --max-steps "$STEPS"
      --ttt-steps "$K" --lr "$LR" --scheduler "$SCHED" --warmup-ratio 0.03 --num-layers "$LAYERS"
      --save-interval "$STEPS" --eval-interval "$STEPS" --max-eval-samples 84 --logger jsonl)
[ "$HEAD" = 1 ] && ARGS+=(--init-head-from-target)
start=$(date +%s)
"$F" "${ARGS[@]}" > "$OUT/$NAME.log" 2>&1
secs=$(( $(date +%s) - start ))
python3 - "$OUT/$NAME/logs/metrics.jsonl" "$NAME" "$secs" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in rows if r["kind"] == "train"]
ev = [r for r in rows if r["kind"] == "eval"][-1]["values"]
tokens = sum(r["values"].get("tokens", 0) for r in train)
accs = " ".join(f"{ev[f'acc/{i}']:.3f}" for i in range(8) if f"acc/{i}" in ev)
print(f"{sys.argv[2]:<14} tokens {tokens:>7}  wall {int(sys.argv[3])//60:>3} min {int(sys.argv[3])%60:02d} s"
      f"  eval τ {ev['tau']:.3f}  loss/0 {ev['loss/0']:.3f}  acc {accs}")
PY
