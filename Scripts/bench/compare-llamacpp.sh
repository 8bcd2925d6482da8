#!/usr/bin/env bash
# Fledge's target speed next to llama.cpp's own on the same GGUF and thread count: runs
# `.build/release/fledge bench target` (builds nothing: run `swift build -c release` first),
# then Scripts/reference/llama_cpp_bench.py in the pinned llama-cpp-python venv (made or reused
# by Scripts/reference/llama_cpp_env.sh), prints both tables and the Fledge/llama.cpp ratios
# of prefill T=512 and batch-1 decode tokens/s (above 1: Fledge is faster). llama.cpp runs with
# its own defaults (flash attention on, as its `auto` resolves on the CPU).
#
# usage: Scripts/bench/compare-llamacpp.sh [GGUF] [THREADS] [RUNS]
#   GGUF     default .cache/assets/SmolLM2-135M-Instruct.Q4_1.gguf (Scripts/fetch-assets.sh model)
#   THREADS  default 2; Fledge uses every core it sees, so below nproc it runs under taskset
#   RUNS     default 3 (medians)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
model=${1:-$root/.cache/assets/SmolLM2-135M-Instruct.Q4_1.gguf}
threads=${2:-2}
runs=${3:-3}
fledge=$root/.build/release/fledge

[ -f "$model" ] || { echo "no model at $model (Scripts/fetch-assets.sh model)" >&2; exit 1; }
[ -x "$fledge" ] || { echo "no $fledge: run \`swift build -c release\` first" >&2; exit 1; }
python=$("$root/Scripts/reference/llama_cpp_env.sh")

pin=()
[ "$threads" -lt "$(nproc)" ] && pin=(taskset -c "0-$((threads - 1))")
fledge_out=$("${pin[@]}" "$fledge" bench target --model "$model" --lengths 512 --runs "$runs" \
    --verify-tokens 1 8 16)
echo "$fledge_out"
echo
llama_out=$("$python" "$root/Scripts/reference/llama_cpp_bench.py" --model "$model" \
    --threads "$threads" --runs "$runs")
echo "$llama_out"
echo

# tokens/s: the first number after the row's name in each table.
rate() { awk -v name="$1" 'index($0, name) == 1 { $0 = substr($0, length(name) + 1); print $1 + 0; exit }'; }
fp=$(rate "prefill T=512" <<<"$fledge_out"); fd=$(rate "decode (batch 1)" <<<"$fledge_out")
lp=$(rate "prefill T=512" <<<"$llama_out"); ld=$(rate "decode (batch 1)" <<<"$llama_out")
awk -v fp="$fp" -v fd="$fd" -v lp="$lp" -v ld="$ld" 'BEGIN {
    printf "Fledge/llama.cpp: decode %.2fx (%.1f vs %.1f tokens/s), prefill T=512 %.2fx (%.1f vs %.1f tokens/s)\n",
        fd / ld, fd, ld, fp / lp, fp, lp }'
