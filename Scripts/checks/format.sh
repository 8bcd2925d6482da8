#!/usr/bin/env bash
# The style check `make test` (and so CI) runs: the toolchain's `swift format lint` with the
# repository's .swift-format (120 columns, 4-space indentation), plus the 120-column limit
# for what the formatter cannot break (string literals, comments), counted in characters.
# `Scripts/checks/format.sh --fix` reformats the sources in place first.
set -euo pipefail
cd "$(dirname "$0")/../.."
paths=(Package.swift Sources Tests)
if [ "${1:-}" = "--fix" ]; then
    swift format format --in-place --recursive --parallel "${paths[@]}"
fi
swift format lint --strict --recursive --parallel "${paths[@]}"
long=$(LC_ALL=C.UTF-8 grep -rnP --include='*.swift' '^.{121,}$' "${paths[@]}" || true)
if [ -n "$long" ]; then
    echo "$long"
    echo "format: $(echo "$long" | wc -l) lines are wider than 120 characters" >&2
    exit 1
fi
echo "format: clean"
