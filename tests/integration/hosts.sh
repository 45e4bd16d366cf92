# hosts.sh - two hosts as network namespaces, for the tests of peers on
# other hosts (test_hosts_*.sh). Source it after lib.sh and call hosts_up
# after ep_world.
#
#   host A (the controller)  va 10.213.0.1/30 ==veth== vb 10.213.0.2/30  host B (the peers)
#
# The addresses exist only inside these two namespaces, which the test makes
# and removes: nothing outside loopback and them is ever addressed. Both
# namespaces run their own epmd on the run's port; B may run an sshd on a
# private port, with a key the test makes. The namespace names carry the
# run's tag, so a second run and parallel tests never meet, and ep_sweep
# (tests/support/ep_sweep.c) removes what a killed run left. Everything
# started in them is killed at exit (the EXIT trap), pass or fail.

HA=10.213.0.1
HB=10.213.0.2
NSA=
NSB=
passed=0

ok() { echo "ok   $1"; passed=$((passed+1)); }
note() { echo "     $1"; }

# Passing, with the reason on one line: this machine cannot run the test.
hosts_skip() {
  echo "SKIPPED $(basename "$0"): $*"
  echo "0 passed, 0 failed (skipped)"
  exit 0
}

now_ms() { date +%s%3N; }

hosts_cleanup() {
  local ns
  for ns in "$NSA" "$NSB"; do
    [ -n "$ns" ] && [ -e "/run/netns/$ns" ] || continue
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
  done
  ep_cleanup
  for ns in "$NSA" "$NSB"; do
    [ -n "$ns" ] && [ -e "/run/netns/$ns" ] && ip netns del "$ns" 2>/dev/null
  done
  return 0
}

# Makes A and B, the veth between them, and an epmd in each.
hosts_up() {
  [ "$(id -u)" = 0 ] || hosts_skip "network namespaces need root (ip netns add)"
  command -v ip >/dev/null || hosts_skip "no ip command (iproute2)"
  trap hosts_cleanup EXIT
  trap 'exit 1' INT TERM HUP
  local a="$EP_TEST_TAG.a" b="$EP_TEST_TAG.b"
  ip netns add "$a" 2>"$EP_TMP/netns.err" || hosts_skip "cannot make a network namespace: $(head -c 200 "$EP_TMP/netns.err")"
  NSA=$a
  ip netns add "$b" || fail "ip netns add $b"
  NSB=$b
  ip link add va netns "$NSA" type veth peer name vb netns "$NSB" 2>"$EP_TMP/veth.err" ||
    hosts_skip "cannot make a veth pair: $(head -c 200 "$EP_TMP/veth.err")"
  ip -n "$NSA" addr add "$HA/30" dev va && ip -n "$NSB" addr add "$HB/30" dev vb &&
    ip -n "$NSA" link set lo up && ip -n "$NSB" link set lo up &&
    ip -n "$NSA" link set va up && ip -n "$NSB" link set vb up || fail "cannot set up the veth pair"
  hosts_epmd "$NSA"
  hosts_epmd "$NSB"
}

hosts_epmd() {
  local ns=$1 log="$EP_TMP/epmd.$1.log"
  ip netns exec "$ns" epmd -port "$EP_EPMD_PORT" -d -d 2>"$log" &
  disown
  ep_wait_for "$log" 'entering the main select() loop' 10 || fail "epmd in $ns did not start: $(cat "$log")"
}

# Link state as the namespace's ip sees it.
link_is_up() { ip -n "$1" -o link show "$2" | grep -q 'LOWER_UP'; }

# hosts_wait COND SECS: waits for a condition on other hosts' processes
# (no event tells us of the death of a process that is neither our child
# nor in our network namespace), checked every 20 ms, at most SECS.
hosts_wait() {
  local cond=$1 secs=$2 end
  end=$(( $(now_ms) + secs * 1000 ))
  while ! eval "$cond"; do
    [ "$(now_ms)" -lt "$end" ] || return 1
    sleep 0.02
  done
}

# pids_gone PID...: none of them runs (one pid namespace across the hosts).
# A zombie has exited: a peer whose controller died is reaped by init,
# which may take its time (over a second here).
pids_gone() {
  local p st
  for p in "$@"; do
    st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$p/stat" 2>/dev/null)
    [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ] || return 1
  done
  return 0
}

# The emulators (and their helpers) running in namespace NS.
ns_beams() {
  local p
  for p in $(ip netns pids "$1" 2>/dev/null); do
    case "$(cat "/proc/$p/comm" 2>/dev/null)" in
      beam.smp | erl_child_setup | inet_gethost | erlexec) pids_gone "$p" || echo "$p" ;;
    esac
  done
}
no_beams_in() { [ -z "$(ns_beams "$1")" ]; }

# An sshd in B on port 2222 of $HB with its own host key and config, and a
# client key for us. Sets SSH_ARGS (the ssh command line up to the remote
# command). Returns 1 when there is no sshd (Debian's openssh-server).
hosts_sshd() {
  [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || return 1
  local d="$EP_TMP/ssh"
  mkdir -p "$d" && chmod 700 "$d"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" && ssh-keygen -q -t ed25519 -N '' -f "$d/id" ||
    fail "ssh-keygen"
  cp "$d/id.pub" "$d/authorized_keys"
  cat >"$d/sshd_config" <<EOF
Port 2222
ListenAddress $HB
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
PidFile $d/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
LogLevel VERBOSE
EOF
  # sshd refuses to start without its (empty) privilege separation
  # directory; Debian's init script makes the same one.
  mkdir -p /run/sshd
  ip netns exec "$NSB" /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" &
  disown
  ep_wait_for "$d/sshd.log" "Server listening on $HB port 2222" 10 || fail "sshd did not start: $(cat "$d/sshd.log")"
  SSH_ARGS=(-p 2222 -i "$d/id" -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o BatchMode=yes -o LogLevel=ERROR "root@$HB")
  # sshd gives the command a login environment: the run's HOME (cookie),
  # EPMD port and tag go on the remote command line.
  SSH_REMOTE=(env "HOME=$HOME" "ERL_EPMD_PORT=$EP_EPMD_PORT" "EP_TEST_TAG=$EP_TEST_TAG" "ERL_CRASH_DUMP=$ERL_CRASH_DUMP")
  return 0
}

# erl_list WORD...: the words as an Erlang list of strings.
erl_list() {
  local out="" w
  for w in "$@"; do out="$out${out:+, }\"$w\""; done
  echo "[$out]"
}

# The exec option of a session start for each wrapper.
exec_netns() { echo "{\"ip\", $(erl_list netns exec "$NSB" erl)}"; }
exec_ssh() { echo "{\"ssh\", $(erl_list "${SSH_ARGS[@]}" "${SSH_REMOTE[@]}" erl)}"; }

# ctl_start ARGS...: an `erlpeer session` in A (the controller), fed from
# fd 5; its answers in $SOUT, its stderr in $SERR, its pid in $CTL_PID.
# CTL_WRAP (set before) runs it elsewhere: () for this namespace.
ctl_n=0
CTL_WRAP=(ip netns exec @NSA)
ctl_start() {
  ctl_n=$((ctl_n+1))
  local in="$EP_TMP/ctl.$ctl_n.in"
  SOUT="$EP_TMP/ctl.$ctl_n.out"
  SERR="$EP_TMP/ctl.$ctl_n.err"
  OUT=$SOUT ERR=$SERR
  mkfifo "$in"
  : >"$SOUT"
  "${CTL_WRAP[@]/#@NSA/$NSA}" "$EP_CLI" session "$@" <"$in" >"$SOUT" 2>"$SERR" &
  CTL_PID=$!
  exec 5>"$in"
}
ctl() { printf '%s\n' "$1" >&5; }
# ctl_expect PATTERN [SECS]: a line of the session's answers matches.
ctl_expect() {
  ep_wait_for "$SOUT" "$1" "${2:-30}" "$CTL_PID" || fail "no answer matching '$1' from the controller"
}
# ctl_cmd ID COMMAND [SECS]: sends COMMAND (about peer ID) and sets ANS to
# the answer about ID that follows it: answers come in order, and other
# lines ({output, ...}, {down, ...}) may come between. (Results go to
# variables, never through $(...): a failure there would not end the test.)
ctl_cmd() {
  local id=$1 cmd=$2 secs=${3:-30} n fd tp rc
  n=$(wc -l <"$SOUT")
  ctl "$cmd"
  exec {fd}< <(exec timeout "$secs" tail -n +$((n + 1)) -F --pid="$CTL_PID" -- "$SOUT" 2>/dev/null)
  tp=$!
  ANS=$(grep -m1 -- "^{\(ok\|error\|state\|stopped\),$id[,}]" <&"$fd")
  rc=$?
  exec {fd}<&-
  kill "$tp" 2>/dev/null
  [ $rc = 0 ] || fail "no answer to '$cmd' from the controller within $secs s"
}
# ctl_ok ID COMMAND [SECS]: as ctl_cmd, and the answer must be {ok, ID,
# Value}: VAL is Value as printed.
ctl_ok() {
  ctl_cmd "$@"
  case $ANS in
    "{ok,$1,"*) VAL=${ANS#"{ok,$1,"}; VAL=${VAL%"}."} ;;
    *) fail "'$2' was answered $ANS" ;;
  esac
}
# ctl_end: end of input; the session stops its peers and exits 0.
ctl_end() {
  exec 5>&-
  ep_wait_child "$CTL_PID" 30 || fail "the controller did not exit 0 after its input ended"
}
