#!/usr/bin/env bash
# Faults on the link between two hosts (network namespaces A and B,
# tests/integration/hosts.sh), with a dist peer on B started through
# `ip netns exec B erl` by `erlpeer session --origin ctl@A` in A, both sides
# at net_ticktime 4 s:
#  - partition by link down (ip link set vb down), then by an nftables rule
#    in B dropping everything from and to A: the controller reports the peer
#    down within the tick time (the figure is printed against net_ticktime),
#    the peer on B halts, and once the link heals nothing is left (no
#    emulator on B, its name free in B's epmd, no connection between the
#    hosts) and a peer of the same name starts again;
#  - slow link (tc tbf in both namespaces; this kernel has no netem): a
#    64 MiB reply completes over a link shaped to 32 mbit/s (about 17 s, four
#    times the tick time) and the connection stays up.
# Skipped, with the reason, where namespaces cannot be made; the nftables
# and tbf cases each where their tool or kernel support is missing.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hosts.sh"
ep_world
hosts_up
t_begin=$(now_ms)
TICK=4
SLOW_MBIT=${EP_SLOW_MBIT:-32}
SLOW_BYTES=${EP_SLOW_BYTES:-67108864}

ex=$(exec_netns)
ctl_start --origin "ctl@$HA" --net-ticktime $TICK

# start_peer ID NAME: a dist peer NAME@B under ID; sets PID to its OS pid.
start_peer() {
  local id=$1 name=$2
  ctl_ok "$id" "{start, $id, #{name => \"$name\", host => \"$HB\", longnames => true, exec => $ex, args => [\"-kernel\", \"net_ticktime\", \"$TICK\"]}}." 40
  [ "$VAL" = "'$name@$HB'" ] || fail "$id is $VAL"
  ctl_ok "$id" "{call, $id, os, getpid, []}."
  PID=${VAL//\"/}
  [ -n "$PID" ] || fail "no OS pid for $id"
}

no_conn_between_hosts() { [ -z "$(ip netns exec "$NSA" ss -Htn state established dst "$HB")" ]; }
name_free_on_b() { ! ERL_EPMD_PORT=$EP_EPMD_PORT ip netns exec "$NSB" epmd -names 2>/dev/null | grep -q "^name $1 "; }

nft_cut() {
  ip netns exec "$NSB" nft -f - <<EOF
table inet ep_partition {
  chain in {
    type filter hook input priority 0; policy accept;
    ip saddr $HA drop
  }
  chain out {
    type filter hook output priority 0; policy accept;
    ip daddr $HA drop
  }
}
EOF
}

# partition KIND ID CUT HEAL
partition() {
  local kind=$1 id=$2 cut=$3 heal=$4 pid t0 t1 t2
  start_peer "$id" "$id"
  pid=$PID
  ctl_ok "$id" "{call, $id, erlang, nodes, [hidden]}."
  [ "$VAL" = "['ctl@$HA']" ] || fail "$id is not connected to ctl@$HA alone: $VAL"
  t0=$(now_ms)
  eval "$cut" || fail "cannot cut the link ($kind)"
  ep_wait_for "$SOUT" "^{down,$id," $((TICK * 3)) "$CTL_PID" || fail "$kind: the controller did not see $id go"
  t1=$(now_ms)
  hosts_wait "pids_gone $pid" $((TICK * 3)) || fail "$kind: $id still runs on B"
  t2=$(now_ms)
  # Both sides tick every T/4 and give up after T of silence, checked
  # every T/4: T to 1.25 T after the cut (OTP's own bound), plus a second
  # for a loaded machine.
  local limit=$((TICK * 1250 + 1000))
  [ $((t1 - t0)) -le $limit ] || fail "$kind: detected after $((t1 - t0)) ms, over 1.25 x net_ticktime (+1 s: $limit ms)"
  [ $((t2 - t0)) -le $limit ] || fail "$kind: the peer on B halted after $((t2 - t0)) ms (limit $limit)"
  ok "partition by $kind: the controller saw $id down after $((t1 - t0)) ms (net_ticktime ${TICK} s: $(( (t1 - t0) * 100 / (TICK * 1000) ))% of it), $(grep "^{down,$id," "$SOUT")"
  ok "partition by $kind: $id on B halted after $((t2 - t0)) ms"
  eval "$heal" || fail "cannot heal the link ($kind)"
  no_beams_in "$NSB" || fail "$kind: emulators left on B: $(ns_beams "$NSB")"
  hosts_wait "name_free_on_b $id" 5 || fail "$kind: $id still registered in B's epmd"
  hosts_wait no_conn_between_hosts 5 || fail "$kind: connections left between the hosts: $(ip netns exec "$NSA" ss -Htn)"
  ctl_cmd "$id" "{state, $id}."
  [ "$ANS" = "{state,$id,{down,noconnection}}." ] || fail "$kind: the controller says $ANS"
  # The same name again, over the healed link.
  start_peer "${id}_again" "$id"
  ctl_cmd "${id}_again" "{stop, ${id}_again}."
  [ "$ANS" = "{stopped,${id}_again}." ] || fail "$kind: stop $id after the heal: $ANS"
  hosts_wait "pids_gone $PID" 10 || fail "$kind: the new $id did not stop"
  ok "partition by $kind healed: nothing left on B or between the hosts, $id starts again"
}

partition "link down" pd1 'ip -n "$NSB" link set vb down' \
  'ip -n "$NSB" link set vb up && hosts_wait "link_is_up $NSA va" 5'

if ! command -v nft >/dev/null; then
  echo "SKIPPED partition by nftables: no nft (Debian's nftables)"
elif ! ip netns exec "$NSB" nft list ruleset >/dev/null 2>&1; then
  echo "SKIPPED partition by nftables: nft cannot work in a namespace here"
else
  partition "nftables drop" pd2 nft_cut 'ip netns exec "$NSB" nft delete table inet ep_partition'
fi

# Slow link: our node reads a reply of SLOW_BYTES while ticks must still
# pass both ways. `erlpeer peer` prints the reply as <<"xxx...">>.
shape() {
  ip netns exec "$NSA" tc qdisc "$1" dev va root tbf rate "${SLOW_MBIT}mbit" burst 64kb latency 200ms &&
    ip netns exec "$NSB" tc qdisc "$1" dev vb root tbf rate "${SLOW_MBIT}mbit" burst 64kb latency 200ms
}
if ! command -v tc >/dev/null || ! shape add 2>"$EP_TMP/tc.err"; then
  echo "SKIPPED slow link: tc tbf is not available: $(head -c 200 "$EP_TMP/tc.err" 2>/dev/null)"
else
  OUT="$EP_TMP/slow.out" ERR="$EP_TMP/slow.err"
  t0=$(now_ms)
  timeout 200 ip netns exec "$NSA" "$EP_CLI" peer --name slow --host "$HB" --longnames --origin "ctlslow@$HA" \
    --net-ticktime $TICK --exec ip --exec-arg netns --exec-arg exec --exec-arg "$NSB" --exec-arg erl \
    --timeout 180000 --call "binary:copy(<<\"x\">>, $SLOW_BYTES)" --call 'erlang:nodes(hidden)' \
    -- -kernel net_ticktime $TICK >"$OUT" 2>"$ERR" || fail "slow link: erlpeer peer failed"
  t1=$(now_ms)
  shape del
  got=$(head -1 "$OUT" | wc -c)
  [ "$got" = $((SLOW_BYTES + 7)) ] || fail "slow link: the reply's line has $got bytes, wanted $((SLOW_BYTES + 7))"
  [ "$(sed -n 2p "$OUT")" = "['ctlslow@$HA']" ] || fail "slow link: the connection did not stay up"
  ms=$((t1 - t0))
  [ $ms -gt $((TICK * 2000)) ] || fail "slow link: done in $ms ms, the link was not slow (tbf ${SLOW_MBIT}mbit)"
  ok "slow link: a $((SLOW_BYTES >> 20)) MiB reply over ${SLOW_MBIT} mbit/s took $ms ms ($((ms / (TICK * 1000))) tick times of ${TICK} s), the connection stayed up"
fi

ctl_end
echo "time: $(( $(now_ms) - t_begin )) ms"
echo "$passed passed, 0 failed"
