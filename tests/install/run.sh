#!/usr/bin/env bash
# run.sh BUILD_DIR: installs erlpeer into a temporary prefix and builds a tiny
# consumer against it twice: with find_package(erlpeer) and with pkg-config.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
prefix=$(mktemp -d); work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/erlpeer"
test -f "$prefix/lib/pkgconfig/erlpeer.pc" || test -f "$prefix/lib/x86_64-linux-gnu/pkgconfig/erlpeer.pc"
cmake -S "$here/consumer" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
"$work/cm/consumer"
pcdir=$(dirname "$(find "$prefix" -name erlpeer.pc | head -1)")
cc -std=c11 "$here/consumer/consumer.c" -o "$work/pc-consumer" \
   $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs --static erlpeer) -Wl,-rpath,"$(dirname "$pcdir")"
"$work/pc-consumer"
echo "install: find_package and pkg-config consumers built and ran"
