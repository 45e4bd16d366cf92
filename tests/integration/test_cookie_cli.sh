#!/usr/bin/env bash
# The CLI and a cookie file erl would refuse: exit 2 and one line naming the
# file and the reason, for ping, call and peer; --cookie ignores the file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ep_world

cookie="$HOME/.erlang.cookie"
good=$(cat "$cookie")
ep_start_epmd
ep_start_erl target   # has read the good file already

chmod 644 "$cookie"
expect_rc 2 "$EP_CLI" ping target
expect_err "cookie file $cookie must be accessible by owner only (its mode is 0644"
expect_rc 2 "$EP_CLI" call target erlang node
expect_err "cookie file $cookie must be accessible by owner only"
expect_rc 2 "$EP_CLI" peer --name p1 --eval 'ok.'
expect_err "erlpeer peer: cannot start this program's node: cookie file $cookie must be accessible by owner only"
# --cookie: the file is not even looked at
expect_rc 0 "$EP_CLI" ping --cookie "$good" target
expect_out "pong"

rm -f "$cookie"
printf 'a\tb\n' > "$cookie"
chmod 400 "$cookie"
expect_rc 2 "$EP_CLI" ping target
expect_err "bad characters in cookie file $cookie: byte 0x09 at offset 1"

rm -f "$cookie"
head -c 300 /dev/zero | tr '\0' K > "$cookie"
chmod 400 "$cookie"
expect_rc 2 "$EP_CLI" call target erlang node
expect_err "cookie in $cookie is longer than 255 characters"

# The same good cookie with a trailing newline: erl's reading, a pong.
rm -f "$cookie"
printf '%s\n' "$good" > "$cookie"
chmod 400 "$cookie"
expect_rc 0 "$EP_CLI" ping target
expect_out "pong"

echo "1 passed, 0 failed"
