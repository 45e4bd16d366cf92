#!/usr/bin/env bash
# erlpeer call / ping and the target's atom table (issue 13): without
# --sname/--name they connect as the first of _erlpeer_c0 .. _erlpeer_c15 not
# in use there, so repeated calls add no atoms (every node name becomes an
# atom on the target, never collected), 8 calls at once all succeed, a name
# given that is in use fails cleanly without cutting its holder's connection,
# and every default name in use is its own error.
#
# The figure of issue 13 (1,200 sequential calls, at most 10 atoms) is
# bench/bench_client.c's; here 200 calls, at most 2 atoms (the first call's
# name, and a second should the target not yet have seen the previous
# call's connection close: a name in use is never taken).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ep_world

ep_start_epmd
ep_start_erl target
node="target@$(hostname -s)"

atoms() { "$EP_CLI" call target erlang system_info '[atom_count]'; }

# Sequential calls: the atom table stays put.
before=$(atoms)
for i in $(seq 1 200); do
  "$EP_CLI" call target lists seq '[1,3]' >"$OUT" 2>"$ERR" || fail "call $i failed"
  [ "$(cat "$OUT")" = "[1,2,3]" ] || fail "call $i printed $(cat "$OUT")"
done
expect_rc 0 "$EP_CLI" ping target
after=$(atoms)
(( after - before <= 2 )) || fail "200 calls grew the target's atom table from $before to $after"
expect_rc 0 "$EP_CLI" call target erlang nodes '[hidden]'
expect_out "['_erlpeer_c0@$(hostname -s)']"

# 8 at once: all succeed, each under its own name.
pids=()
for i in $(seq 1 8); do
  "$EP_CLI" call target erlang nodes '[hidden]' >"$EP_TMP/conc.$i" 2>&1 &
  pids+=($!)
done
for i in $(seq 1 8); do
  ep_wait_child "${pids[$((i - 1))]}" 30 || fail "concurrent call $i: $(cat "$EP_TMP/conc.$i")"
  grep -q "_erlpeer_c" "$EP_TMP/conc.$i" || fail "concurrent call $i printed $(cat "$EP_TMP/conc.$i")"
done
after8=$(atoms)
(( after8 - after <= 8 )) || fail "8 concurrent calls grew the atom table from $after to $after8"

# A name given that is in use: the second program backs off, exit 2 with
# the reason, and the first one's call is not cut.
"$EP_CLI" call --sname holder target timer sleep '[1500]' >"$EP_TMP/holder" 2>&1 &
holder=$!
expect_rc 0 "$EP_CLI" call --sname probe --eval \
  "ok = net_kernel:monitor_nodes(true, [{node_type, hidden}]),
   W = fun W() -> case lists:member('holder@$(hostname -s)', nodes(hidden)) of
                    true -> up; false -> receive {nodeup, _, _} -> W() after 10000 -> timeout end end end,
   W()." target
expect_out "up"
expect_rc 2 "$EP_CLI" call --sname holder target erlang node
expect_err "already has a connection from a node of this program's name"
expect_err "holder@$(hostname -s): another program uses this name"
ep_wait_child "$holder" 20 || fail "the holder's call failed: $(cat "$EP_TMP/holder")"
[ "$(cat "$EP_TMP/holder")" = "ok" ] || fail "the holder's call printed $(cat "$EP_TMP/holder")"

# Every default name in use: its own error, nothing cut.
pids=()
for i in $(seq 0 15); do
  "$EP_CLI" call --sname "_erlpeer_c$i" target timer sleep '[3000]' >"$EP_TMP/hold.$i" 2>&1 &
  pids+=($!)
done
expect_rc 0 "$EP_CLI" call --sname probe --eval \
  "ok = net_kernel:monitor_nodes(true, [{node_type, hidden}]),
   W = fun W() -> case length([N || N <- nodes(hidden), lists:prefix(\"_erlpeer_c\", atom_to_list(N))]) of
                    16 -> all; _ -> receive {nodeup, _, _} -> W() after 10000 -> timeout end end end,
   W()." target
expect_out "all"
expect_rc 2 "$EP_CLI" call target erlang node
expect_err "all the default names _erlpeer_c0 .. _erlpeer_c15 are in use there"
expect_rc 1 "$EP_CLI" ping target
expect_out "pang"
for i in $(seq 0 15); do
  ep_wait_child "${pids[$i]}" 20 || fail "holder $i failed: $(cat "$EP_TMP/hold.$i")"
done

echo "1 passed, 0 failed"
