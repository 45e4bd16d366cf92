#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS: runs every fuzz target for SECONDS, seeded from
# tests/fuzz/corpus/<target>/ (copied: the checked-in seeds stay as they are).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "$1" && pwd); secs=$2; rc=0
shopt -s nullglob
for f in "$dir"/tests/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  work=$(mktemp -d); mkdir -p "$work/corpus"
  [ -d "$here/tests/fuzz/corpus/$name" ] && cp -r "$here/tests/fuzz/corpus/$name/." "$work/corpus/"
  echo "fuzz: $name for ${secs}s ($(ls "$work/corpus" | wc -l) seeds)"
  if ! (cd "$work" && "$f" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 \
        corpus >"$work/log" 2>&1); then
    echo "fuzz: $name FAILED"; tail -40 "$work/log"; rc=1
  else
    grep -E '^Done|^#[0-9]+.*DONE' "$work/log" | tail -1 || true
  fi
  rm -rf "$work"
done
exit $rc
