#!/usr/bin/env bash
# run_node_bench.sh [ROUNDS] - the "Hidden node" benchmark, twice in a row:
# as is, and with every process pinned to CPU 0 (taskset -c 0: the bench, its
# EPMD and both erl nodes inherit the affinity; the BEAM then runs one
# scheduler). On this 2-vCPU machine a sequential round trip is dominated by
# waking a process on the other CPU; pinned, it is not. Prints both tables
# side by side (markdown), then the targets for each mode.
#
#   BENCH_NODE=path/to/bench_node   (default: build-bench/bench/bench_node,
#                                    built with scripts/build.sh if missing)
#
# Every process a run starts carries EP_TEST_TAG=<EP_TEST_RUN>.<pid>...; the
# EXIT trap kills whatever is left with this script's run tag, even if a run
# was killed.
#
# When a run cannot measure (bench_node fails, or prints fewer figures than
# the tables need) it says why on stderr and exits 2, printing no table.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
fail() { echo "run_node_bench.sh: $*" >&2; exit 2; }
[[ $rounds =~ ^[0-9]+$ ]] && ((rounds >= 1 && rounds <= 15)) || fail "ROUNDS must be 1..15, not '$rounds'"
bin=${BENCH_NODE:-$here/build-bench/bench/bench_node}
if [[ ! -x $bin ]]; then
  bash "$here/scripts/build.sh" "$here/build-bench" -DEP_BENCH=ON -DEP_TESTS=OFF >&2 || fail "cannot build $bin"
fi
command -v taskset >/dev/null || fail "taskset (util-linux) is needed"
# Every figure of the tables below, for every contender: a run that left
# some out (BENCH_NODE_ONLY, BENCH_NODE_CONT) is not this benchmark.
unset BENCH_NODE_ONLY BENCH_NODE_CONT

export EP_TEST_RUN="benchnode-$$"
tmp=$(mktemp -d)
. "$here/bench/sweep.sh"
sweep() { bench_sweep "^EP_TEST_TAG=$EP_TEST_RUN\."; }
child=
trap 'sweep; rm -rf "$tmp"' EXIT
# The bench runs in the background so that a signal is acted on at once: it
# is passed on (the bench kills what it started), then the EXIT trap sweeps.
trap '[[ -n $child ]] && kill -TERM "$child" 2>/dev/null; exit 130' INT TERM

run() { # label, command...
  local label=$1; shift
  echo "== $label: $* (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  local t0=$SECONDS st=0
  "$@" "$rounds" >"$tmp/$label.out" 2>"$tmp/$label.err" &
  child=$!
  wait "$child" || st=$?
  child=
  if ((st != 0)); then
    cat "$tmp/$label.err" >&2; fail "the $label run failed (exit status $st)"
  fi
  # 15 RESULT lines and the tcp one, 6 TARGET lines: anything less is not a table
  (($(grep -c '^RESULT ' "$tmp/$label.out") == 16 && $(grep -c '^TARGET ' "$tmp/$label.out") == 6)) || {
    cat "$tmp/$label.out" "$tmp/$label.err" >&2; fail "the $label run printed too few figures (its output is above)"
  }
  echo "   done in $((SECONDS - t0)) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
}

otp=$(erl -noshell -eval 'io:format("OTP ~s", [erlang:system_info(otp_release)]), halt().') || fail "erl does not run"
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "bench_node, $rounds rounds per run, $(date -u '+%Y-%m-%d %H:%M UTC'), cpu: ${cpu:-unknown}, $(nproc) vCPU, $otp"
run asis "$bin"
run pinned taskset -c 0 "$bin"

awk -v A="$tmp/asis.out" -v P="$tmp/pinned.out" '
function load(file, tag,   line, f) {
  while ((getline line < file) > 0) {
    split(line, f, " ")
    if (f[1] == "RESULT") val[tag, f[2], f[3]] = f[4]
    else if (f[1] == "CPU") cpu[tag, f[2], f[3]] = f[4]
    else if (f[1] == "TCPU") tcpu[tag, f[2], f[3]] = f[4]
    else if (f[1] == "TARGET") { tgt[tag, f[2]] = f[3]; met[tag, f[2]] = f[4] }
  }
  close(file)
}
function fmt(v) {
  if (v == "") return "-"
  v += 0
  if (v >= 1000) return sprintf("%.0f", v)
  if (v >= 100) return sprintf("%.1f", v)
  return sprintf("%.2f", v)
}
BEGIN {
  load(A, "a"); load(P, "p")
  n = split("lat pipe64 pipe256 small big", ms, " ")
  split("sequential latency, us per call (lower is better)|pipelined calls/s, 64 in flight|pipelined calls/s, 256 in flight|messages/s, {msg, I}|MB/s, 1 MiB binary messages", lab, "|")
  split("erlpeer ei erlang", cs, " ")
  print ""
  print "| measurement | erlpeer | ei | Erlang origin | erlpeer, pinned | ei, pinned | Erlang origin, pinned |"
  print "|---|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= n; i++) {
    row = "| " lab[i]
    for (t = 1; t <= 2; t++) for (c = 1; c <= 3; c++) row = row " | " fmt(val[(t == 1 ? "a" : "p"), ms[i], cs[c]])
    print row " |"
  }
  print "| raw loopback TCP, MB/s (ceiling) | " fmt(val["a", "tcp", "tcp"]) " | | | " fmt(val["p", "tcp", "tcp"]) " | | |"
  print ""
  print "CPU time per operation, us: the bench process (client side) and the target node (from /proc, 10 ms ticks: rough):"
  print ""
  print "| measurement | client: erlpeer | client: ei | target: erlpeer | target: ei | target: Erlang origin | client: erlpeer, pinned | client: ei, pinned | target: erlpeer, pinned | target: ei, pinned | target: Erlang origin, pinned |"
  print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= n; i++) {
    row = "| " ms[i]
    for (t = 1; t <= 2; t++) {
      tg = (t == 1 ? "a" : "p")
      row = row " | " fmt(cpu[tg, ms[i], "erlpeer"]) " | " fmt(cpu[tg, ms[i], "ei"]) " | " fmt(tcpu[tg, ms[i], "erlpeer"]) " | " fmt(tcpu[tg, ms[i], "ei"]) " | " fmt(tcpu[tg, ms[i], "erlang"])
    }
    print row " |"
  }
  print ""
  split("sequential latency <= ei_rpc (ei / erlpeer)|sequential latency <= erpc:call (Erlang / erlpeer)|pipelined, 64 in flight, >= 1.5x erpc:send_request|pipelined, 64 in flight, >= 1.3x ei'"'"'s best (ei_rpc_to/ei_rpc_from, 64 or 256)|{msg, I} messages >= ei_reg_send|1 MiB messages >= ei_reg_send", tl, "|")
  print "| target | as is | pinned |"
  print "|---|---|---|"
  for (i = 0; i < 6; i++)
    printf "| %s | %.2fx %s | %.2fx %s |\n", tl[i + 1], tgt["a", i], (met["a", i] == "met" ? "met" : "**missed**"), tgt["p", i], (met["p", i] == "met" ? "met" : "**missed**")
}'
