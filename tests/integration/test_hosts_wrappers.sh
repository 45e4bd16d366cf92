#!/usr/bin/env bash
# Peers on another host (network namespace B, tests/integration/hosts.sh)
# driven from host A by `erlpeer session --origin ctl@A`, through the two
# exec wrappers a real deployment uses: `ip netns exec B erl` and a real sshd
# in B (`ssh -p 2222 -i KEY root@B env ... erl`), over each control
# connection (dist, tcp, standard_io). Each peer must run in B (it sees B's
# address) and answer calls. Then the controller is SIGKILLed: every remote
# peer must be gone within 2 s. Skipped, with the reason, where namespaces
# cannot be made; the ssh half is skipped where there is no sshd.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hosts.sh"
ep_world
hosts_up
t_begin=$(now_ms)

wrappers=(netns)
if hosts_sshd; then
  wrappers+=(ssh)
else
  echo "SKIPPED the ssh wrapper: no /usr/sbin/sshd (Debian's openssh-server)"
fi

ctl_start --origin "ctl@$HA" --net-ticktime 4
ids=()
pids=()
for w in "${wrappers[@]}"; do
  ex=$("exec_$w")
  for c in dist tcp stdio; do
    id="${w}_$c"
    case $c in
      dist) conn="name => \"$id\", host => \"$HB\", longnames => true, args => [\"-kernel\", \"net_ticktime\", \"4\"]" ;;
      tcp) conn="connection => 0" ;;
      stdio) conn="connection => standard_io" ;;
    esac
    t0=$(now_ms)
    ctl_ok "$id" "{start, $id, #{$conn, exec => $ex}}." 40
    t1=$(now_ms)
    [ "$c" != dist ] || [ "$VAL" = "'$id@$HB'" ] || fail "$id is $VAL, not $id@$HB"
    # It runs on B: B's address is among its interfaces.
    ctl_ok "$id" "{call, $id, inet, getifaddrs, []}."
    grep -qF "{10,213,0,2}" <<<"$VAL" || fail "$id does not run on host B"
    ctl_ok "$id" "{call, $id, os, getpid, []}."
    pid=${VAL//\"/}
    [ -n "$pid" ] || fail "no OS pid for $id"
    ip netns pids "$NSB" | grep -qx "$pid" || fail "$id's emulator $pid is not in namespace B"
    ids+=("$id")
    pids+=("$pid")
    ok "$w wrapper, $c connection: booted on B in $((t1 - t0)) ms, answers calls"
  done
done

# One clean stop of a dist peer and a tcp peer across the link.
for id in netns_dist netns_tcp; do
  ctl_cmd "$id" "{stop, $id}."
  [ "$ANS" = "{stopped,$id}." ] || fail "stop $id: $ANS"
done
hosts_wait "pids_gone ${pids[0]} ${pids[1]}" 10 || fail "stopped peers still run on B"
ok "stop across the link: the peers are gone from B"

# SIGKILL of the controller: the connections drop (dist, tcp) or the pipes
# close (standard_io, also through ssh), and each remote peer halts.
left=("${pids[@]:2}")
t0=$(now_ms)
{ kill -9 "$CTL_PID" && wait "$CTL_PID"; } 2>/dev/null
slow=""
for i in "${!left[@]}"; do
  hosts_wait "pids_gone ${left[$i]}" 5 ||
    fail "after SIGKILL of the controller, still running on B: $(ns_beams "$NSB" | tr '\n' ' ')"
  slow="$slow ${ids[$((i + 2))]}:$(( $(now_ms) - t0 ))ms"
done
t1=$(now_ms)
note "gone after (cumulative):$slow"
[ $((t1 - t0)) -le 2000 ] || fail "the remote peers took $((t1 - t0)) ms to go after SIGKILL of the controller (limit 2000)"
hosts_wait "no_beams_in $NSB" 2 || fail "emulators left on B: $(ns_beams "$NSB" | tr '\n' ' ')"
ok "SIGKILL of the controller: ${#left[@]} remote peers gone in $((t1 - t0)) ms (limit 2000)"

echo "time: $(( $(now_ms) - t_begin )) ms"
echo "$passed passed, 0 failed"
