#!/usr/bin/env bash
# demo.sh ERLPEER: what the quick start shows.
set -euo pipefail
erlpeer=$1
echo "== a term round trip through a real erl"
echo '{call, lists, seq, [1, 10]}.' | "$erlpeer" term encode --hex
echo '{call, lists, seq, [1, 10]}.' | "$erlpeer" term encode \
  | erl -noshell -noinput -eval '{ok, B} = file:read(standard_io, 1000000),
      io:format("erl decoded: ~p~n", [binary_to_term(list_to_binary(B))]), halt().'
