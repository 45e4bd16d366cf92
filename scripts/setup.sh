#!/usr/bin/env bash
# Installs what erlpeer needs on Debian 12 (root) when it is missing; idempotent.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git ca-certificates
      libssl-dev libuv1-dev check zlib1g-dev
      erlang-nox erlang-dev erlang-src
      clang libclang-rt-14-dev debootstrap)
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
