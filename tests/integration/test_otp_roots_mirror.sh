#!/usr/bin/env bash
# scripts/otp-roots.sh takes its mirror from the apt sources only (deb822
# .sources and legacy .list lines), never from a built-in host, and says so
# when there is none. Run against fake apt folders (EP_APT_DIR): nothing is
# downloaded, nothing debootstrapped.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
script="$here/scripts/otp-roots.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

# No host name, nor any URI, written into the script itself.
if grep -nE '[a-z]+://|\.(org|com|net|io)\b' "$script"; then fail "the script names a host"; fi

case_dir() { local d; d=$(mktemp -d -p "$tmp" apt.XXXXXX); mkdir -p "$d/sources.list.d"; echo "$d"; }
expect_mirror() { # DIR WANT
  local got
  got=$(EP_APT_DIR="$1" bash "$script" --print-mirror 2>"$tmp/err") || fail "no mirror found in $1: $(cat "$tmp/err")"
  [ "$got" = "$2" ] || fail "mirror of $1 is '$got', wanted '$2'"
}
expect_none() { # DIR
  local rc=0
  EP_APT_DIR="$1" bash "$script" --print-mirror >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" = 1 ] || fail "exit $rc with no mirror in $1 (stdout: $(cat "$tmp/out"))"
  [ ! -s "$tmp/out" ] || fail "printed a mirror with none in $1: $(cat "$tmp/out")"
  grep -q "no Debian mirror in the apt sources" "$tmp/err" || fail "no clear message: $(cat "$tmp/err")"
}

# deb822: the security stanza first, a disabled one, a deb-src one; the
# archive's stanza wins, with its first http URI.
d=$(case_dir)
cat > "$d/sources.list.d/debian.sources" <<'S'
Types: deb
URIs: http://mirror-sec.example/debian-security
Suites: bookworm-security
Components: main

# a comment
Types: deb
URIs: http://mirror-off.example/debian
Suites: bookworm
Enabled: no

Types: deb-src
URIs: http://mirror-src.example/debian
Suites: bookworm

types: deb
uris: mirror+file:/etc/apt/mirrors.txt http://mirror-a.example/debian
suites: bookworm bookworm-updates
components: main
S
expect_mirror "$d" "http://mirror-a.example/debian"

# deb822 stanza at the end of the file without a trailing blank line
d=$(case_dir)
printf 'Types: deb\nURIs: https://mirror-b.example/debian/\nSuites: trixie' > "$d/sources.list.d/x.sources"
expect_mirror "$d" "https://mirror-b.example/debian/"

# legacy sources.list: comments, deb-src, options, a security line first
d=$(case_dir)
cat > "$d/sources.list" <<'S'
# deb http://commented.example/debian bookworm main
deb-src http://mirror-src.example/debian bookworm main
deb http://mirror-sec.example/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror-c.example/debian bookworm main
S
expect_mirror "$d" "http://mirror-c.example/debian"

# legacy line with spaced options, in sources.list.d/*.list
d=$(case_dir)
echo 'deb [ arch=amd64 ] http://mirror-d.example/debian sid main' > "$d/sources.list.d/d.list"
expect_mirror "$d" "http://mirror-d.example/debian"

# nothing usable: empty, only security, only disabled, only deb-src
expect_none "$(case_dir)"
expect_none "$tmp/does-not-exist"
d=$(case_dir)
printf 'Types: deb\nURIs: http://mirror-sec.example/s\nSuites: bookworm-security\n' > "$d/sources.list.d/s.sources"
echo 'deb http://mirror-sec.example/s bookworm/updates main' > "$d/sources.list"
printf 'Types: deb\nURIs: http://mirror-off.example/debian\nSuites: bookworm\nEnabled: no\n' > "$d/sources.list.d/t.sources"
echo 'deb-src http://mirror-src.example/debian bookworm main' > "$d/sources.list.d/u.list"
expect_none "$d"

# The whole script with roots to make and no mirror: the message, exit 1,
# and no debootstrap started (it stops before, where root and debootstrap
# would let it go on).
if [ "$(id -u)" -eq 0 ] && command -v debootstrap >/dev/null; then
  rc=0
  EP_ROOTS="$tmp/roots" EP_APT_DIR="$(case_dir)" bash "$script" >"$tmp/out" 2>&1 || rc=$?
  [ "$rc" = 1 ] || fail "otp-roots.sh without a mirror exited $rc: $(cat "$tmp/out")"
  [ "$(grep -c 'no Debian mirror in the apt sources' "$tmp/out")" = 2 ] || fail "message: $(cat "$tmp/out")"
  ! grep -q "creating" "$tmp/out" || fail "it went on to debootstrap: $(cat "$tmp/out")"
  [ -z "$(ls "$tmp/roots")" ] || fail "it left $(ls "$tmp/roots") in the roots"
else
  echo "SKIPPED the whole-script case: needs root and debootstrap"
fi

echo "1 passed, 0 failed"
