# sweep.sh - sourced by bench/run_node_bench.sh and bench/compare.sh.
#
# bench_sweep REGEX: kills (SIGKILL) every process but this shell whose
# environment holds a line matching REGEX (grep -E): the tag a run exported
# before starting anything, which every process it started inherits, even
# those that were orphaned when their parent was killed.
bench_sweep() {
  local p
  for p in /proc/[0-9]*; do
    [[ ${p#/proc/} == "$$" ]] && continue
    if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qE "$1"; then
      kill -9 "${p#/proc/}" 2>/dev/null || true
    fi
  done
}
