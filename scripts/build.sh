#!/usr/bin/env bash
# build.sh DIR [cmake options...]: configures and builds erlpeer into DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$1; shift
mkdir -p "$dir"
cmake -S "$here" -B "$dir" -DEP_WERROR=ON "$@" >"$dir/cmake.log" 2>&1 || { cat "$dir/cmake.log"; exit 1; }
cmake --build "$dir" -j"$(nproc)" 2>&1 | grep -vE '^\[ *[0-9]+%\]|^-- ' || true
cmake --build "$dir" -j"$(nproc)" >/dev/null   # fails loudly if the build did
