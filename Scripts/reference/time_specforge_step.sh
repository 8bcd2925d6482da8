#!/usr/bin/env bash
# Time SpecForge's own EAGLE-3 draft training step on the CPU (fp32 and autocast bf16) with
# pinned versions: clones SpecForge at a6b6b02 into WORK, makes a throwaway venv there and runs
# time_specforge_step.py, which imports SpecForge's code (nothing of it is copied here).
#
# usage: time_specforge_step.sh SPECFORGE_SRC [WORK] [-- ARGS...]
#   SPECFORGE_SRC: anything `git clone` accepts (a bare git dir, e.g. a local mirror of
#     github.com/sgl-project/SpecForge, or a URL); must contain commit a6b6b02.
#   WORK: scratch dir for the checkout and the venv (default: /tmp/fledge-specforge).
#   ARGS: passed to time_specforge_step.py (default: --seq-len 512 2048 --runs 3);
#     e.g. -- --seq-len 512 --runs 5 --threads 2 --precisions fp32,autocast-bf16,bf16
# env:
#   PYTHON=python3      interpreter for the venv (SpecForge needs >= 3.11)
#   TORCH_FROM=VENV     take torch (and numpy) from an existing venv, e.g. /tmp/fledge-ref made
#                       from requirements.txt, through a .pth file instead of downloading them;
#                       their versions are checked against the pins below
#   REUSE=1             keep an existing checkout (at the pinned commit) and venv in WORK
#   TORCHDYNAMO_DISABLE=1 (default here) SpecForge's @torch.compile functions run eagerly
set -euo pipefail

SPECFORGE_COMMIT=a6b6b0230009d15ec2a97a57384e6f53f0f96946
# torch/numpy: this repo's reference pins (requirements.txt); transformers: SpecForge's own
# pin (its pyproject); the rest: what that resolves to, as in the peer check's venv.
TORCH_PINS=(torch==2.15.0 numpy==2.4.6)
OTHER_PINS=(transformers==5.8.1 tokenizers==0.22.2 safetensors==0.8.0 huggingface-hub==1.33.0)

HERE=$(cd "$(dirname "$0")" && pwd)
POSITIONAL=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do POSITIONAL+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#POSITIONAL[@]} -ge 1 ] || { sed -n '2,18p' "$0"; exit 2; }
SPECFORGE_SRC=${POSITIONAL[0]}
WORK=${POSITIONAL[1]:-/tmp/fledge-specforge}
PYTHON=${PYTHON:-python3}
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--seq-len 512 2048 --runs 3)

mkdir -p "$WORK"
SF=$WORK/specforge
if ! { [ "${REUSE:-0}" = 1 ] && [ "$(git -C "$SF" rev-parse HEAD 2>/dev/null)" = "$SPECFORGE_COMMIT" ]; }; then
    rm -rf "$SF"
    git clone --quiet "$SPECFORGE_SRC" "$SF"
    git -C "$SF" checkout --quiet "$SPECFORGE_COMMIT"
fi
if [ "$(git -C "$SF" rev-parse HEAD)" != "$SPECFORGE_COMMIT" ]; then
    echo "SpecForge checkout $SF is not at $SPECFORGE_COMMIT" >&2
    exit 1
fi

VENV=$WORK/venv
if ! { [ "${REUSE:-0}" = 1 ] && [ -x "$VENV/bin/python" ]; }; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    if [ -n "${TORCH_FROM:-}" ]; then
        SITE=$("$TORCH_FROM/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        "$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
            | { read -r own; echo "$SITE" > "$own/_torch_from.pth"; }
        "$VENV/bin/pip" install -q "${OTHER_PINS[@]}"
    else
        "$VENV/bin/pip" install -q "${TORCH_PINS[@]}" "${OTHER_PINS[@]}"
    fi
fi
# Every pin must hold, whichever way the venv was made.
"$VENV/bin/python" - "${TORCH_PINS[@]}" "${OTHER_PINS[@]}" <<'EOF'
import sys
from importlib.metadata import version
bad = [f"{p} (found {version(p.split('==')[0])})" for p in sys.argv[1:]
       if version(p.split("==")[0]).split("+")[0] != p.split("==")[1]]
sys.exit(f"version pins not met: {', '.join(bad)}" if bad else 0)
EOF

export TORCHDYNAMO_DISABLE=${TORCHDYNAMO_DISABLE:-1}
PYTHONPATH="$SF" exec "$VENV/bin/python" -W ignore::UserWarning "$HERE/time_specforge_step.py" "${ARGS[@]}"
