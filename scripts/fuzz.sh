#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS [TARGET...]: runs every fuzz target (or the ones
# named) for SECONDS each, one process at a time, seeded from
# tests/fuzz/corpus/<target>/ (copied: the checked-in seeds stay as they are).
# FUZZ_OUT=DIR keeps what a run found: DIR/<target>/corpus (the grown
# corpus), DIR/<target>/crash-* etc. (findings), DIR/<target>/log, and one
# line per target in DIR/stats.tsv: target, executions, seconds, corpus
# files, findings (the campaign in docs/fuzzing.md was recorded this way).
# With FUZZ_RESUME=1 a run also starts from DIR/<target>/corpus, so rounds
# of a campaign add up.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "$1" && pwd); secs=$2; shift 2; rc=0
out=${FUZZ_OUT:-}
[ -n "$out" ] && mkdir -p "$out" && out=$(cd "$out" && pwd)
shopt -s nullglob
targets=()
if (($#)); then
  for t in "$@"; do targets+=("$dir/tests/fuzz/$t"); done
else
  targets=("$dir"/tests/fuzz/fuzz_*)
fi
for f in "${targets[@]}"; do
  [ -x "$f" ] && [ -f "$f" ] || { [ $# -gt 0 ] && { echo "fuzz: no target $f"; rc=1; }; continue; }
  name=$(basename "$f")
  work=$(mktemp -d); mkdir -p "$work/corpus"
  [ -d "$here/tests/fuzz/corpus/$name" ] && cp -r "$here/tests/fuzz/corpus/$name/." "$work/corpus/"
  if [ -n "$out" ] && [ "${FUZZ_RESUME:-0}" = 1 ] && [ -d "$out/$name/corpus" ]; then
    cp -r "$out/$name/corpus/." "$work/corpus/"
  fi
  echo "fuzz: $name for ${secs}s ($(ls "$work/corpus" | wc -l) seeds)"
  frc=0
  (cd "$work" && "$f" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
     corpus >"$work/log" 2>&1) || frc=$?
  found=("$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*)
  if [ "$frc" != 0 ]; then
    echo "fuzz: $name FAILED"; tail -40 "$work/log"; rc=1
  else
    grep -E '^Done|^#[0-9]+.*DONE' "$work/log" | tail -1 || true
  fi
  if [ -n "$out" ]; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -1)
    rm -rf "$out/$name"; mkdir -p "$out/$name"
    cp -r "$work/corpus" "$out/$name/corpus"; cp "$work/log" "$out/$name/log"
    for x in "${found[@]}"; do cp "$x" "$out/$name/"; done
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "${execs:-?}" "${took:-?}" "$(ls "$work/corpus" | wc -l)" \
      "${#found[@]}" >>"$out/stats.tsv"
  fi
  rm -rf "$work"
done
exit $rc
