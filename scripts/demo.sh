#!/usr/bin/env bash
# demo.sh ERLPEER: the quick start's main job. Starts a real Erlang peer
# node controlled over the distribution connection (this program is a hidden
# node; it serves EPMD itself when no epmd runs), calls it, stops it.
set -euo pipefail
erlpeer=$1
name="demo$$"
echo "== erlpeer peer --name $name: start a peer, call it, stop it (shutdown halt)"
echo "   calls: erlang:node(), erlang:system_info(otp_release), lists:seq(1, 10),"
echo "          and an eval whose io:format output the peer relays back (stderr)"
"$erlpeer" peer --name "$name" --shutdown halt \
  --call 'erlang:node()' \
  --call 'erlang:system_info(otp_release)' \
  --call 'lists:seq(1, 10)' \
  --eval 'io:format("hello from ~s~n", [node()]), {uptime_ms, element(1, erlang:statistics(wall_clock))}.' \
  2> >(sed 's/^/   peer says: /' >&2) | sed 's/^/   result: /'
echo "== stopped: erlpeer exits only once the peer has halted and its connection is gone"
