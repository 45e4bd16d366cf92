#!/usr/bin/env bash
# erlpeer agent --top-processes against a real erl node: off by default (no
# such series, no "top_processes" in --json); N outside 1..20 refused with
# exit 2; with it on, a process holding a big message queue comes first by
# message_queue_len, names are the registered name (escaped as the text
# format wants: promtool accepts the page) or the initial call M:F/A; a
# time budget too small for the scan marks it truncated; atoms and loaded
# modules of the target are unchanged across scrapes with the flag on; on
# OTP 27 (a root, when there is one), a proc_lib process is named by the
# initial call in its dictionary.
# Waits are for log lines and JSON lines (tail -F), each with a deadline.
set -Eeuo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"
ep_world
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND exited $?" >&2' ERR
command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus; scripts/setup.sh)"
host=$(hostname -s)
IV=300

# --- usage ------------------------------------------------------------------------------
expect_rc 0 "$EP_CLI" agent --help
grep -q -- "--top-processes N" "$OUT" || fail "--help does not tell --top-processes"
expect_rc 2 "$EP_CLI" agent --top-processes 21 a
expect_err "--top-processes takes a number of processes (1 to 20), not '21'"
expect_rc 2 "$EP_CLI" agent --top-processes=0 a
expect_err "(1 to 20), not '0'"
expect_rc 2 "$EP_CLI" agent --top-processes a
expect_rc 2 "$EP_CLI" agent --top-budget 0 --top-processes 3 a
expect_err "--top-budget takes milliseconds"
expect_rc 2 "$EP_CLI" agent --top-what 3 a
echo "ok   usage: N in 1..20, a budget in milliseconds"

# The target: 'hog' holds 20000 messages it never takes; a process with a
# name that needs escaping holds 500; an unregistered one (initial call
# erlang:apply/2) holds 1000.
ep_start_epmd
ep_start_erl a -eval '
  Park = fun() -> receive stop_never_sent -> ok end end,
  register(hog, spawn(Park)), [hog ! {m, I} || I <- lists:seq(1, 20000)],
  register(list_to_atom("we\"ird\\na\nme"), W = spawn(Park)), [W ! I || I <- lists:seq(1, 500)],
  U = spawn(Park), [U ! I || I <- lists:seq(1, 1000)].'

# wait_scrapes TAG MIN SECS: until a JSON line says a@host has MIN successful scrapes
wait_scrapes() {
  local fd tp rc
  exec {fd}< <(exec timeout "$3" tail -n +1 -F -- "$EP_TMP/$1.json" 2>/dev/null)
  tp=$!
  "${FOLLOW_AWK[@]}" -v min="$2" 'match($0, /"scrapes_total":[0-9]+/) {
      if (substr($0, RSTART + 16, RLENGTH - 16) + 0 >= min) { found = 1; exit 0 } } END { exit !found }' <&"$fd" \
    && rc=0 || rc=$?
  exec {fd}<&-
  kill "$tp" 2>/dev/null || true
  [ $rc = 0 ] || fail "$1: a@$host did not reach $2 scrapes in $3 s: $(tail -3 "$EP_TMP/$1.err")"
}
scrapes_of() { tail -1 "$EP_TMP/$1.json" | jq .scrapes_total; }
stop_agent() { kill -TERM "$AGENT_PID"; ep_wait_child "$AGENT_PID" 10 || fail "the agent did not exit 0 on SIGTERM"; }
# on the target: atoms and loaded modules (a fixed name: the call itself makes no new atom)
footprint() {
  "$EP_CLI" call --sname measure "a@$host" --call 'erlang:system_info(atom_count)' --call 'erlang:loaded()' \
    | awk 'NR == 1 { printf "%s atoms, ", $0 } NR == 2 { print gsub(/,/, ",") + 1 " modules" }'
}

# --- off by default ------------------------------------------------------------------------
start_agent_http off --listen 127.0.0.1:0 --interval $IV --json "a@$host"
wait_scrapes off 2 10
curl -sf --max-time 5 "$URL" > "$EP_TMP/off.txt" || fail "GET /metrics failed"
grep -q "^erlang_vm_processes{node=\"a@$host\"}" "$EP_TMP/off.txt" || fail "no erlang_vm_processes"
grep -q "erlpeer_process_\|erlpeer_top_processes" "$EP_TMP/off.txt" && fail "top-processes series without the flag"
grep -q top_processes "$EP_TMP/off.json" && fail "top_processes in --json without the flag"
stop_agent
echo "ok   off by default: no top-processes series"

# --- on: the hog first by message_queue_len; nothing left on the target ------------------------
start_agent_http on --sname agent_top --listen 127.0.0.1:0 --interval $IV --json --top-processes 3 "a@$host"
wait_scrapes on 2 10
footprint > /dev/null; footprint > /dev/null # the measuring node's own name atom
before=$(footprint) # after the first scrapes: the agent's own name is an atom there by now
curl -sf --max-time 5 "$URL" > "$EP_TMP/on.txt" || fail "GET /metrics failed"
q=$(grep '^erlpeer_process_message_queue_len{' "$EP_TMP/on.txt")
[ "$(echo "$q" | head -1)" = "erlpeer_process_message_queue_len{node=\"a@$host\",pid=\"$(echo "$q" | head -1 \
  | grep -o '<0\.[0-9]*\.[0-9]*>')\",name=\"hog\"} 20000" ] || fail "the hog is not first by message_queue_len: $q"
echo "$q" | sed -n 2p | grep -q ',name="erlang:apply/2"} 1000$' || fail "second by queue: not the unregistered one: $q"
echo "$q" | sed -n 3p | grep -qF ',name="we\"ird\\na\nme"} 500' || fail "third by queue: the odd name, escaped: $q"
[ "$(grep -c '^erlpeer_process_memory_bytes{' "$EP_TMP/on.txt")" = 3 ] || fail "not 3 series by memory"
grep '^erlpeer_process_memory_bytes{' "$EP_TMP/on.txt" | head -1 | grep -q 'name="hog"' \
  || fail "the hog (20000 messages) does not use the most memory"
grep -qx "erlpeer_top_processes_truncated{node=\"a@$host\"} 0" "$EP_TMP/on.txt" || fail "a small node's scan is truncated"
ex=$(sed -n "s/^erlpeer_top_processes_examined{node=\"a@$host\"} //p" "$EP_TMP/on.txt")
[ "${ex:-0}" -gt 20 ] || fail "only ${ex:-no} processes examined"
promtool check metrics < "$EP_TMP/on.txt" > "$EP_TMP/promtool.out" 2>&1 \
  || { cat "$EP_TMP/promtool.out"; fail "promtool rejects the top-processes page"; }
tail -1 "$EP_TMP/on.json" | jq -e '.top_processes.message_queue_len[0].name == "hog"
  and .top_processes.message_queue_len[0].value == 20000 and (.top_processes.memory | length) == 3
  and .top_processes.message_queue_len[2].name == "we\"ird\\na\nme" and .top_processes.truncated == false' \
  > /dev/null || fail "--json top_processes: $(tail -1 "$EP_TMP/on.json" | jq -c .top_processes)"
s0=$(scrapes_of on)
wait_scrapes on $((s0 + 20)) 30
after=$(footprint)
[ "$before" = "$after" ] || fail "scrapes with --top-processes changed the target: before $before, after $after"
stop_agent
echo "ok   --top-processes 3: hog first ($ex examined), names escaped, promtool; target unchanged ($after)"

# --- a budget too small for the scan: truncated --------------------------------------------------
# b: 10000 more processes, ten batches: a 1 ms budget cannot cover them
ep_start_erl b -eval '[spawn(fun() -> receive stop_never_sent -> ok end end) || _ <- lists:seq(1, 10000)].'
start_agent_http cut --sname agent_cut --listen 127.0.0.1:0 --interval $IV --json --top-processes 20 --top-budget 1 "b@$host"
wait_scrapes cut 2 10
curl -sf --max-time 5 "$URL" > "$EP_TMP/cut.txt" || fail "GET /metrics failed"
grep -qx "erlpeer_top_processes_truncated{node=\"b@$host\"} 1" "$EP_TMP/cut.txt" \
  || fail "a 1 ms budget over $(sed -n "s/^erlang_vm_processes{node=\"b@$host\"} //p" "$EP_TMP/cut.txt") processes is not truncated: $(grep top_processes "$EP_TMP/cut.txt")"
grep -qx "erlpeer_node_up{node=\"b@$host\"} 1" "$EP_TMP/cut.txt" || fail "a truncated scan took the node down"
stop_agent
echo "ok   --top-budget 1: truncated, node up"

# --- OTP 26+: a proc_lib process is named by its real initial call ---------------------------------
# (an OTP 27 root from scripts/otp-roots.sh, run through chroot as the C
# tests do; skipped without it)
R=${EP_TRIXIE_ROOT:-/var/cache/erlpeer/roots/trixie}
if [ "$(id -u)" = 0 ] && [ -x "$R/usr/bin/erl" ]; then
  RH=/tmp/ep_agent_top.$$ # the HOME inside the root, with the test's cookie; removed on exit
  mkdir -p "$R$RH" "$EP_TMP/bin"
  trap 'rm -rf "${R:?}$RH"; ep_cleanup' EXIT
  cp "$HOME/.erlang.cookie" "$R$RH/"
  chmod 400 "$R$RH/.erlang.cookie"
  printf '#!/bin/sh\nexec chroot "%s" env HOME="%s" erl "$@"\n' "$R" "$RH" > "$EP_TMP/bin/erl"
  chmod +x "$EP_TMP/bin/erl"
  PATH="$EP_TMP/bin:$PATH" ep_start_erl n27 -eval '
    P = proc_lib:spawn(timer, sleep, [infinity]), [P ! I || I <- lists:seq(1, 3000)].'
  start_agent_http n27 --sname agent_n27 --listen 127.0.0.1:0 --interval $IV --json --top-processes 2 "n27@$host"
  wait_scrapes n27 2 10
  curl -sf --max-time 5 "$URL" > "$EP_TMP/n27.txt" || fail "GET /metrics failed"
  grep '^erlpeer_process_message_queue_len{' "$EP_TMP/n27.txt" | head -1 | grep -q ',name="timer:sleep/1"} 3000$' \
    || fail "OTP 27: the proc_lib process is not named timer:sleep/1: $(grep '^erlpeer_process_' "$EP_TMP/n27.txt")"
  stop_agent
  echo "ok   OTP 27: proc_lib:spawn(timer, sleep, ...) named timer:sleep/1"
  passed=5
else
  echo "skip OTP 27 names: no OTP 27 root at $R (scripts/otp-roots.sh), or not root"
  passed=4
fi
echo "$passed passed, 0 failed"
