#!/usr/bin/env bash
# Peers in a real container engine, as OTP's peer_SUITE docker case does
# with docker: Debian's podman, an image imported from the trixie debootstrap
# root (scripts/otp-roots.sh; no registry is reachable), each peer started by
# `erlpeer session` through the exec wrapper
#   podman --runtime runc run -i --rm --network host
#          --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 IMAGE erl
# (crun refuses this machine's hybrid cgroup layout, and podman's default
# ulimits exceed the hard limits). Over standard_io, and tcp with
# detached => false: each answers calls, and its container is gone after
# stop. A detached tcp peer dies with the container's first process (erl
# -detached's launcher): the start fails with a line that says so. After
# SIGKILL of the controller, every container of ours is gone too.
#
# The image is kept between runs (localhost/erlpeer-trixie:KEY, KEY from
# the root's timestamps; imported once, under a lock, in about 10 s): the
# containers are labelled with the run's tag, and none of them survives the
# test. Skipped, with the reason, where podman, runc or the root are missing
# or podman cannot run a container.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hosts.sh"
ep_world
ROOT=${EP_TRIXIE_ROOT:-/var/cache/erlpeer/roots/trixie}
[ "$(id -u)" = 0 ] || hosts_skip "podman here needs root"
command -v podman >/dev/null || hosts_skip "no podman (Debian's podman)"
command -v runc >/dev/null || hosts_skip "no runc (Debian's runc)"
[ -x "$ROOT/usr/bin/erl" ] || hosts_skip "no OTP root at $ROOT (scripts/otp-roots.sh makes it)"

LABEL="eptest=$EP_TEST_TAG"
ours() { podman ps -aq --filter "label=$LABEL" 2>/dev/null; }
none_of_ours() { [ -z "$(ours)" ]; }
podman_cleanup() {
  ep_cleanup
  ours | xargs -r podman rm -f >/dev/null 2>&1
  return 0
}
trap podman_cleanup EXIT
trap 'exit 1' INT TERM HUP
t_begin=$(now_ms)

key=$( (stat -c '%Y' "$ROOT" "$ROOT/usr/lib/erlang" "$ROOT/usr/bin/erl"; echo "$ROOT") | md5sum | cut -c1-12)
IMAGE="localhost/erlpeer-trixie:$key"
if ! podman image exists "$IMAGE"; then
  t0=$(now_ms)
  # One import for parallel runs; the lock goes with the flock process.
  (
    flock -w 120 9 || exit 1
    podman image exists "$IMAGE" || tar -C "$ROOT" -c . | podman import - "$IMAGE" >/dev/null
  ) 9>/run/lock/erlpeer-podman-import.lock 2>"$EP_TMP/import.err" ||
    hosts_skip "podman cannot import $ROOT: $(tail -c 300 "$EP_TMP/import.err")"
  note "imported $ROOT as $IMAGE in $(( $(now_ms) - t0 )) ms"
fi
RUN=(podman --runtime runc run -i --rm --network host --ulimit nofile=1024:1024 --ulimit nproc=4096:4096
  --label "$LABEL")
timeout 60 "${RUN[@]}" "$IMAGE" true 2>"$EP_TMP/run.err" </dev/null ||
  hosts_skip "podman cannot run a container here: $(tail -c 300 "$EP_TMP/run.err")"

ex="{\"podman\", $(erl_list "${RUN[@]:1}" "$IMAGE" erl)}"
CTL_WRAP=()
ctl_start

# peer ID OPTS: starts it, checks it runs in the container (its OS pid
# there is 1, the container's first process: standard_io and attached tcp
# peers are the container's erl itself), and that it is ours.
peer() {
  local id=$1 opts=$2 t0 t1
  t0=$(now_ms)
  ctl_ok "$id" "{start, $id, #{$opts, exec => $ex}}." 60
  t1=$(now_ms)
  ctl_ok "$id" "{call, $id, erlang, system_info, [otp_release]}."
  [ "$VAL" = '"27"' ] || fail "$id: OTP $VAL, not the trixie root's 27"
  ctl_ok "$id" "{call, $id, os, getpid, []}."
  [ "$VAL" = '"1"' ] || fail "$id: OS pid $VAL in the container, not 1"
  [ -n "$(ours)" ] || fail "$id: no container of ours running"
  ok "$id: booted in a container in $((t1 - t0)) ms, OTP 27, pid 1 there"
}

for c in stdio tcp; do
  case $c in
    stdio) opts="connection => standard_io" ;;
    tcp) opts="connection => 0, detached => false" ;;
  esac
  peer "$c" "$opts"
  ctl_cmd "$c" "{stop, $c}."
  [ "$ANS" = "{stopped,$c}." ] || fail "stop $c: $ANS"
  hosts_wait none_of_ours 10 || fail "$c: containers left after stop: $(podman ps -a --filter "label=$LABEL")"
  ok "$c: stopped, its container is gone"
done

# A detached tcp peer: erl -detached's launcher is the container's first
# process, the container ends when it exits, and the emulator with it.
ctl_cmd det "{start, det, #{connection => 0, exec => $ex, wait_boot => 4000}}." 30
[ "$ANS" = "{error,det,timeout}." ] || fail "a detached peer in a container: $ANS"
ep_wait_for "$SERR" "det: a detached peer behind an exec wrapper never connected: if the wrapper is a container" 5 ||
  fail "no line on stderr saying why the detached peer never connected"
hosts_wait none_of_ours 10 || fail "containers left after the detached peer: $(podman ps -a --filter "label=$LABEL")"
ok "a detached tcp peer dies with the container's first process; stderr says so"

# SIGKILL of the controller: podman's stdin (-i) closes, the tcp connection
# drops; each peer halts, its container ends and is removed.
peer k_stdio "connection => standard_io"
peer k_tcp "connection => 0, detached => false"
t0=$(now_ms)
{ kill -9 "$CTL_PID" && wait "$CTL_PID"; } 2>/dev/null
hosts_wait none_of_ours 10 || fail "after SIGKILL of the controller, containers left: $(podman ps -a --filter "label=$LABEL")"
ok "SIGKILL of the controller: both containers gone after $(( $(now_ms) - t0 )) ms"

echo "time: $(( $(now_ms) - t_begin )) ms"
echo "$passed passed, 0 failed"
