#!/usr/bin/env bash
# erlpeer peer and erlpeer session with dist-controlled peers, against real
# erl and a private EPMD. Every command is bounded by `timeout`; the
# EP_TEST_TAG sweep in lib.sh's EXIT trap kills whatever is left.
set -u
. "$(dirname "$0")/lib.sh"
ep_world
ep_start_epmd
CLI=$EP_CLI
host=$(hostname -s)
passed=0
ok() { echo "ok   $1"; passed=$((passed+1)); }

# results on stdout one term per line, relayed output on stderr, exit 0
expect_rc 0 "$CLI" peer --name pd1 --call 'erlang:node()' --call 'lists:seq(1, 3)' \
  --call 'io:format(user, "U~n", [])' --call 'erlang:apply(io, format, ["second~n"])' --eval 'X = 6, X * 7.'
[ "$(cat "$OUT")" = "pd1@$host
[1,2,3]
ok
ok
42" ] || fail "peer dist results"
expect_err "U"
expect_err "second"
ok "peer dist results on stdout, output on stderr"

# -eval output at boot is relayed too. The peer answers calls before init
# has run the -eval (peer starts earlier, as -user), so the call waits for
# the -eval's end: told by a message, or by a mark when the -eval ended
# first (each side looks for the other after showing itself).
expect_rc 0 "$CLI" peer --name pd2 \
  --eval 'register(ep_waiter, self()), persistent_term:get(ep_booted, false) orelse receive booted -> true after 10000 -> false end.' \
  -- -eval 'io:format("booted~n"), persistent_term:put(ep_booted, true), catch ep_waiter ! booted.'
expect_out true
expect_err "booted"
ok "peer dist -eval output"

# an exception: exit 1
expect_rc 1 "$CLI" peer --name pd3 --call 'erlang:error(boom)'
expect_err "error: boom"
ok "peer dist exception exit 1"

# every shutdown mode, each well within its bound
for sd in close halt halt:2000 2000 infinity; do
  t0=$(date +%s%N)
  expect_rc 0 "$CLI" peer --name "pdsd" --shutdown "$sd" --call 'erlang:abs(-1)'
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  expect_out 1
  [ "$ms" -lt 8000 ] || fail "shutdown $sd took $ms ms"
  ok "peer dist --shutdown $sd (${ms} ms)"
done

# --exec wrapper (the ssh stand-in), --env, erl args after --
expect_rc 0 "$CLI" peer --name pd4 --exec /bin/sh --exec-arg -c --exec-arg 'exec erl "$@"' --exec-arg sh \
  --env EP_X=42 --call 'os:getenv("EP_X")' --call 'init:get_argument(ep_flag)' -- -ep_flag v
[ "$(cat "$OUT")" = '"42"
{ok,[["v"]]}' ] || fail "exec/env/args"
ok "peer dist --exec --env -- ERL_ARGS"

# boot failure: exit 2, with the exit status, and fast for a name in use
expect_rc 2 "$CLI" peer --name pd5 --call 'erlang:node()' -- -no_epmd
expect_err "exit_status,1"
ok "peer dist boot failure exit 2"
ep_start_erl pdtaken
t0=$(date +%s%N)
expect_rc 2 "$CLI" peer --name pdtaken --call 'erlang:node()'
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 5000 ] || fail "a name in use took $ms ms to fail"
ok "peer dist name in use fails in ${ms} ms"

# session with several dist peers, driven line by line (a coprocess):
# after c is told to halt, the session is asked for c's state only once it
# printed {down,c,...}: the event, not a pause.
coproc SESSION { timeout 120 "$CLI" session 2>"$ERR"; }
sin=${SESSION[1]} sout=${SESSION[0]} spid=$SESSION_PID   # bash unsets these when it ends
send() { printf '%s\n' "$@" >&"$sin"; }
# Copies the session's lines into $OUT until one holds $1 (or, without $1,
# until its end); 60 s at most between two lines.
read_until() {
  local line
  while IFS= read -r -t 60 line <&"$sout"; do
    printf '%s\n' "$line" >> "$OUT"
    [ -n "${1:-}" ] && [[ $line == *"$1"* ]] && return 0
  done
  [ -z "${1:-}" ]
}
: > "$OUT"
send \
  '{start, a, #{name => "sa"}}.' \
  '{start, b, #{name => "sb", args => ["-ep_a", "1"], shutdown => close}}.' \
  '{start, c, #{name => "sc", peer_down => continue}}.' \
  '{start, d, #{name => "sa"}}.' \
  '{call, a, erlang, node, []}.' \
  '{call, b, init, get_argument, [ep_a]}.' \
  '{call, a, erlang, throw, [oops]}.' \
  '{call, a, io, format, ["hello ~p~n", [a]]}.' \
  '{call, a, timer, sleep, [2000], 100}.' \
  'not a term(' \
  '{cast, b, application, set_env, [kernel, ep, 1]}.' \
  '{call, b, sys, get_state, [application_controller]}.' \
  '{call, b, application, get_env, [kernel, ep]}.' \
  '{send, a, nobody_registered, hi}.' \
  '{state, c}.' \
  '{cast, c, erlang, halt, []}.'
read_until '{down,c,' || fail "session: no down line for c"
ok "session down line"
send '{state, c}.' '{stop, a}.' '{state, a}.'
exec {sin}>&-   # end of input: the session stops every peer, then exits
read_until || fail "session: no end of output"
wait "$spid" || fail "session exit status $?"
expect_line() { grep -qxF -- "$1" "$OUT" || fail "session: missing line $1"; ok "session $1"; }
expect_line "{ok,a,sa@$host}."
expect_line "{ok,b,sb@$host}."
expect_line "{ok,c,sc@$host}."
expect_line "{ok,a,sa@$host}."
grep -qF '{error,d,{boot_failed,{exit_status,1}}}.' "$OUT" || fail "session: duplicate name"
ok "session duplicate name"
expect_line '{ok,b,{ok,[["1"]]}}.'
expect_line '{error,a,{throw,oops}}.'
expect_line '{output,a,<<"hello a\n">>}.'
expect_line '{error,a,{exit,timeout}}.'
grep -qF '{error,badarg,' "$OUT" || fail "session: malformed line"
ok "session malformed line"
expect_line '{ok,b}.'
expect_line '{ok,b,{ok,1}}.'
expect_line '{ok,a}.'
expect_line '{state,c,running}.'
grep -qF '{state,c,{down,' "$OUT" || fail "session: c not down"
expect_line '{stopped,a}.'
# EOF stops every peer: none of sa / sb / sc is left. close shuts sb down
# without waiting for it: wait for EPMD's word that it is gone (its log's
# "unregistering 'sb:..."), then ask EPMD.
for n in sa sb sc; do
  if epmd -port "$EP_EPMD_PORT" -names 2>/dev/null | grep -q "^name $n "; then
    ep_wait_for "$EP_EPMD_LOG" "unregistering '$n:" 10
    epmd -port "$EP_EPMD_PORT" -names | grep -q "^name $n " && fail "$n still registered after EOF"
  fi
done
ok "session EOF stops all"
# --origin names our node: the peer dials that name (long, an address).
expect_rc 0 "$CLI" peer --name po --host 127.0.0.1 --longnames --origin ctlo@127.0.0.1 --net-ticktime 5 \
  --call 'erlang:nodes(hidden)' -- -kernel net_ticktime 5
expect_out "['ctlo@127.0.0.1']"
ok "peer --origin names this program's node"
expect_rc 2 "$CLI" peer --name po --host 127.0.0.1 --origin ctlo@127.0.0.1
expect_err "has a long name (a dot in the host): add --longnames"
expect_rc 2 "$CLI" peer --connection stdio --origin ctlo@127.0.0.1
expect_err "only --connection dist uses"
expect_rc 2 "$CLI" peer --name po --origin nohost
expect_rc 2 "$CLI" peer --name po --net-ticktime 0
expect_err "bad value for --net-ticktime"
ok "peer --origin and --net-ticktime bad values: exit 2"
printf '%s\n' '{start, o, #{name => "so", host => "127.0.0.1", longnames => true}}.' \
  '{call, o, erlang, nodes, [hidden]}.' >"$EP_TMP/origin.in"
expect_rc 0 "$CLI" session --origin cso@127.0.0.1 --net-ticktime 5 <"$EP_TMP/origin.in"
expect_out "{ok,o,'so@127.0.0.1'}."
expect_out "{ok,o,['cso@127.0.0.1']}."
ok "session --origin names this program's node"
expect_rc 2 "$CLI" session --net-ticktime soon </dev/null
expect_err "--net-ticktime wants whole seconds"
expect_rc 2 "$CLI" session --origin </dev/null
ok "session bad --origin / --net-ticktime: exit 2"
echo "$passed passed, 0 failed"
