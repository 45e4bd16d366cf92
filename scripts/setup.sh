#!/usr/bin/env bash
# Installs what erlpeer needs on Debian 12 (root) when it is missing; idempotent.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git ca-certificates
      libssl-dev libuv1-dev check zlib1g-dev
      erlang-nox erlang-dev erlang-src
      clang libclang-rt-14-dev debootstrap locales lcov)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# A comma-decimal locale for tests/unit/test_locale.c, which proves that float
# text stays '.'-separated when the program linking erlpeer calls
# setlocale(LC_ALL, ""). Fresh Debian images ship only C and C.UTF-8; the
# definitions come from the locales package above. (locale -a is read into a
# variable first: grep -q quitting early must not trip pipefail.)
has_de_locale() { local all; all=$(locale -a 2>/dev/null || true); grep -qix 'de_DE\.utf-\?8' <<<"$all"; }
if ! has_de_locale; then
  echo "setup: generating de_DE.UTF-8"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  # -c: write the locale even if localedef only warns (it then exits 1);
  # whether it worked is checked right after.
  $SUDO localedef -i de_DE -c -f UTF-8 de_DE.UTF-8 || true
  has_de_locale || { echo "setup: could not generate de_DE.UTF-8" >&2; exit 1; }
fi
