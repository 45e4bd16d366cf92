#!/usr/bin/env bash
# Installs what erlpeer needs on Debian 12 (root) when it is missing; idempotent.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git ca-certificates
      libssl-dev libuv1-dev check zlib1g-dev libmicrohttpd-dev prometheus curl jq
      erlang-nox erlang-dev erlang-src
      clang libclang-rt-14-dev debootstrap locales lcov)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The tests of peers on other hosts and in containers
# (tests/integration/test_hosts_*.sh, test_container_podman.sh): network
# namespaces, shaping and a drop rule, a real sshd, a container engine
# (runc: crun refuses this machine's hybrid cgroup layout). About 22
# packages; when they cannot be installed those tests skip, saying why.
# (On a machine run by systemd, openssh-server also starts the system sshd.)
host_pkgs=(iproute2 nftables openssh-server openssh-client podman runc)
host_missing=()
for p in "${host_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || host_missing+=("$p")
done
if ((${#missing[@]} + ${#host_missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ((${#host_missing[@]})); then
  echo "setup: installing ${host_missing[*]} (tests across hosts and containers)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${host_missing[@]}" >/dev/null ||
    echo "setup: could not install ${host_missing[*]}: the tests across hosts and containers will skip"
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
