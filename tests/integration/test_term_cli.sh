#!/usr/bin/env bash
# erlpeer term decode/encode against a real (non-distributed) erl: encodings
# binary_to_term back to the terms erl consults from the same text; our
# printed terms file:consult back to what erl encoded; hex and compressed
# forms; error messages and exit codes. Every erl is bounded by timeout.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
ep_world   # temporary HOME, tag for the cleanup trap (no node is started)
cli=$EP_CLI
work=$EP_TMP
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }   # count, report at the end
ok() { echo "ok: $*"; }
erl_eval() { timeout 60 erl -noshell -noinput -eval "$1"; }

# --- help and usage ------------------------------------------------------------
help=$("$cli" term --help)
grep -q 'erlpeer term decode' <<<"$help" && grep -q 'erlpeer term encode' <<<"$help" \
  && grep -q -- '--compressed' <<<"$help" && ok "help documents both actions" || fail "help text"
set +e
"$cli" term frobnicate </dev/null >/dev/null 2>"$work/err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "unknown action" "$work/err" && ok "unknown action exits 2" || fail "unknown action rc=$rc"
set +e
"$cli" term encode --compressed=12 </dev/null >/dev/null 2>"$work/err"; rc=$?
set -e
[ "$rc" = 2 ] && ok "bad level exits 2" || fail "bad level rc=$rc"

# --- encode: our encodings are erl's terms ---------------------------------------------
cat >"$work/terms.txt" <<'TERMS'
%% a comment line
{call, lists, seq, [1, 10]}.
'hello world'. ok. [].
"αβγ". <<"é"/utf8>>. <<1,2,3:5>>.
#{a => 1, "k" => [v | w]}.
123456789012345678901234567890. -16#FF. $\x{1F600}.
1.0e23. -0.0. 5.0e-324.
fun lists:seq/2.
[a|[b|[c|d]]]. {}. <<>>. 'and'.
TERMS
check_encoding() { # $1 = file of encodings, $2 = label
  out=$(erl_eval "{ok, Want} = file:consult(\"$work/terms.txt\"),
    {ok, Bin} = file:read_file(\"$1\"),
    Split = fun S(<<>>, Acc) -> lists:reverse(Acc);
                S(B, Acc) -> {T, N} = binary_to_term(B, [used]),
                             <<_:N/binary, Rest/binary>> = B, S(Rest, [T | Acc]) end,
    Got = Split(Bin, []),
    case Got =:= Want of true -> io:format(\"same ~p~n\", [length(Got)]);
                         false -> io:format(\"differ ~p~n~p~n\", [Got, Want]) end, halt().")
  [ "$out" = "same 19" ] && ok "$2" || fail "$2: $out"
}
"$cli" term encode <"$work/terms.txt" >"$work/enc.bin"
check_encoding "$work/enc.bin" "encode: erl binary_to_term's every term back"
"$cli" term encode --compressed <"$work/terms.txt" >"$work/encz.bin"
check_encoding "$work/encz.bin" "encode --compressed: erl reads it"
{ printf '"'; head -c 5000 /dev/zero | tr '\0' a; printf '".\n'; } | "$cli" term encode --compressed=9 >"$work/z.bin"
[ "$(head -c 2 "$work/z.bin" | od -An -tu1 | tr -s ' ')" = " 131 80" ] && [ "$(wc -c <"$work/z.bin")" -lt 200 ] \
  && ok "a compressible term is written as 131 80 ..." || fail "compressed header"
"$cli" term encode --compressed=0 <"$work/terms.txt" >/dev/null && ok "--compressed=0 accepted" || fail "level 0"

# --hex: one line per term, exactly erl's term_to_binary in hex (UTF-8 atom
# tags, as OTP 26+ writes by default and OTP 25 with {minor_version, 2})
"$cli" term encode --hex <"$work/terms.txt" >"$work/enc.hex"
want=$(erl_eval "{ok, Ts} = file:consult(\"$work/terms.txt\"),
  [io:format(\"~s~n\", [string:lowercase(binary:encode_hex(term_to_binary(T, [{minor_version, 2}])))])
   || T <- Ts], halt().")
[ "$want" = "$(cat "$work/enc.hex")" ] && ok "encode --hex is erl's term_to_binary byte for byte" \
  || fail "encode --hex differs from erl"

# --- decode: our text is erl's terms -------------------------------------------------
erl_eval "Ts = [{call, lists, seq, [1, 10]}, 'Ärger', <<\"é\"/utf8>>, <<0,255>>, <<5:3>>,
    [1|2], \"αβ\", #{[] => {}}, 1 bsl 100, -0.0, 0.1, fun erlang:'+'/2, 'maybe', [300, 7]],
  ok = file:write_file(\"$work/orig.etf\", term_to_binary(Ts)),
  ok = file:write_file(\"$work/each.bin\", [term_to_binary(T) || T <- Ts]), halt()."
"$cli" term decode <"$work/each.bin" >"$work/dec.txt"
out=$(erl_eval "{ok, B} = file:read_file(\"$work/orig.etf\"), Want = binary_to_term(B),
  {ok, Got} = file:consult(\"$work/dec.txt\"),
  io:format(\"~p~n\", [Got =:= Want]), halt().")
[ "$out" = true ] && ok "decode: erl consults our text back =:=" || fail "decode consult: $out"

od -An -tx1 -v "$work/each.bin" >"$work/each.hex"   # spaced, multi-line hex
"$cli" term decode --hex <"$work/each.hex" >"$work/dech.txt"
cmp -s "$work/dec.txt" "$work/dech.txt" && ok "decode --hex ignores white space" || fail "decode --hex"

# --- errors: what came before, then the fault, exit 1 ------------------------------------
printf '\x83\x64\x00\x01a\x83\x6b\x00' >"$work/trunc.bin"
set +e
"$cli" term decode <"$work/trunc.bin" >"$work/out" 2>"$work/err"; rc=$?
set -e
[ "$rc" = 1 ] && [ "$(cat "$work/out")" = "a." ] && grep -q "byte offset 5" "$work/err" \
  && ok "truncated input: earlier terms, offset, exit 1" || fail "truncated: rc=$rc $(cat "$work/err")"
printf '\x83\x64\x00\x01a\x83\xff' >"$work/bad.bin"
set +e
"$cli" term decode <"$work/bad.bin" >"$work/out" 2>"$work/err"; rc=$?
set -e
[ "$rc" = 1 ] && [ "$(cat "$work/out")" = "a." ] && grep -q "byte offset 6" "$work/err" \
  && ok "malformed input: offset of the bad byte, exit 1" || fail "malformed: rc=$rc $(cat "$work/err")"
set +e
echo "83 6g" | "$cli" term decode --hex >/dev/null 2>"$work/err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "invalid hex" "$work/err" && ok "bad hex exits 1" || fail "bad hex rc=$rc"
set +e
printf 'ok.\n{a,\n   b c}.\n' | "$cli" term encode >"$work/out" 2>"$work/err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "line 3, column 6" "$work/err" && [ "$(od -An -tu1 "$work/out" | tr -s ' ')" = " 131 119 2 111 107" ] \
  && ok "syntax error: line and column, earlier terms written, exit 1" || fail "syntax error: rc=$rc $(cat "$work/err")"
set +e
printf '{a, b}' | "$cli" term encode >/dev/null 2>"$work/err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "ends with '.'" "$work/err" && ok "missing dot explained" || fail "missing dot rc=$rc"
"$cli" term decode </dev/null >"$work/out" && [ ! -s "$work/out" ] && ok "empty input, empty output" || fail "empty"

# --- the quick-start example ------------------------------------------------------------------
[ "$(echo '{call, lists, seq, [1, 10]}.' | "$cli" term encode --hex)" = \
  "836804770463616c6c77056c6973747377037365716b0002010a" ] && ok "quick-start encode" || fail "quick-start encode"

[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all term CLI checks passed"
