#!/usr/bin/env bash
# bench_agent.sh [NODES] [SECONDS] [INTERVAL_MS]: erlpeer agent watching
# NODES real erl nodes (default 10) for SECONDS (20) at INTERVAL_MS (250):
#  - the agent's RSS (VmRSS and VmHWM) and CPU per node-scrape (utime+stime
#    from /proc over the window, divided by the node-scrapes of the window);
#  - the cost of one scrape on a target, measured on the target (node t1):
#    its reductions and runtime over the window, less the same window with
#    no agent attached, divided by t1's scrapes;
#  - beside it, in the same run, the same BIFs collected in-node by
#    bench/agent_collector.erl on a node of its own, alone (bifs) and with
#    the text rendering an in-node /metrics needs (text).
# Needs a built CLI (EP_CLI, default build/erlpeer), erl, erlc, epmd, jq.
# Starts a private EPMD and the nodes with the tests' harness
# (tests/integration/lib.sh), which kills all of them on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
EP_CLI=${EP_CLI:-$here/build/erlpeer}
export EP_CLI
source "$here/tests/integration/lib.sh"
N=${1:-10} DUR=${2:-20} IV=${3:-250}
ep_world
host=$(hostname -s)
echo "bench_agent: cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) vCPU online, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench_agent: $N nodes, ${DUR} s window, interval $IV ms"

ep_start_epmd
mkdir -p "$EP_TMP/ebin"
erlc -o "$EP_TMP/ebin" "$here/bench/agent_collector.erl"
nodes=()
# TARGET_ARGS: erl flags for every node, e.g. "+sbwt none +sbwtdcpu none
# +sbwtdio none" so that the schedulers' busy wait after each wake-up does not
# count as the scrape's runtime
read -r -a targs <<< "${TARGET_ARGS:-}"
for i in $(seq 1 "$N"); do ep_start_erl "t$i" "${targs[@]}"; nodes+=("t$i@$host"); done
ep_start_erl base -pa "$EP_TMP/ebin" "${targs[@]}"

# reductions and runtime (ms) of node t1, read from outside with a fixed name
target_now() {
  "$EP_CLI" call --sname measure "t1@$host" --call 'erlang:statistics(reductions)' --call 'erlang:statistics(runtime)' \
    | tr -d '{}' | awk -F, '{ printf "%s ", $1 } END { print "" }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
last_scrapes() { # sum over nodes of the last scrapes_total in the JSON so far
  local f=$1 sum=0 n v
  for n in "${nodes[@]}"; do
    v=$(grep -F "\"node\":\"$n\"" "$f" | tail -1 | jq -r '.scrapes_total // 0' 2>/dev/null || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo $sum
}
t1_scrapes() { grep -F "\"node\":\"t1@$host\"" "$1" | tail -1 | jq -r '.scrapes_total // 0'; }

target_now > /dev/null; target_now > /dev/null # the measuring node's name atom, its first connection
read -r ir0 ic0 < <(target_now)
sleep "$DUR"
read -r ir1 ic1 < <(target_now)

json="$EP_TMP/agent.json"
"$EP_CLI" agent --sname bench_agent --listen none --interval "$IV" --json "${nodes[@]}" > "$json" 2> "$EP_TMP/agent.err" &
AG=$!
for n in "${nodes[@]}"; do ep_wait_for "$EP_TMP/agent.err" "$n: up" 30 || fail "$n not up"; done
ep_wait_for "$json" '"scrapes_total":2' 10 || true
hz=$(getconf CLK_TCK)
s0=$(last_scrapes "$json"); t0=$(t1_scrapes "$json"); c0=$(cpu_ticks $AG)
read -r ar0 ac0 < <(target_now)
sleep "$DUR"
read -r ar1 ac1 < <(target_now)
s1=$(last_scrapes "$json"); t1=$(t1_scrapes "$json"); c1=$(cpu_ticks $AG)
rss=$(awk '/^VmRSS/ { print $2 }' /proc/$AG/status); hwm=$(awk '/^VmHWM/ { print $2 }' /proc/$AG/status)
anon=$(awk '/^RssAnon/ { print $2 }' /proc/$AG/status); file=$(awk '/^RssFile/ { print $2 }' /proc/$AG/status)
kill -TERM $AG; ep_wait_child $AG 10 || fail "the agent did not exit 0"

ns=$((s1 - s0)); nt=$((t1 - t0))
[ $ns -gt 0 ] && [ $nt -gt 0 ] || fail "no scrapes in the window"
awk -v c=$((c1 - c0)) -v hz="$hz" -v ns=$ns -v rss="$rss" -v hwm="$hwm" -v n="$N" -v anon="$anon" -v file="$file" 'BEGIN {
  printf "agent: %d node-scrapes, CPU %.1f ms total, %.3f ms per node-scrape; RSS %.1f MB (peak %.1f MB; anonymous %.1f MB, file-backed %.1f MB) for %d nodes\n",
         ns, c * 1000 / hz, c * 1000 / hz / ns, rss / 1024, hwm / 1024, anon / 1024, file / 1024, n }'
awk -v ar=$((ar1 - ar0)) -v ir=$((ir1 - ir0)) -v ac=$((ac1 - ac0)) -v ic=$((ic1 - ic0)) -v nt=$nt 'BEGIN {
  printf "target t1: %d scrapes; per scrape %.0f reductions, %.3f ms runtime (window with agent %d reds %d ms, idle %d reds %d ms)\n",
         nt, (ar - ir) / nt, (ac - ic) / nt, ar, ac, ir, ic }'
K=1000
for mode in bifs text; do
  r=$("$EP_CLI" call --sname measure "base@$host" agent_collector run "[$K, $mode]" | tr -d '{}')
  awk -v r="$r" -v k=$K -v m=$mode 'BEGIN { split(r, a, ","); printf "in-node collector (%s): per collection %.0f reductions, %.3f ms\n", m, a[1] / k, a[2] / k / 1000 }'
done
