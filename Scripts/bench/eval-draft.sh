#!/usr/bin/env bash
# The draft-quality comparison line: every comparison of drafts (data, budget, ablations)
# runs exactly this on each draft. All 80 MT-bench questions (both turns) and the first 40
# HumanEval prompts, chain K = 3, chain K = 5 and the tree 8/4/24, 64 new tokens per turn;
# τ, acceptance by position, speedup and the lossless check land in OUT-mtbench.json and
# OUT-humaneval.json (logs beside them).
#
# usage: Scripts/bench/eval-draft.sh DRAFT OUT [MODEL]
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,8p' "$0"; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
F=${FLEDGE:-$ROOT/.build/release/fledge}
MODEL=()
[ $# -ge 3 ] && MODEL=(--model "$3")
for bench in mtbench humaneval:40; do
    name=${bench%%:*}
    "$F" eval --draft "$1" "${MODEL[@]}" --bench "$bench" --modes chain:3 chain:5 tree:8/4/24 --max-tokens 64 \
        --output "$2-$name.json" > "$2-$name.log" 2>&1
done
