#!/usr/bin/env bash
# erlpeer ping / call against a real erl: results, and the exit status and
# one-line reason of every failure kind (no epmd, not registered, refused,
# authentication, timeout, exception, syntax).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ep_world

ep_start_epmd
ep_start_erl target
node="target@$(hostname -s)"

# Results: one term per line that erl parses back.
expect_rc 0 "$EP_CLI" ping target
expect_out "pong"
expect_rc 0 "$EP_CLI" call target erlang node
expect_out "$node"
expect_rc 0 "$EP_CLI" call "$node" lists reverse '[[1, "two", <<"three">>, {four}, #{5 => 5.0}]]'
erl_parses_back '[#{5 => 5.0},{four},<<"three">>,"two",1]'
expect_rc 0 "$EP_CLI" call --eval 'lists:sum([X * 2 || X <- [1, 2, 3]]).' target
expect_out "12"

# Exceptions and badrpc: exit 1, the exception on stderr.
expect_rc 1 "$EP_CLI" call target erlang error '[badarg]'
expect_err "exception error:badarg"
expect_rc 1 "$EP_CLI" call target erlang throw '[oops]'
expect_err "exception throw:oops"
expect_rc 1 "$EP_CLI" call --timeout 300 target timer sleep '[5000]'
expect_err "timed out"
expect_rc 1 "$EP_CLI" call --eval 'X = .' target
expect_err "parse error at line 1"
expect_rc 2 "$EP_CLI" call target erlang node '[1,'
expect_err "syntax error at line 1"
expect_rc 0 "$EP_CLI" call --net-ticktime 7 target erlang node
expect_rc 0 "$EP_CLI" call --net-ticktime=7 target erlang node
expect_rc 2 "$EP_CLI" call --net-ticktime 0 target erlang node
expect_err "--net-ticktime takes whole seconds"

# Several --call steps: one request, one line per step in order, a step's
# exception on its own line (exit 3), the stack trace on stderr.
expect_rc 0 "$EP_CLI" call target --call 'erlang:node()' --call 'lists:seq(1, 3).' --call='erlang:self()' \
  --call 'erlang:self()'
[ "$(sed -n 1p "$OUT")" = "$node" ] && [ "$(sed -n 2p "$OUT")" = "[1,2,3]" ] && [ "$(wc -l < "$OUT")" -eq 4 ] \
  || fail "--call results: $(cat "$OUT")"
# the same process ran both self() steps
[ "$(sed -n 3p "$OUT")" = "$(sed -n 4p "$OUT")" ] || fail "--call steps ran in two processes: $(cat "$OUT")"
expect_rc 3 "$EP_CLI" call "$node" --call 'erlang:node()' --call 'erlang:error(badarg)' \
  --call "erlang:throw({oops, \"x\"})" --call 'erlang:exit(gone)' --call 'erlang:binary_to_term(<<>>)' \
  --call 'lists:reverse([1, 2])'
[ "$(cat "$OUT")" = "$node
exception error:badarg
exception throw:{oops,\"x\"}
exception exit:gone
exception error:badarg
[2,1]" ] || fail "--call exceptions: $(cat "$OUT")"
expect_err "--call 5 (erlang:binary_to_term) stacktrace: [{erlang,binary_to_term,[<<>>]"
# nothing loaded on the node by a poll
before=$("$EP_CLI" call target erlang length '[[]]' >/dev/null; "$EP_CLI" call target code all_loaded | tr ',' '\n' | grep -c beam)
expect_rc 0 "$EP_CLI" call target --call 'erlang:memory(total)' --call 'erlang:statistics(run_queue)' \
  --call 'erlang:module_loaded(erl_eval)'
after=$("$EP_CLI" call target code all_loaded | tr ',' '\n' | grep -c beam)
[ "$before" = "$after" ] || fail "a --call poll changed the loaded modules: $before then $after"
# the whole request's timeout: exit 1, nothing on stdout
expect_rc 1 "$EP_CLI" call --timeout 300 target --call 'erlang:node()' --call 'timer:sleep(5000)'
expect_err "timed out"
[ ! -s "$OUT" ] || fail "a timed-out --call request printed: $(cat "$OUT")"
# usage
expect_rc 2 "$EP_CLI" call target --call 'erlang:node'
expect_err "--call 'erlang:node': not Mod:Fun(Arg, ...)"
expect_rc 2 "$EP_CLI" call target erlang node --call 'erlang:node()'
expect_rc 2 "$EP_CLI" call --eval 'node().' target --call 'erlang:node()'
expect_rc 2 "$EP_CLI" call target --call

# Connection failures: exit 2, the cause named.
expect_rc 1 "$EP_CLI" ping nosuch
expect_out "pang"
expect_rc 2 "$EP_CLI" call nosuch erlang node
expect_err "not registered"
expect_rc 2 "$EP_CLI" call --cookie wrong target erlang node
expect_err "authentication failed"
ERL_EPMD_PORT=$(ep_free_port) expect_rc 2 "$EP_CLI" call target erlang node
expect_err "no epmd"

# Refused: a name registered in epmd with a port where nobody listens.
dead=$(ep_free_port)
exec 3<>"/dev/tcp/127.0.0.1/$EP_EPMD_PORT"
# ALIVE2_REQ: len 18, 120, port, 77 normal, 0 tcp, 6, 6, namelen 5, "ghost", extralen 0
printf "\x00\x12\x78\\x$(printf %02x $((dead >> 8)))\\x$(printf %02x $((dead & 255)))\x4d\x00\x00\x06\x00\x06\x00\x05ghost\x00\x00" >&3
head -c 6 <&3 >/dev/null   # ALIVE2_X_RESP: registered while fd 3 stays open
expect_rc 2 "$EP_CLI" call ghost erlang node
expect_err "connection refused"
exec 3>&-

# Timeout: a node that accepts the connection but never answers.
ep_start_erl frozen
kill -STOP "$(ep_pid_of frozen)"
t0=$SECONDS
expect_rc 2 "$EP_CLI" call --timeout 500 frozen erlang node
expect_err "timed out"
# --timeout bounds the connection setup too (it used to take the 30 s
# handshake limit): generous, so that a loaded machine does not fail it.
(( SECONDS - t0 < 10 )) || fail "call --timeout 500 to a frozen node took $((SECONDS - t0)) s"
kill -CONT "$(ep_pid_of frozen)"

echo "1 passed, 0 failed"
