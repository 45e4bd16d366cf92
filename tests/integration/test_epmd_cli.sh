#!/usr/bin/env bash
# erlpeer names / port / epmd against the real thing: `erlpeer epmd` serves
# real erl nodes, `erlpeer names` prints epmd -names' lines, `erlpeer port`
# the port, errors are one line with a non-zero status, SIGTERM stops the
# server cleanly. Private port, temporary HOME, everything tagged and killed.
set -uo pipefail
CLI=${EP_CLI:?EP_CLI must point at the erlpeer binary}
# lib.sh's world (tag, HOME with a cookie in the run's folder, its EXIT
# trap); this test's own fail() below counts instead of exiting.
. "$(dirname "$0")/lib.sh"
ep_world
pids=()
fails=0

cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  ep_cleanup # anything else carrying our tag (erl's children), and the folder
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { # check DESC EXPECTED_STATUS CMD...
  local desc=$1 want=$2; shift 2
  out=$("$@" 2>"$HOME/err"); st=$?; err=$(cat "$HOME/err")
  [ "$st" = "$want" ] || fail "$desc: status $st, wanted $want (stderr: $err)"
}

# Waits (bounded) until FILE contains PATTERN: lib.sh's ep_wait_for, which
# wakes on the write that brings it.
wait_for() { ep_wait_for "$@"; }

# --- help and usage --------------------------------------------------------------
for c in names port epmd; do
  check "$c --help" 0 "$CLI" "$c" --help
  [[ $out == usage:* ]] || fail "$c --help prints usage"
done
check "port without a node" 2 "$CLI" port
[ "$(echo "$err" | wc -l)" = 1 ] || fail "one-line reason for usage error: $err"
check "names bad option" 2 "$CLI" names --bogus

# Starts `erlpeer epmd --port 0 ARGS...` in the background: sets srvpid and
# srvport (the port it picked, from its "listening on port P" line).
start_server() {
  local tag=$1; shift
  "$CLI" epmd --port 0 "$@" >"$HOME/$tag.out" 2>"$HOME/$tag.err" &
  srvpid=$!; pids+=("$srvpid")
  wait_for "$HOME/$tag.out" "listening on port " 5 || { fail "server $tag did not start: $(cat "$HOME/$tag.err")"; exit 1; }
  srvport=$(sed -n 's/^listening on port //p' "$HOME/$tag.out")
}

# --- our server ------------------------------------------------------------------------
start_server srv
srv=$srvpid; PORT=$srvport
export ERL_EPMD_PORT=$PORT

check "names, empty" 0 "$CLI" names
[ -z "$out" ] || fail "names on an empty server printed: $out"

erl -sname clia -noshell -noinput -start_epmd false -eval 'io:format("EP_READY~n").' >"$HOME/a.out" 2>&1 &
pids+=($!); a=$!
erl -sname clib -noshell -noinput -start_epmd false -eval 'io:format("EP_READY~n").' >"$HOME/b.out" 2>&1 &
pids+=($!); b=$!
wait_for "$HOME/a.out" EP_READY 30 || fail "clia did not boot: $(cat "$HOME/a.out")"
wait_for "$HOME/b.out" EP_READY 30 || fail "clib did not boot: $(cat "$HOME/b.out")"
wait_for "$HOME/srv.err" "registered clib" 5 || fail "server did not log the registration"

check "names" 0 "$CLI" names
echo "$out" | grep -Eq '^name clia at port [0-9]+$' || fail "names lists clia: $out"
echo "$out" | grep -Eq '^name clib at port [0-9]+$' || fail "names lists clib: $out"
# Same lines as the real epmd client prints from our server.
real=$(epmd -port "$PORT" -names 2>&1 | grep '^name ' | sort)
[ "$real" = "$(echo "$out" | sort)" ] || fail "epmd -names says '$real', we say '$out'"
aport=$(echo "$out" | sed -n 's/^name clia at port //p')

check "port" 0 "$CLI" port clia
[ "$out" = "$aport" ] || fail "port clia printed '$out', names said $aport"
check "port NAME@HOST" 0 "$CLI" port "clia@$(hostname -s)"
[ "$out" = "$aport" ] || fail "port clia@host printed '$out'"
check "port NAME@127.0.0.1" 0 "$CLI" port clia@127.0.0.1
check "port unknown node" 1 "$CLI" port nosuch
[[ $err == *"not registered"* ]] && [ "$(echo "$err" | wc -l)" = 1 ] || fail "unknown node reason: $err"
check "names unknown host" 1 "$CLI" names no-such-host.invalid
[ "$(echo "$err" | wc -l)" = 1 ] || fail "unknown host reason: $err"

# The two nodes find each other through our server.
res=$(timeout 30 erl -sname clic -noshell -noinput -start_epmd false \
  -eval "io:format(\"~p\", [rpc:call('clia@$(hostname -s)', net_adm, ping, ['clib@$(hostname -s)'])]), halt().")
[ "$res" = pong ] || fail "ping through our server: $res"

# A node that stops is unregistered.
kill -9 "$a"
wait_for "$HOME/srv.err" "unregistered clia" 10 || fail "clia was not unregistered"
check "port after stop" 1 "$CLI" port clia

# Killing the server is refused while nodes live (as epmd).
r=$(epmd -port "$PORT" -kill 2>&1); [[ $r == *"not allowed"* ]] || fail "epmd -kill with live nodes: $r"

# SIGTERM: clean stop, status 0.
kill -TERM "$srv"
ep_wait_child "$srv" 5; st=$?
[ "$st" = 0 ] || fail "server exit status after SIGTERM: $st ($(cat "$HOME/srv.err"))"
# Nothing listening now: one-line reasons.
check "names without EPMD" 1 "$CLI" names
[[ $err == "erlpeer names: no EPMD listening on localhost port $PORT" ]] || fail "names reason: $err"
check "port without EPMD" 1 "$CLI" port foo
[ "$(echo "$err" | wc -l)" = 1 ] || fail "one-line reason: $err"

# Port already in use: one line, status 1.
start_server srv2 --quiet
srv2=$srvpid; PORT2=$srvport
check "epmd on a busy port" 1 timeout 5 "$CLI" epmd --port "$PORT2"
[ "$(echo "$err" | wc -l)" = 1 ] || fail "busy port reason: $err"
kill -INT "$srv2"; ep_wait_child "$srv2" 5; st=$?
[ "$st" = 0 ] || fail "server exit status after SIGINT: $st"

# --address, `epmd -stop` refused as epmd refuses it, `epmd -kill` on an
# empty server stops it cleanly.
start_server srv3 --address 127.0.0.1
srv3=$srvpid; PORT3=$srvport
r=$(epmd -port "$PORT3" -stop foo 2>&1); [[ $r == *"responded with <>"* ]] || fail "epmd -stop: $r"
r=$(epmd -port "$PORT3" -kill 2>&1); [ "$r" = Killed ] || fail "epmd -kill on an empty server: $r"
ep_wait_child "$srv3" 5; st=$?
[ "$st" = 0 ] || fail "server exit status after KILL: $st"
grep -q "killed by a KILL request" "$HOME/srv3.err" || fail "KILL not logged: $(cat "$HOME/srv3.err")"
check "epmd with a bad address" 1 timeout 5 "$CLI" epmd --port 0 --address not-an-ip
[[ $err == *"not a list of IP addresses"* ]] || fail "bad address reason: $err"

if [ "$fails" -gt 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all CLI checks passed"
