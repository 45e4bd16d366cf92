#!/usr/bin/env bash
# erlpeer peer and erlpeer session against real erl, over standard_io and TCP.
# Every command is bounded by `timeout`; peers are children of the CLI or
# halt when its connection closes; the EP_TEST_TAG sweep catches the rest.
set -u
CLI=${EP_CLI:?EP_CLI must point at the erlpeer binary}
# lib.sh's world: a free EPMD port for the named peers (their epmd is killed
# by tag at the end), HOME and the stderr captures in the run's folder.
. "$(dirname "$0")/lib.sh"
ep_world
fails=0
check() { # name, expected, actual
  if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected [$2] got [$3]"; fails=$((fails+1)); fi
}

# --help is complete
"$CLI" peer --help | grep -q -- '--connection' && echo "ok   peer --help" || { echo "FAIL peer --help"; fails=$((fails+1)); }
"$CLI" session --help | grep -q -- '{start, Id' && echo "ok   session --help" || { echo "FAIL session --help"; fails=$((fails+1)); }

# numbers are numbers: "5s", "abc", "-1" and values past 32 bits are refused
# before anything starts (exit 2, one line), not read as 5, 0 or a wrap
for bad in "--wait-boot 5s" "--wait-boot -1" "--timeout abc" "--timeout 4294967296" "--shutdown -1" "--shutdown halt:1x"; do
  # shellcheck disable=SC2086
  timeout 30 "$CLI" peer --connection stdio $bad --call 'erlang:node()' >/dev/null 2>"$ERR"
  st=$?
  if [ $st -eq 2 ] && grep -q "bad value for ${bad%% *}" "$ERR"; then echo "ok   peer refuses $bad"
  else echo "FAIL peer $bad: status $st, $(cat "$ERR")"; fails=$((fails+1)); fi
done

for conn in stdio tcp tcp:127.0.0.1:0; do
  out=$(timeout 60 "$CLI" peer --connection $conn --call 'erlang:node()' --call 'lists:seq(1, 3)' \
        --eval 'X = 6, X * 7.' 2>"$ERR")
  check "peer $conn results" $'nonode@nohost\n[1,2,3]\n42' "$out"
  # relayed output goes to stderr, results to stdout
  out=$(timeout 60 "$CLI" peer --connection $conn --call 'io:format("hi ~p~n", [there])' 2>"$ERR")
  check "peer $conn io result" "ok" "$out"
  check "peer $conn io relayed" "hi there" "$(cat "$ERR")"
  # an exception: exit 1, printed on stderr
  timeout 60 "$CLI" peer --connection $conn --call 'erlang:error(boom)' >/dev/null 2>"$ERR"
  check "peer $conn exception status" 1 $?
  grep -q 'error: boom' "$ERR" && echo "ok   peer $conn exception text" || { echo "FAIL peer $conn exception text"; fails=$((fails+1)); }
  # every shutdown mode: stdout holds the result only (a stop forced past its
  # timeout under load warns on stderr, which is not a failure here)
  for sd in close halt halt:2000 2000 infinity; do
    out=$(timeout 60 "$CLI" peer --connection $conn --shutdown $sd --call 'erlang:abs(-1)' 2>/dev/null)
    check "peer $conn shutdown $sd" 1 "$out"
  done
done

# boot failure: exit 2 with a one-line reason
timeout 60 "$CLI" peer --connection stdio --exec /bin/sh --exec-arg -c --exec-arg 'exit 5' --exec-arg sh \
  --call 'erlang:node()' >/dev/null 2>"$ERR"
check "peer boot failure status" 2 $?
grep -q 'exit_status,5' "$ERR" && echo "ok   peer boot failure reason" || { echo "FAIL peer boot failure reason: $(cat "$ERR")"; fails=$((fails+1)); }
# dist with no EPMD running: erlpeer serves EPMD itself, and leaves none behind
out=$(timeout 60 "$CLI" peer --name x --call 'erlang:node()' 2>"$ERR")
check "peer dist without epmd" 0 $?
case "$out" in x@*) echo "ok   peer dist node name";; *) echo "FAIL peer dist node name: $out"; fails=$((fails+1));; esac
if grep -lz "EP_TEST_TAG=$EP_TEST_TAG" /proc/[0-9]*/environ 2>/dev/null | grep -v "/proc/$$/" | \
   xargs -r -n1 dirname | xargs -r -I{} cat {}/comm 2>/dev/null | grep -qx epmd; then
  echo "FAIL peer dist left an epmd"; fails=$((fails+1))
else
  echo "ok   peer dist left no epmd"
fi
# args after -- and env
out=$(timeout 60 "$CLI" peer --connection stdio --env EP_X=42 --call 'os:getenv("EP_X")' \
      --call 'init:get_argument(ep_flag)' -- -ep_flag v 2>/dev/null)
check "peer env and erl args" $'"42"\n{ok,[["v"]]}' "$out"

# a named peer over standard_io: distributed too, with the cookie given
# (passed in the environment, never on the command line)
out=$(timeout 60 "$CLI" peer --name cli_named --connection stdio --cookie sesame \
      --call 'erlang:get_cookie()' --call 'erlang:is_alive()' \
      --eval '[A || A <- init:get_plain_arguments() ++ [X || {_, X} <- init:get_arguments()], lists:member("sesame", A)].' 2>&1)
check "peer named with cookie" $'sesame\ntrue\n[]' "$out"

# session
out=$(printf '%s\n' \
  '{start, s1, #{connection => standard_io, shutdown => close}}.' \
  '{start, t1, #{connection => 0}}.' \
  '{start, t2, #{connection => {{127,0,0,1}, 0}, args => ["-ep_a", "1"]}}.' \
  '{call, s1, erlang, node, []}.' \
  '{call, t2, init, get_argument, [ep_a]}.' \
  '{call, t1, erlang, throw, [oops]}.' \
  '{call, s1, timer, sleep, [2000], 100}.' \
  'not a term(' \
  '{cast, t1, erlang, abs, [-1]}.' \
  '{send, t1, user, {message, ctl, pong}}.' \
  '{state, t1}.' \
  '{call, t1, erlang, halt, []}.' \
  '{state, t1}.' \
  '{stop, s1}.' \
  '{start, b1, #{connection => standard_io, exec => {"/bin/sh", ["-c", "exit 3", "sh"]}}}.' \
  '{start, w1, #{connection => 4294967376}}.' \
  '{start, w2, #{connection => {{127,0,0,257}, 0}}}.' \
  | timeout 90 "$CLI" session 2>&1)
echo "$out"
expect() { grep -qF -- "$1" <<<"$out" && echo "ok   session $1" || { echo "FAIL session: missing $1"; fails=$((fails+1)); }; }
expect '{ok,s1,nonode@nohost}.'
expect '{ok,t1,nonode@nohost}.'
expect '{ok,t2,nonode@nohost}.'
expect '{ok,s1,nonode@nohost}.'
expect '{ok,t2,{ok,[["1"]]}}.'
expect '{error,t1,{throw,oops}}.'
expect '{error,s1,{exit,timeout}}.'
expect '{error,badarg,'
expect '{ok,t1}.'
expect '{message,t1,ctl,pong}.'
expect '{state,t1,running}.'
expect '{error,t1,{exit,noconnection}}.'
expect '{state,t1,{down,tcp_closed}}.'
expect '{down,t1,tcp_closed}.'
expect '{stopped,s1}.'
expect '{error,b1,{boot_failed,{exit_status,3}}}.'
# out-of-range ports and addresses are refused, not narrowed (4294967376 is not 80)
[ "$(grep -cF -- '<<"connection: 0 | Port | {IP, Port} | standard_io | dist">>' <<<"$out")" -eq 2 ] \
  && echo "ok   session refuses out-of-range connections" \
  || { echo "FAIL session: out-of-range connections"; fails=$((fails+1)); }
[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all passed"
