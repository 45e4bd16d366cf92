#!/usr/bin/env bash
# The erlpeer CLI against every OTP release (docs/compat.md): `erlpeer peer`
# over dist, tcp and standard_io with the release's erl (`--exec chroot
# --exec-arg ROOT --exec-arg erl` for 27 and 29), long names, and
# `erlpeer ping` / `erlpeer call` against a node of that release. A release
# whose Debian root is missing is skipped with the reason. Every command is
# bounded by `timeout`; the EP_TEST_TAG trap kills whatever is left; the
# HOME mirrored into a root (for the cookie) is removed on exit.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
ep_world
roots=${EP_ROOTS:-/var/cache/erlpeer/roots}
mirrors=()
cleanup_all() { # processes first: a chroot'd erl could still write into a mirror
  local m
  ep_cleanup
  for m in "${mirrors[@]}"; do rm -rf "$m"; done
}
trap cleanup_all EXIT
ep_start_epmd
host=$(hostname -s)
fails=0; passes=0
check() { # name, expected, actual
  if [ "$2" == "$3" ]; then echo "ok   $1"; passes=$((passes+1)); else echo "FAIL $1: expected [$2] got [$3]"; fails=$((fails+1)); fi
}

# release suite: "25 -" (system erl) or "27 trixie"
for spec in "25 -" "27 trixie" "29 sid"; do
  set -- $spec
  rel=$1 suite=$2 exec=() wrapper=""
  if [ "$suite" != - ]; then
    root="$roots/$suite"
    if [ ! -x "$root/usr/bin/erl" ] || [ "$(id -u)" -ne 0 ]; then
      echo "SKIPPED OTP $rel: root $root missing or not root (scripts/otp-roots.sh creates it)"
      continue
    fi
    mkdir -p "$root$HOME" && cp -p "$HOME/.erlang.cookie" "$root$HOME/" || fail "mirror HOME into $root"
    mirrors+=("$root$EP_TMP")
    exec=(--exec chroot --exec-arg "$root" --exec-arg erl)
    wrapper="$EP_TMP/bin-$suite"
    mkdir -p "$wrapper"
    printf '#!/bin/sh\nexec chroot %s erl "$@"\n' "'$root'" > "$wrapper/erl"
    chmod 700 "$wrapper/erl"
  fi

  for conn in dist tcp stdio; do
    name=(); [ $conn = dist ] && name=(--name "cli${rel}d")
    out=$(timeout 60 "$EP_CLI" peer "${name[@]}" --connection $conn "${exec[@]}" \
          --call 'erlang:system_info(otp_release)' --call "io:format(\"from ~s~n\", [\"$rel\"])" \
          2>"$ERR")
    check "OTP $rel peer $conn release" $'"'$rel$'"\nok' "$out"
    grep -qx "from $rel" "$ERR" && check "OTP $rel peer $conn io relayed" 1 1 || check "OTP $rel peer $conn io relayed" "from $rel" "$(cat "$ERR")"
    timeout 60 "$EP_CLI" peer "${name[@]}" --connection $conn "${exec[@]}" --call 'erlang:error(boom)' >/dev/null 2>"$ERR"
    check "OTP $rel peer $conn exception status" 1 $?
  done
  # long names: the CLI's node takes long names too
  out=$(timeout 60 "$EP_CLI" peer --name "long$rel" --host 127.0.0.1 --longnames "${exec[@]}" \
        --call 'erlang:node()' 2>"$ERR")
  check "OTP $rel peer long names" "'long$rel@127.0.0.1'" "$out"
  # boot failure: exit 2 with the reason
  timeout 60 "$EP_CLI" peer --connection stdio "${exec[@]}" --env ERL_CRASH_DUMP_SECONDS=0 \
    --call 'erlang:node()' -- -boot /nonexistent/boot \
    >/dev/null 2>"$ERR"
  check "OTP $rel boot failure status" 2 $?
  grep -q 'exit_status,1' "$ERR" && check "OTP $rel boot failure reason" 1 1 || check "OTP $rel boot failure reason" "{exit_status,1}" "$(cat "$ERR")"

  # ping and call a node of that release
  ( [ -n "$wrapper" ] && export PATH="$wrapper:$PATH"; ep_start_erl "node$rel" )
  out=$(timeout 60 "$EP_CLI" ping "node$rel@$host" 2>"$ERR")
  check "OTP $rel ping" pong "$out"
  out=$(timeout 60 "$EP_CLI" call "node$rel@$host" erlang system_info '[otp_release]' 2>"$ERR")
  check "OTP $rel call" "\"$rel\"" "$out"
  out=$(timeout 60 "$EP_CLI" call --eval 'lists:sum([1, 2, 3]).' "node$rel@$host" 2>"$ERR")
  check "OTP $rel call --eval" 6 "$out"
  out=$(timeout 60 "$EP_CLI" call "node$rel@$host" --call 'erlang:system_info(otp_release)' \
        --call 'erlang:error(boom)' 2>"$ERR")
  check "OTP $rel call --call status" 3 $?
  check "OTP $rel call --call" "\"$rel\"
exception error:boom" "$out"
done

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
