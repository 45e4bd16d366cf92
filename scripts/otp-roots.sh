#!/usr/bin/env bash
# Creates the Debian roots that give newer OTP releases, when missing:
#   trixie -> OTP 27, sid -> OTP 29, cached in $EP_ROOTS (default
#   /var/cache/erlpeer/roots) and reused by every later run on this machine.
# A peer of that release is then started with the exec wrapper `chroot ROOT erl`
# (tests/support/ep_otproot.h, tests/integration/test_interop.c, docs/compat.md).
# Exit status 0 when every root is usable; 1 when one could not be made (no
# root privileges, no mirror in the apt sources, no network to the mirror):
# the tests of that release then say so and skip. Two runs at once (parallel
# builds) wait for each other.
#
# The mirror is the machine's own, from its apt sources and nowhere else
# (there is no built-in default): the first `deb` entry of a plain suite
# (not -security, -updates, -backports, ...), looked for in
# $EP_APT_DIR/sources.list.d/*.sources (deb822: Types, URIs, Suites,
# Enabled), then in $EP_APT_DIR/sources.list and sources.list.d/*.list
# (`deb [options] URI SUITE COMPONENT...`). EP_APT_DIR defaults to /etc/apt.
#   otp-roots.sh --print-mirror   prints that mirror (exit 1 when none) and
#                                 does nothing else.
set -uo pipefail
roots=${EP_ROOTS:-/var/cache/erlpeer/roots}
apt_dir=${EP_APT_DIR:-/etc/apt}

# Prints the mirror URI, or nothing. A suite with a dash or a slash is a
# pocket (bookworm-security, bookworm/updates), not the archive itself.
apt_mirror() {
  local f
  shopt -s nullglob
  for f in "$apt_dir"/sources.list.d/*.sources; do
    awk '
      function flush() {
        if (uri != "" && deb && enabled && plain) { print uri; found = 1; exit }
        uri = ""; deb = 0; enabled = 1; plain = 0
      }
      BEGIN { enabled = 1 }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1) }
      key == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      key == "uris:" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { uri = $i; break } }
      key == "suites:" { for (i = 2; i <= NF; i++) if ($i !~ /[-\/]/) plain = 1 }
      key == "enabled:" { enabled = (tolower($2) != "no") }
      END { if (!found) flush() }
    ' "$f" | head -n1 | grep . && return 0
  done
  for f in "$apt_dir"/sources.list "$apt_dir"/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '
      { sub(/#.*/, "") }
      $1 != "deb" { next }
      {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        uri = $i; suite = $(i + 1)
        if (uri ~ /^(https?|file):/ && suite != "" && suite !~ /[-\/]/) { print uri; exit }
      }
    ' "$f" | grep . && return 0
  done
  return 1
}

no_mirror() {
  echo "otp-roots: no Debian mirror in the apt sources ($apt_dir/sources.list.d/*.sources URIs:," \
       "$apt_dir/sources.list deb lines): add the machine's mirror there"
}

if [ "${1:-}" = "--print-mirror" ]; then
  apt_mirror || { no_mirror >&2; exit 1; }
  exit 0
fi
mirror=
declare -A want=([trixie]=27 [sid]=29)

release_of() { # the OTP release a root runs, or nothing
  timeout 60 chroot "$1" erl -noshell -noinput \
    -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().' 2>/dev/null
}

mkdir -p "$roots" 2>/dev/null || { echo "otp-roots: cannot create $roots"; exit 1; }
exec 9>"$roots/.lock" || { echo "otp-roots: cannot lock $roots"; exit 1; }
flock 9
rc=0
for suite in trixie sid; do
  dir="$roots/$suite"
  if [ ! -x "$dir/usr/bin/erl" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "otp-roots: need root to create $dir"; rc=1; continue; }
    command -v debootstrap >/dev/null || { echo "otp-roots: debootstrap missing (scripts/setup.sh installs it)"; rc=1; continue; }
    [ -n "$mirror" ] || mirror=$(apt_mirror) || { no_mirror; rc=1; continue; }
    echo "otp-roots: creating $dir (debootstrap $suite + erlang-nox from $mirror, about a minute)"
    tmp="$dir.tmp"; rm -rf "$tmp"
    if timeout 1200 debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$roots/$suite.log" 2>&1 \
       && DEBIAN_FRONTEND=noninteractive timeout 1200 chroot "$tmp" apt-get install -y -qq --no-install-recommends \
            erlang-nox >>"$roots/$suite.log" 2>&1 \
       && chroot "$tmp" apt-get clean >>"$roots/$suite.log" 2>&1; then
      mv "$tmp" "$dir"
    else
      echo "otp-roots: could not create $suite (no network to $mirror? see $roots/$suite.log)"; rm -rf "$tmp"; rc=1
      continue
    fi
  fi
  # Only root may chroot: as another user the root is only checked to exist.
  if [ "$(id -u)" -eq 0 ]; then
    got=$(release_of "$dir")
    if [ "$got" = "${want[$suite]}" ]; then
      echo "otp-roots: $suite gives OTP $got ($dir)"
    else
      # sid moves on: the interop tests will fail on the release check until
      # the table in tests/support/ep_otproot.h and docs/compat.md follow
      echo "otp-roots: $suite gives OTP '${got:-?}', expected ${want[$suite]}:" \
           "update tests/support/ep_otproot.h and docs/compat.md"
      rc=1
    fi
  fi
done
exit $rc
