#!/usr/bin/env bash
# Load Fledge's EAGLE-3 exports in the peers' own code: SpecForge
# (LlamaForCausalLMEagle3, EAGLE layout) and speculators (Eagle3DraftModel,
# speculators layout). Peer code is cloned/pip-installed into WORK, never copied
# into this tree; check_specforge.py / check_speculators.py only import it.
#
# usage: check_peers.sh SPECFORGE_SRC SPECULATORS_SRC [PEER_DIR] [WORK]
#   SPECFORGE_SRC / SPECULATORS_SRC: anything `git clone` accepts (a bare git
#     dir, e.g. a local mirror of github.com/sgl-project/SpecForge,
#     or a URL); an existing checkout with a .git dir works too.
#   PEER_DIR: holds custom/export, custom/export-speculators, default/export,
#     default/export-speculators (default: this script's directory).
#   WORK: scratch dir for checkouts and venvs (default: /tmp/fledge-peers).
# env:
#   PYTHON=python3              interpreter for the venvs (SpecForge needs >= 3.11)
#   SPECFORGE_TORCH             torch requirement for the SpecForge venv (default:
#                               SpecForge's own pin from its pyproject, e.g.
#                               torch==2.11.0; any recent torch, CPU build
#                               included, runs its modeling code)
#   SPECULATORS_TORCH=torch     torch requirement installed together with
#                               speculators (its pyproject bounds the version)
#   CUSTOM_LAYERS=3,15,25       Fledge's (output-of-layer) layers of the custom export
#   TARGET_LAYERS=30            layer count of the target (SmolLM2-135M)
#   REUSE=1                     keep existing checkouts/venvs in WORK
#   TORCHDYNAMO_DISABLE=1       skip torch.compile in SpecForge's RMSNorm (no C compiler)
#   REQUIRE_SHIPPED_LOAD=1      fail if speculators' from_pretrained cannot load
#                               the export unchanged (verifier.name_or_path)
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,26p' "$0"; exit 2; }
SPECFORGE_SRC=$1
SPECULATORS_SRC=$2
HERE=$(cd "$(dirname "$0")" && pwd)
PEER_DIR=$(cd "${3:-$HERE}" && pwd)
WORK=${4:-/tmp/fledge-peers}
PYTHON=${PYTHON:-python3}
SPECULATORS_TORCH=${SPECULATORS_TORCH:-torch}
CUSTOM_LAYERS=${CUSTOM_LAYERS:-3,15,25}
CUSTOM_IDS=$(echo "$CUSTOM_LAYERS" | awk -F, '{for(i=1;i<=NF;i++) printf "%s%d", (i>1?",":""), $i+1}')
export TARGET_LAYERS=${TARGET_LAYERS:-30}

log() { printf '\n### %s\n' "$*"; }
mkdir -p "$WORK"

checkout() {  # src dest
    if [ "${REUSE:-0}" = 1 ] && [ -d "$2/.git" ]; then return; fi
    rm -rf "$2"
    git clone --quiet "$1" "$2"
}

log "checkouts"
checkout "$SPECFORGE_SRC" "$WORK/specforge"
checkout "$SPECULATORS_SRC" "$WORK/speculators"
SF_COMMIT=$(git -C "$WORK/specforge" rev-parse HEAD)
SP_COMMIT=$(git -C "$WORK/speculators" rev-parse HEAD)
echo "SpecForge   $SF_COMMIT ($(git -C "$WORK/specforge" log -1 --format=%cs)) version.txt=$(cat "$WORK/specforge/version.txt" 2>/dev/null)"
echo "speculators $SP_COMMIT ($(git -C "$WORK/speculators" log -1 --format=%cs))"

# SpecForge: the package pulls sglang (GPU serving stack); its modeling code
# needs only torch + transformers + safetensors + huggingface_hub, so install
# those (transformers at SpecForge's own pin) and put the checkout on PYTHONPATH.
SF_VENV=$WORK/venv-specforge
if ! { [ "${REUSE:-0}" = 1 ] && [ -x "$SF_VENV/bin/python" ]; }; then
    log "venv for SpecForge ($SF_VENV)"
    rm -rf "$SF_VENV"
    "$PYTHON" -m venv "$SF_VENV"
    pin() {  # the requirement SpecForge's pyproject states for package $1
        "$SF_VENV/bin/python" - "$WORK/specforge/pyproject.toml" "$1" <<'EOF'
import re, sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["dependencies"]
print(next((d for d in deps if re.split(r"[<>=!~ \[;]", d, 1)[0] == sys.argv[2]), sys.argv[2]))
EOF
    }
    SF_TORCH=${SPECFORGE_TORCH:-$(pin torch)}
    SF_TRANSFORMERS=$(pin transformers)
    echo "installing: $SF_TORCH $SF_TRANSFORMERS safetensors huggingface-hub"
    "$SF_VENV/bin/pip" install -q "$SF_TORCH" "$SF_TRANSFORMERS" safetensors huggingface-hub
fi

# speculators: pip install the checkout with its own dependencies, resolved
# together with SPECULATORS_TORCH. torchvision/torchaudio are declared but never
# imported by speculators; a PyPI torchvision built for another torch variant
# breaks `import transformers` (torchvision::nms), so drop them if they do not import.
SP_VENV=$WORK/venv-speculators
if ! { [ "${REUSE:-0}" = 1 ] && [ -x "$SP_VENV/bin/python" ]; }; then
    log "venv for speculators ($SP_VENV)"
    rm -rf "$SP_VENV"
    "$PYTHON" -m venv "$SP_VENV"
    "$SP_VENV/bin/pip" install -q "$SPECULATORS_TORCH" "$WORK/speculators"
    if ! "$SP_VENV/bin/python" -c "import torchvision" >/dev/null 2>&1; then
        echo "torchvision does not import against this torch; uninstalling torchvision/torchaudio"
        "$SP_VENV/bin/pip" uninstall -y -q torchvision torchaudio
    fi
fi

log "versions"
for v in "$SF_VENV" "$SP_VENV"; do
    echo "$(basename "$v"): python $("$v/bin/python" -c 'import platform; print(platform.python_version())')"
    "$v/bin/pip" list 2>/dev/null | grep -iE '^(torch|transformers|safetensors|huggingface.hub|speculators|hs-connectors|pydantic) ' | sed 's/^/  /'
done

status=0
run() {  # label cmd...
    log "$1"
    if "${@:2}"; then echo ">> $1: PASS"; else echo ">> $1: FAIL"; status=1; fi
}
cd "$HERE"
run "SpecForge   custom/export"  env PYTHONPATH="$WORK/specforge" "$SF_VENV/bin/python" check_specforge.py "$PEER_DIR/custom/export" "$CUSTOM_LAYERS"
run "SpecForge   default/export" env PYTHONPATH="$WORK/specforge" "$SF_VENV/bin/python" check_specforge.py "$PEER_DIR/default/export" default
run "speculators custom/export-speculators"  "$SP_VENV/bin/python" check_speculators.py "$PEER_DIR/custom/export-speculators" "$CUSTOM_IDS"
run "speculators default/export-speculators" "$SP_VENV/bin/python" check_speculators.py "$PEER_DIR/default/export-speculators" default

log "summary: SpecForge $SF_COMMIT, speculators $SP_COMMIT -> $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
