#!/usr/bin/env bash
# run.sh BUILD_DIR: installs erlpeer into a temporary prefix and builds
# against it, as a program outside the tree would:
#  - with find_package(erlpeer): a terms-only consumer on erlpeer::erlpeer,
#    and an asynchronous one (its own uv_loop_t and uv_run calls) on both
#    erlpeer::erlpeer and erlpeer::erlpeer_static;
#  - with pkg-config: both consumers with `pkg-config --cflags --libs`
#    (the shared library), and the asynchronous one with `--static` against
#    liberlpeer.a;
#  - the README's C example as written (compiled);
#  - the two umbrella headers (runtime, protocol cores), each in its layer.
# All of them run, except the README example (it needs an erl). The
# asynchronous consumer needs no erl either: a node with EPMD mode NONE and
# a controller on the program's loop. It calls libuv itself, so it links only
# if erlpeer's link line brings libuv ("DSO missing from command line" else).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
prefix=$(mktemp -d); work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/erlpeer"
pcdir=$(dirname "$(find "$prefix" -name erlpeer.pc | head -1)")
libdir=$(dirname "$pcdir")
pc() { PKG_CONFIG_PATH="$pcdir" pkg-config "$@" erlpeer; }
# The shared library must be linked as such, the static one not at all.
needs_lib() { readelf -d "$1" | grep -q 'NEEDED.*\[liberlpeer\.so'; }
linked_shared() { needs_lib "$1" || { echo "install: $1 does not use liberlpeer.so" >&2; exit 1; }; }
linked_static() { ! needs_lib "$1" || { echo "install: $1 uses liberlpeer.so" >&2; exit 1; }; }

cmake -S "$here/consumer" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
for exe in consumer async_shared async_static; do "$work/cm/$exe"; done
linked_shared "$work/cm/async_shared"; linked_static "$work/cm/async_static"

cflags=(-std=c11 -Wall -Wextra -Werror)
# shellcheck disable=SC2046
cc "${cflags[@]}" "$here/consumer/consumer.c" -o "$work/pc-consumer" $(pc --cflags --libs) -Wl,-rpath,"$libdir"
# shellcheck disable=SC2046
cc "${cflags[@]}" "$here/consumer/async_consumer.c" -o "$work/pc-async" $(pc --cflags --libs) -Wl,-rpath,"$libdir"
# --static: erlpeer's archive (-l:liberlpeer.a, not the .so next to it)
# plus every private dependency pkg-config adds.
# shellcheck disable=SC2046
cc "${cflags[@]}" "$here/consumer/async_consumer.c" -o "$work/pc-async-static" \
   $(pc --cflags --libs --static | sed 's/-lerlpeer\b/-l:liberlpeer.a/')
"$work/pc-consumer"; "$work/pc-async"; "$work/pc-async-static"
linked_shared "$work/pc-async"; linked_static "$work/pc-async-static"

# Both umbrellas compile alone and together, and each header is in its
# layer: the runtime's under erlpeer/, the protocol cores' under erlpeer/core/.
inc=$(dirname "$(find "$prefix" -name erlpeer.h | head -1)")
test -f "$inc/core/erlpeer_core.h" && test -f "$inc/core/ep_handshake.h" && test ! -e "$inc/ep_handshake.h" \
  || { echo "install: the core headers are not (only) under erlpeer/core/" >&2; exit 1; }
for h in '<erlpeer/erlpeer.h>' '<erlpeer/core/erlpeer_core.h>' '<erlpeer/erlpeer.h>
#include <erlpeer/core/erlpeer_core.h>'; do
  printf '#include %s\nint main(void) { return 0; }\n' "$h" > "$work/umbrella.c"
  # shellcheck disable=SC2046
  cc "${cflags[@]}" -c "$work/umbrella.c" -o "$work/umbrella.o" $(pc --cflags)
done

bash "$here/extract_readme_example.sh" "$here/../../README.md" > "$work/readme.c"
# shellcheck disable=SC2046
cc "${cflags[@]}" "$work/readme.c" -o "$work/readme" $(pc --cflags --libs)
echo "install: find_package (shared and static) and pkg-config (shared and --static) consumers, async ones included, built and ran; the README example compiles"
