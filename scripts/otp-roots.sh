#!/usr/bin/env bash
# Creates the Debian roots that give newer OTP releases, when missing:
#   trixie -> OTP 27, sid -> OTP 29, cached in $EP_ROOTS (default
#   /var/cache/erlpeer/roots) and reused by every later run on this machine.
# A peer of that release is then started with the exec wrapper `chroot ROOT erl`
# (tests/support/ep_otproot.h, tests/integration/test_interop.c, docs/compat.md).
# Exit status 0 when every root is usable; 1 when one could not be made (no
# root privileges, no network to the mirror): the tests of that release then
# say so and skip. Two runs at once (parallel builds) wait for each other.
set -uo pipefail
roots=${EP_ROOTS:-/var/cache/erlpeer/roots}
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
mirror=${mirror:-http://deb.debian.org/debian}
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
