#!/usr/bin/env bash
# run.sh BUILD_DIR: installs erlpeer into a temporary prefix and builds
# against it: a tiny consumer with find_package(erlpeer) and with pkg-config
# (both run), and the README's C example as written (compiled).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
prefix=$(mktemp -d); work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/erlpeer"
pcdir=$(dirname "$(find "$prefix" -name erlpeer.pc | head -1)")
pc() { PKG_CONFIG_PATH="$pcdir" pkg-config "$@" erlpeer; }

cmake -S "$here/consumer" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
"$work/cm/consumer"

# shellcheck disable=SC2046
cc -std=c11 "$here/consumer/consumer.c" -o "$work/pc-consumer" $(pc --cflags --libs --static) \
   -Wl,-rpath,"$(dirname "$pcdir")"
"$work/pc-consumer"

bash "$here/extract_readme_example.sh" "$here/../../README.md" > "$work/readme.c"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$work/readme.c" -o "$work/readme" $(pc --cflags --libs --static)
echo "install: find_package and pkg-config consumers built and ran; the README example compiles"
