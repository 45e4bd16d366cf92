#!/usr/bin/env bash
# erlpeer agent against real erl nodes, a real promtool and a real
# Prometheus server: /metrics holds every node's series and promtool accepts
# it in both naming modes (classic: exactly the findings docs/agent.md
# lists); --json and --textfile; nothing left on a target across 100
# scrapes, with an HTTP client that connects and never sends; a SIGSTOPped
# target does not delay the others; kill -9 and a restart under the same
# name; a wrong cookie (one log line, an error series); discovery picks up a
# node started later and drops one that left; Prometheus's HTTP API returns
# every node's series. Waits are for log lines and JSON lines (tail -F);
# only the HTTP state of another process (Prometheus ready, its first
# scrapes) is polled, each with a deadline.
set -Eeuo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"
ep_world
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND exited $?" >&2' ERR
command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus; scripts/setup.sh)"
command -v prometheus >/dev/null || fail "prometheus missing (scripts/setup.sh)"
host=$(hostname -s)
IV=200 # ms: short intervals keep the test short

ep_start_epmd
ep_start_erl a
ep_start_erl b

# --- helpers -------------------------------------------------------------------------

# follow FILE SECS AWKARGS...: runs awk on FILE as it grows (tail -F, inotify)
# until awk exits; awk's status (the program ends with exit !found).
follow() {
  local file=$1 secs=$2 fd tp rc; shift 2
  exec {fd}< <(exec timeout "$secs" tail -n +1 -F -- "$file" 2>/dev/null)
  tp=$!
  "${FOLLOW_AWK[@]}" "$@" <&"$fd" && rc=0 || rc=$?
  exec {fd}<&-
  kill "$tp" 2>/dev/null || true
  return $rc
}
# wait_scrapes TAG NODE MIN SECS: until a JSON line says NODE has MIN successful scrapes
wait_scrapes() {
  follow "$EP_TMP/$1.json" "$4" -v n="\"node\":\"$2\"" -v min="$3" '
    index($0, n) && match($0, /"scrapes_total":[0-9]+/) { if (substr($0, RSTART + 16, RLENGTH - 16) + 0 >= min) { found = 1; exit 0 } }
    END { exit !found }' || fail "$1: $2 did not reach $3 scrapes in $4 s"
}
# wait_count TAG PATTERN N SECS: until the log holds N lines with PATTERN (a fixed string)
wait_count() {
  follow "$EP_TMP/$1.err" "$4" -v n="$2" -v want="$3" \
    'index($0, n) { c++; if (c >= want) { found = 1; exit } } END { exit !found }' \
    || fail "$1: fewer than $3 lines '$2' in $4 s"
}
scrapes_of() { grep -F "\"node\":\"$2\"" "$EP_TMP/$1.json" | tail -1 | jq .scrapes_total; }
metrics() { curl -sf --max-time 5 "$URL"; }
# on the target: atoms, processes, loaded modules (a fixed name: the call itself makes no new atom)
footprint() {
  "$EP_CLI" call --sname measure "$1" --call 'erlang:system_info(atom_count)' \
    --call 'erlang:system_info(process_count)' --call 'erlang:loaded()' \
    | awk 'NR < 3 { printf "%s ", $0 } NR == 3 { print gsub(/,/, ",") + 1 " modules" }'
}

# --- usage ------------------------------------------------------------------------------
expect_rc 0 "$EP_CLI" agent --help
expect_out "exit status: 0 stopped by SIGINT or SIGTERM; 1 cannot listen on the --listen"
expect_rc 2 "$EP_CLI" agent
expect_err "which nodes?"
expect_rc 2 "$EP_CLI" agent --ssl-dist-optfile "$EP_TMP/none.conf" a
expect_err "none.conf"
expect_rc 2 "$EP_CLI" agent --interval 10 a
expect_rc 2 "$EP_CLI" agent --names modern a
expect_rc 2 "$EP_CLI" agent --include 'x*' a
expect_rc 1 "$EP_CLI" agent --listen 300.1.1.1:1 a
echo "ok   usage and exit statuses"

# --- the main agent, and a Prometheus server scraping it -------------------------------
start_agent main --listen 127.0.0.1:0 --interval $IV --json --textfile "$EP_TMP/agent.prom" a b
[ -n "$URL" ] || fail "the agent does not serve HTTP: $(cat "$EP_TMP/main.err")"
MAIN=$AGENT_PID
MAIN_URL=$URL
wait_log main "a@$host: up"
wait_log main "b@$host: up"
agent_addr=${URL#http://}; agent_addr=${agent_addr%/metrics}

PP=$(ep_free_port)
mkdir -p "$EP_TMP/prom"
cat > "$EP_TMP/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: erlpeer_agent
    static_configs:
      - targets: ['$agent_addr']
EOF
prometheus --config.file="$EP_TMP/prom/prometheus.yml" --storage.tsdb.path="$EP_TMP/prom/data" \
  --web.listen-address="127.0.0.1:$PP" > "$EP_TMP/prom/log" 2>&1 &
PROM=$!

wait_scrapes main "a@$host" 3 10
metrics > "$EP_TMP/m.txt" || fail "GET /metrics failed"
for n in a b; do
  for s in erlang_vm_processes erlang_vm_atoms erlang_vm_memory_bytes erlang_vm_statistics_reductions_total \
           erlang_vm_statistics_run_queues_length erlang_vm_schedulers_online erlpeer_node_up \
           erlpeer_scrape_duration_seconds; do
    grep -q "^$s{node=\"$n@$host\"" "$EP_TMP/m.txt" || fail "/metrics lacks $s for $n@$host"
  done
  grep -qx "erlpeer_node_up{node=\"$n@$host\"} 1" "$EP_TMP/m.txt" || fail "$n is not up in /metrics"
  # per peer: the agent's own connection is one of them
  grep -qx "erlang_vm_dist_node_state{node=\"$n@$host\",peer=\"erlpeer_agent@$host\"} 3" "$EP_TMP/m.txt" \
    || fail "no erlang_vm_dist_node_state for $n's peer erlpeer_agent"
done
grep -q '^erlpeer_agent_build_info{version="' "$EP_TMP/m.txt" || fail "no build info"
promtool check metrics < "$EP_TMP/m.txt" > "$EP_TMP/promtool.out" 2>&1 \
  || { cat "$EP_TMP/promtool.out"; fail "promtool rejects the current names"; }
code=$(curl -s -o /dev/null -w '%{http_code}' "${URL%/metrics}/other")
[ "$code" = 404 ] || fail "/other answered $code, not 404"
# --json: one object per node per interval; --textfile: the same page, promtool-clean
grep -F "\"node\":\"a@$host\"" "$EP_TMP/main.json" | sed -n 2p \
  | jq -e '.up and (.metrics.erlang_vm_processes > 0) and (.metrics.erlang_vm_memory_bytes.system > 0)' \
  > /dev/null || fail "--json lines: $(head -c 300 "$EP_TMP/main.json")"
promtool check metrics < "$EP_TMP/agent.prom" > "$EP_TMP/promtool.out" 2>&1 \
  || { cat "$EP_TMP/promtool.out"; fail "promtool rejects the textfile"; }
grep -q "^erlang_vm_processes{node=\"b@$host\"}" "$EP_TMP/agent.prom" || fail "textfile lacks b"
echo "ok   /metrics, promtool (current), 404, --json, --textfile"

# --- classic names: promtool says exactly what docs/agent.md says it does ----------------
start_agent classic --sname agent_classic --listen 127.0.0.1:0 --interval $IV --names classic --json a
wait_scrapes classic "a@$host" 2 10
metrics > "$EP_TMP/c.txt"
grep -q "^erlang_vm_process_count{node=\"a@$host\"}" "$EP_TMP/c.txt" || fail "classic: no erlang_vm_process_count"
grep -q "^erlang_vm_memory_bytes_total{node=\"a@$host\",kind=\"system\"}" "$EP_TMP/c.txt" || fail "classic: no memory_bytes_total"
promtool check metrics < "$EP_TMP/c.txt" > "$EP_TMP/promtool.classic" 2>&1 && fail "promtool flags nothing in classic names?"
sed -n '/^<!-- promtool-classic -->$/,/^<!-- end -->$/p' "$EP_SOURCE_DIR/docs/agent.md" | grep -v '^<!--' \
  | grep -v '^```' > "$EP_TMP/promtool.documented"
sort "$EP_TMP/promtool.classic" | sed '/^$/d' > "$EP_TMP/p1"; sort "$EP_TMP/promtool.documented" | sed '/^$/d' > "$EP_TMP/p2"
diff "$EP_TMP/p1" "$EP_TMP/p2" || fail "promtool's findings on classic names differ from docs/agent.md"
kill -TERM "$AGENT_PID"; ep_wait_child "$AGENT_PID" 10 || fail "the classic agent did not exit 0 on SIGTERM"
URL=$MAIN_URL
echo "ok   classic names: promtool findings as documented"

# --- nothing left on a target across 100 scrapes, with a silent HTTP client ------------------
footprint "a@$host" > /dev/null; footprint "a@$host" > /dev/null # the measuring node's own name atom
before=$(footprint "a@$host")
exec 7<>"/dev/tcp/${agent_addr%:*}/${agent_addr##*:}" # connects, never sends
lines0=$(wc -l < "$EP_TMP/main.json")
s0=$(scrapes_of main "a@$host")
wait_scrapes main "a@$host" $((s0 + 100)) 60
metrics > /dev/null || fail "/metrics does not answer beside a silent client"
exec 7>&-
after=$(footprint "a@$host")
# The process count can hold the agent's worker of a scrape in flight (one
# process, for a moment): a difference counts only if it is still there
# after the next scrapes.
for _ in 1 2 3 4 5; do
  [ "$before" = "$after" ] && break
  s1=$(scrapes_of main "a@$host")
  wait_scrapes main "a@$host" $((s1 + 1)) 10
  after=$(footprint "a@$host")
done
[ "$before" = "$after" ] || fail "100 scrapes changed the target: before $before, after $after"
# the silent client did not slow the scrapes: no gap over 5 intervals between rounds
gap=$(tail -n +"$((lines0 + 1))" "$EP_TMP/main.json" | jq -r 'select(.node == "a@'"$host"'") | .time_ms' \
      | awk 'NR > 1 && $1 - p > m { m = $1 - p } { p = $1 } END { print m + 0 }')
[ "$gap" -le $((5 * IV)) ] || fail "a gap of $gap ms between scrapes with a silent HTTP client"
echo "ok   100 scrapes: target unchanged ($after), largest gap $gap ms"

# --- a SIGSTOPped target does not delay the others -------------------------------------------
kill -STOP "$(ep_pid_of a)"
wait_log main "a@$host: not up: timed out" 5
sb=$(scrapes_of main "b@$host")
wait_scrapes main "b@$host" $((sb + 10)) $((10 * IV / 1000 + 5))
kill -CONT "$(ep_pid_of a)"
wait_count main "a@$host: up" 2 10
echo "ok   SIGSTOP: b kept its pace, a timed out, then up again"

# --- kill -9, then a restart under the same name -------------------------------------------
kill -9 "$(ep_pid_of b)"
t0=$(date +%s%N)
ep_wait_for "$EP_TMP/main.err" "b@$host: not up: the connection was lost" 5 || { cat "$EP_TMP/main.err" >&2; fail "no node-down for b"; }
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -le $((IV + 1000)) ] || fail "b went down after $(((t1 - t0) / 1000000)) ms"
metrics > "$EP_TMP/m.txt"
grep -qx "erlpeer_node_up{node=\"b@$host\"} 0" "$EP_TMP/m.txt" || fail "b is not 0 in erlpeer_node_up"
grep -q "^erlang_vm_processes{node=\"b@$host\"}" "$EP_TMP/m.txt" && fail "a stale value of b is exported"
grep -q "^erlang_vm_processes{node=\"a@$host\"}" "$EP_TMP/m.txt" || fail "a is gone with b"
rm -f "$EP_TMP/ready.b"
ep_start_erl b
tb=$(date +%s%N)
# up again within one interval of the restart (plus the backoff, capped at
# the interval): the agent's log line says when (it may come before the boot
# is over, the node being registered in EPMD early in its boot)
wait_count main "b@$host: up" 2 10
tu=$(grep -F "b@$host: up" "$EP_TMP/main.err" | sed -n 2p | cut -d' ' -f1)
tu=$(date -d "$tu" +%s%N)
[ $(((tu - tb) / 1000000)) -le $((2 * IV + 1000)) ] || fail "b up again $(((tu - tb) / 1000000)) ms after its boot; \
log: $(tail -4 "$EP_TMP/main.err" | tr '\n' '|') b's last errors: $(grep -F "\"node\":\"b@$host\"" "$EP_TMP/main.json" | tail -1 | jq -c .errors)"
metrics > "$EP_TMP/m.txt"
grep -q "^erlang_vm_processes{node=\"b@$host\"}" "$EP_TMP/m.txt" \
  || fail "b's series are not back: $(grep "b@$host" "$EP_TMP/m.txt" | tr '\n' '|') log: $(tail -5 "$EP_TMP/main.err" | tr '\n' '|')"
echo "ok   kill -9: down in $(((t1 - t0) / 1000000)) ms; restart: up $(((tu - tb) / 1000000)) ms after boot"

# --- a wrong cookie: an error series, one log line ------------------------------------------
start_agent bad --sname agent_bad --cookie WRONGCOOKIE --listen 127.0.0.1:0 --interval $IV --json a
follow "$EP_TMP/bad.json" 20 \
  'match($0, /"auth":[0-9]+/) && substr($0, RSTART + 7, RLENGTH - 7) + 0 >= 5 { found = 1; exit } END { exit !found }' \
  || fail "no auth error series"
metrics > "$EP_TMP/bad.txt"
grep -q "^erlpeer_scrape_errors_total{node=\"a@$host\",reason=\"auth\"} [0-9]" "$EP_TMP/bad.txt" || fail "no auth errors"
grep -qx "erlpeer_node_up{node=\"a@$host\"} 0" "$EP_TMP/bad.txt" || fail "a wrong cookie shows up"
[ "$(grep -c 'not up' "$EP_TMP/bad.err")" = 1 ] || fail "a wrong cookie is logged more than once: $(cat "$EP_TMP/bad.err")"
grep -q "authentication failed" "$EP_TMP/bad.err" || fail "the log does not say why"
kill -TERM "$AGENT_PID"; ep_wait_child "$AGENT_PID" 10 || fail "the bad-cookie agent did not exit 0"
URL=$MAIN_URL
echo "ok   wrong cookie: error series, one log line"

# --- discovery: a node started later is picked up, one that left is dropped -------------------
start_agent disc --sname agent_disc --listen none --interval $IV --json --discover "$host" --include 'd*' \
  --exclude 'dx*'
ep_wait_for "$EP_TMP/disc.err" "watching 0 node(s) and discovering" 10 || fail "the discovering agent did not start"
ep_start_erl d1
ep_start_erl dx1
wait_log disc "d1@$host: discovered" 10
wait_log disc "d1@$host: up" 5
kill -9 "$(ep_pid_of d1)"
wait_log disc "d1@$host: left EPMD on $host: no longer watched" 15
grep -q "a@$host\|b@$host\|dx1@$host" "$EP_TMP/disc.err" && fail "discovery took a node the globs keep out"
kill -TERM "$AGENT_PID"; ep_wait_child "$AGENT_PID" 10 || fail "the discovering agent did not exit 0"
URL=$MAIN_URL
echo "ok   discovery: d1 picked up, then dropped; a, b, dx1 left out"

# --- Prometheus scraped the agent: its API returns every node's series -------------------------
deadline=$((SECONDS + 60))
until curl -sf "http://127.0.0.1:$PP/-/ready" > /dev/null; do
  [ $SECONDS -lt $deadline ] || { cat "$EP_TMP/prom/log"; fail "prometheus not ready"; }
  kill -0 "$PROM" 2>/dev/null || { cat "$EP_TMP/prom/log"; fail "prometheus exited"; }
  sleep 0.2
done
metrics > "$EP_TMP/m.txt"
for n in a b; do
  want=$(grep "node=\"$n@$host\"" "$EP_TMP/m.txt" | sed 's/{.*//' | sort -u)
  deadline=$((SECONDS + 30))
  while :; do
    got=$(curl -sf "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=group by (__name__) ({node=\"$n@$host\"})" \
          | jq -r '.data.result[].metric.__name__' | sort -u) || true
    [ "$got" = "$want" ] && break
    [ $SECONDS -lt $deadline ] || fail "Prometheus has for $n: $(echo $got) ; /metrics: $(echo $want)"
    sleep 0.5
  done
done
echo "ok   Prometheus: every series of a and b ($(echo "$want" | wc -l) names each)"

kill -TERM "$MAIN"; ep_wait_child "$MAIN" 10 || fail "the agent did not exit 0 on SIGTERM"
grep -q "stopping (signal 15)" "$EP_TMP/main.err" || fail "no stop line"
kill "$PROM" 2>/dev/null || true
echo "9 passed, 0 failed"
