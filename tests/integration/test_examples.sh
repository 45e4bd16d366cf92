#!/usr/bin/env bash
# Builds every docs/examples/*.c against the built library and runs each
# (locally: the ssh and Docker examples fall back to a shell wrapper).
# lib.sh's world: a free EPMD port for the named peers of the cluster
# example (they start their own epmd there, killed at the end by its tag).
set -u
. "$(dirname "$0")/lib.sh"
ep_world
examples=()
for f in "${EP_SOURCE_DIR:?}"/docs/examples/*.c; do
  case $(basename "$f") in *dist*) continue ;; esac # test_examples_dist.sh runs those, with an EPMD
  examples+=("$f")
done
ep_run_examples "${examples[@]}"
