#!/usr/bin/env bash
# check_layers.sh [SOURCE_DIR]: fails, saying where, when a layer reaches
# past its place in a way the include path cannot catch (the build runs it;
# the include path already keeps lib/ out of dist/ and epmd/):
#   - dist/ and epmd/ include only the C library, OpenSSL, zlib and their
#     own or dist's public headers: no <uv.h>, sockets, clock or threads;
#   - dist/ and epmd/ name nothing of libuv (uv_*, UV_*) nor its error
#     numbers (-4095 UV_EOF, -3000..-3014 UV_EAI_*);
#   - a private header (*_int.h) is included only from its own folder.
set -euo pipefail
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
bad=0
fail() { echo "check_layers: $*" >&2; bad=1; }

# The system headers a sans-I/O core may use. Add one only if it does no I/O
# and keeps no time or randomness.
allowed='assert|ctype|errno|float|inttypes|langinfo|limits|locale|math|stdalign|stdarg|stdatomic|stdbool|stddef|stdint|stdio|stdlib|string|zlib|openssl/[a-z0-9_]+'

for f in dist/*.[ch] epmd/*.[ch]; do
  while IFS= read -r hit; do
    fail "$f:${hit%%:*}: includes <${hit#*<}: a sans-I/O core uses the C library, OpenSSL and zlib only"
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<' "$f" \
           | grep -vE "<($allowed)\.h>" | sed -E 's/#[[:space:]]*include[[:space:]]*//' || true)
  while IFS= read -r hit; do
    fail "$f:$hit: libuv belongs to lib/ (ep_uverr_int.h maps its errors)"
  done < <(grep -nE '\b(uv|UV)_[A-Za-z0-9_]|uv\.h|-4095\b|-30(0[0-9]|1[0-4])\b' "$f" || true)
done

for f in dist/*.[ch] epmd/*.[ch] lib/*.[ch] tools/*.[ch]; do
  [ -e "$f" ] || continue
  dir=$(dirname "$f")
  while IFS= read -r inc; do
    [ -e "$dir/$inc" ] || fail "$f: includes $inc, a private header of another folder"
  done < <(grep -oE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*_int\.h"' "$f" \
           | sed -E 's/.*"([^"]*)"/\1/' || true)
done

exit $bad
