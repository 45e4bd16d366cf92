#!/usr/bin/env bash
# The main job: install what is missing, build, then start a peer node,
# call it and stop it, printing what happened.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/scripts/setup.sh"
mkdir -p "$here/build"
bash "$here/scripts/build.sh" "$here/build"
bash "$here/scripts/demo.sh" "$here/build/erlpeer"
