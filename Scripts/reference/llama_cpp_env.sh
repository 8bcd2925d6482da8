#!/usr/bin/env bash
# Makes (or reuses, if it already imports the pinned version) a throwaway venv with a pinned
# llama-cpp-python, built from its source package for this machine's CPU (llama.cpp's default
# CPU build: GGML_NATIVE=ON, no BLAS, no GPU). The build takes 10-20 minutes on 2 cores.
# llama_cpp_bench.py and make_llama_cpp_greedy_fixture.py run with this venv's python.
#
# usage: Scripts/reference/llama_cpp_env.sh        (prints the venv's python on stdout)
# env:
#   LLAMA_VENV=/tmp/fledge-llamacpp   where the venv lives
#   PYTHON=python3                    interpreter for the venv
#   JOBS=2                            parallel compile jobs
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36

VENV=${LLAMA_VENV:-/tmp/fledge-llamacpp}
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-2}

installed() {
    "$VENV/bin/python" -c "import sys, llama_cpp; sys.exit(llama_cpp.__version__ != '$LLAMA_CPP_PYTHON_VERSION')" \
        2>/dev/null
}

if ! installed; then
    echo "building llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION into $VENV (10-20 min)..." >&2
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >&2
    start=$(date +%s)
    CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF ${CMAKE_ARGS:-}" \
    MAKEFLAGS="-j$JOBS" CMAKE_BUILD_PARALLEL_LEVEL=$JOBS \
        "$VENV/bin/pip" install --no-binary llama-cpp-python --no-cache-dir \
        "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
    echo "built in $(( $(date +%s) - start )) s" >&2
    installed || { echo "llama_cpp in $VENV is not $LLAMA_CPP_PYTHON_VERSION" >&2; exit 1; }
fi
echo "$VENV/bin/python"
