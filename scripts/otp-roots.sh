#!/usr/bin/env bash
# Creates the Debian roots that give newer OTP releases, when missing:
#   trixie -> OTP 27, sid -> OTP 29, cached in $EP_ROOTS (default
#   /var/cache/erlpeer/roots) and reused by every later run on this machine.
# A peer of that release is then started with the exec wrapper `chroot ROOT erl`.
set -uo pipefail
roots=${EP_ROOTS:-/var/cache/erlpeer/roots}
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$roots"
rc=0
for suite in trixie sid; do
  if [ -x "$roots/$suite/usr/bin/erl" ]; then continue; fi
  [ "$(id -u)" -eq 0 ] || { echo "otp-roots: need root to create $roots/$suite"; rc=1; continue; }
  echo "otp-roots: creating $roots/$suite (debootstrap + erlang-nox)"
  tmp="$roots/$suite.tmp"; rm -rf "$tmp"
  if debootstrap --variant=minbase "$suite" "$tmp" "$mirror" >"$roots/$suite.log" 2>&1 \
     && chroot "$tmp" apt-get install -y -qq erlang-nox >>"$roots/$suite.log" 2>&1; then
    mv "$tmp" "$roots/$suite"
  else
    echo "otp-roots: could not create $suite (see $roots/$suite.log)"; rm -rf "$tmp"; rc=1
  fi
done
exit $rc
