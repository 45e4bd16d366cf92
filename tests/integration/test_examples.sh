#!/usr/bin/env bash
# Builds every docs/examples/*.c against the built library and runs each
# (locally: the ssh and Docker examples fall back to a shell wrapper).
set -u
src=${EP_SOURCE_DIR:?}; build=${EP_BUILD_DIR:?}
export EP_TEST_TAG="${EP_TEST_RUN:-eprun-manual}.examples.$$"
export HOME=$(mktemp -d)
# a private EPMD port: the named peers of the cluster example start their own
# epmd there, killed at the end by its tag
export ERL_EPMD_PORT=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
work=$(mktemp -d)
cleanup() {
  for p in /proc/[0-9]*; do
    { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qx "EP_TEST_TAG=$EP_TEST_TAG" && kill -9 "${p#/proc/}" 2>/dev/null
  done
  rm -rf "$work" "$HOME"
}
trap cleanup EXIT
lib=$build/liberlpeer.a
fails=0
for f in "$src"/docs/examples/*.c; do
  name=$(basename "$f" .c)
  case $name in *dist*) continue ;; esac # test_examples_dist.sh runs those, with an EPMD
  if ! cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -I"$src/dist" -I"$src/lib" \
       "$f" "$lib" -luv -lcrypto -lz -lm -lpthread -o "$work/$name" $( [ -n "${EP_ASAN:-}" ] && echo -fsanitize=address,undefined ) 2>"$work/$name.log"; then
    # an ASan build's archive needs the sanitizer runtime
    if ! cc -std=c11 -D_GNU_SOURCE -fsanitize=address,undefined -I"$src/dist" -I"$src/lib" "$f" "$lib" \
         -luv -lcrypto -lz -lm -lpthread -o "$work/$name" 2>>"$work/$name.log"; then
      echo "FAIL build $name"; cat "$work/$name.log"; fails=$((fails+1)); continue
    fi
  fi
  if timeout 60 "$work/$name" >"$work/$name.out" 2>&1; then
    echo "ok   $name: $(head -c 200 "$work/$name.out" | tr '\n' ' ')"
  else
    echo "FAIL run $name"; cat "$work/$name.out"; fails=$((fails+1))
  fi
done
[ $fails -eq 0 ] || exit 1
