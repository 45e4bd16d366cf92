#!/usr/bin/env bash
# Builds every docs/examples/*dist*.c (the distribution connection) against
# the built library and runs each, with a private EPMD for the hidden node
# (the remote example uses a shell wrapper as its ssh stand-in).
set -u
. "$(dirname "$0")/lib.sh"
ep_world
ep_start_epmd
ep_run_examples "${EP_SOURCE_DIR:?}"/docs/examples/*dist*.c
