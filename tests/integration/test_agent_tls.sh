#!/usr/bin/env bash
# erlpeer agent --ssl-dist-optfile against a real erl node running TLS
# distribution (-proto_dist inet_tls, mutual TLS: verify_peer and
# fail_if_no_peer_cert on its side, verify_peer on the agent's). The
# certificates are made here with the openssl CLI into the test's private
# folder (no key is committed). The agent scrapes the node over TLS
# (/metrics: erlpeer_node_up 1 and the VM series); an agent that does not
# trust the node's CA, and one whose own certificate the node does not
# trust, each get an error series and one log line, and keep running; an
# optfile the agent cannot use is exit 2 with its reason. Waits are for log
# lines and JSON lines, each bounded.
set -Eeuo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_lib.sh"
ep_world
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND exited $?" >&2' ERR
command -v openssl >/dev/null || fail "openssl missing"
host=$(hostname -s)
IV=200 # ms

# --- certificates: two CAs, the node's, the agent's, a stranger's (other CA) ----------
C="$EP_TMP/tls"
mkdir -m 0700 "$C"
ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/$1.key" -out "$C/$1.pem" \
    -days 2 -subj "/CN=$1" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || fail "openssl: cannot make CA $1"
}
leaf() { # leaf NAME CA
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/$1.key" -out "$C/$1.csr" \
    -subj "/CN=$1" 2>/dev/null || fail "openssl: cannot make a request for $1"
  printf '%s\n' "subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1" \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyAgreement" \
    "extendedKeyUsage=serverAuth,clientAuth" > "$C/$1.ext"
  openssl x509 -req -in "$C/$1.csr" -CA "$C/$2.pem" -CAkey "$C/$2.key" -CAcreateserial -days 2 \
    -extfile "$C/$1.ext" -out "$C/$1.pem" 2>/dev/null || fail "openssl: cannot sign $1"
  chmod 600 "$C/$1.key"
}
conf() { # conf FILE CERT CA: OTP's optfile for mutual TLS
  local s="{certfile, \"$C/$2.pem\"}, {keyfile, \"$C/$2.key\"}, {cacertfile, \"$C/$3.pem\"}, {verify, verify_peer}"
  printf '[{server, [%s, {fail_if_no_peer_cert, true}]},\n {client, [%s]}].\n' "$s" "$s" > "$C/$1"
}
ca ca
ca other_ca
leaf node ca
leaf agent ca
leaf stranger other_ca
conf node.conf node ca
conf agent.conf agent ca
conf distrust.conf agent other_ca   # the agent does not know the node's CA
conf stranger.conf stranger ca      # the node does not know the agent's CA
printf '[{client, [{crl_check, true}]}].\n' > "$C/crl.conf"

ep_start_epmd
ep_start_erl t -proto_dist inet_tls -ssl_dist_optfile "$C/node.conf"
ep_start_erl p # plain, to tell TLS from plain

# wait_errors TAG NODE SECS: until a JSON line counts at least 3 errors for NODE
wait_errors() {
  ep_wait_for "$EP_TMP/$1.json" "\"node\":\"$2\".*\"errors\":{[^}]*\":\([3-9]\|[1-9][0-9][0-9]*\)[,}]" "$3" \
    || fail "$1: no 3 errors for $2 in $3 s: $(tail -2 "$EP_TMP/$1.json" | cut -c1-300) $(cat "$EP_TMP/$1.err")"
}

# --- usage: the optfile is read at start --------------------------------------------
expect_rc 0 "$EP_CLI" agent --help
expect_out "  --ssl-dist-optfile FILE"
expect_rc 2 "$EP_CLI" agent --listen none --ssl-dist-optfile "$EP_TMP/none.conf" t
expect_err "none.conf"
expect_rc 2 "$EP_CLI" agent --listen none --ssl-dist-optfile "$C/crl.conf" t
expect_err "crl_check"
echo "ok   a bad optfile: exit 2, named"

# --- scraped over TLS ---------------------------------------------------------------
start_agent_http good --listen 127.0.0.1:0 --interval $IV --json --ssl-dist-optfile "$C/agent.conf" t
GOOD=$AGENT_PID
wait_log good "t@$host: up"
ep_wait_for "$EP_TMP/good.json" "\"node\":\"t@$host\".*\"scrapes_total\":[2-9]" 10 \
  || fail "good: no scrapes of t: $(cat "$EP_TMP/good.err")"
curl -sf --max-time 5 "$URL" > "$EP_TMP/m.txt" || fail "GET /metrics failed"
grep -qx "erlpeer_node_up{node=\"t@$host\"} 1" "$EP_TMP/m.txt" || fail "no erlpeer_node_up 1 for t: $(grep erlpeer_ "$EP_TMP/m.txt")"
grep -q "^erlang_vm_processes{node=\"t@$host\"} [0-9]" "$EP_TMP/m.txt" || fail "no VM series for t"
# the node sees the agent among its hidden nodes (t speaks only TLS
# distribution: a plain dial fails, the last part of this test)
"$EP_CLI" call --ssl-dist-optfile "$C/agent.conf" "t@$host" \
  --eval '[N || N <- nodes(hidden), lists:prefix("erlpeer_agent@", atom_to_list(N))].' > "$OUT" 2> "$ERR" \
  || fail "call over TLS failed"
grep -q "erlpeer_agent@$host" "$OUT" || fail "t does not see the agent among its hidden nodes: $(cat "$OUT")"
echo "ok   scraped over TLS distribution: erlpeer_node_up 1"

kill -TERM "$GOOD"
ep_wait_child "$GOOD" 10 || fail "good agent: exit $?"

# --- untrusted certificates, both ways ----------------------------------------------
start_agent_http distrust --listen 127.0.0.1:0 --interval $IV --json --ssl-dist-optfile "$C/distrust.conf" t
D=$AGENT_PID D_URL=$URL
start_agent_http stranger --listen 127.0.0.1:0 --interval $IV --json --ssl-dist-optfile "$C/stranger.conf" t
S=$AGENT_PID S_URL=$URL
wait_errors distrust "t@$host" 15
wait_errors stranger "t@$host" 15
for tag in distrust stranger; do
  u=$D_URL; [ $tag = stranger ] && u=$S_URL
  curl -sf --max-time 5 "$u" > "$EP_TMP/$tag.txt" || fail "$tag: GET /metrics failed"
  grep -qx "erlpeer_node_up{node=\"t@$host\"} 0" "$EP_TMP/$tag.txt" || fail "$tag: no erlpeer_node_up 0: $(grep erlpeer_ "$EP_TMP/$tag.txt")"
  grep -q "^erlpeer_scrape_errors_total{node=\"t@$host\",reason=\"[a-z_]*\"} [0-9]" "$EP_TMP/$tag.txt" \
    || fail "$tag: no error series"
  n=$(grep -c "t@$host: not up" "$EP_TMP/$tag.err" || true)
  [ "$n" = 1 ] || fail "$tag: $n log lines for t's failures, want 1: $(cat "$EP_TMP/$tag.err")"
  echo "     $tag: $(grep "t@$host: not up" "$EP_TMP/$tag.err" | sed 's/^[^ ]* //') / $(grep -o 'reason="[a-z_]*"} [0-9]*' "$EP_TMP/$tag.txt" | head -1)"
done
# a failed handshake counts as reason="tls"
grep -q "^erlpeer_scrape_errors_total{node=\"t@$host\",reason=\"tls\"} [1-9]" "$EP_TMP/distrust.txt" \
  || fail "distrust: no reason=\"tls\" series: $(grep scrape_errors "$EP_TMP/distrust.txt")"
# the agent that does not trust the node's CA says why, in OpenSSL's words
grep -q "t@$host: not up: .*certificate" "$EP_TMP/distrust.err" || fail "distrust: the log does not name the certificate: $(cat "$EP_TMP/distrust.err")"
kill -0 "$D" && kill -0 "$S" || fail "an agent died on a TLS failure"
kill -TERM "$D" "$S"
ep_wait_child "$D" 10 || fail "distrust agent: exit $?"
ep_wait_child "$S" 10 || fail "stranger agent: exit $?"
echo "ok   untrusted certificates either way: erlpeer_node_up 0, an error series, one log line, no crash"

# --- a TLS agent against a plain node: an error series, not a crash ----------------
start_agent_http plain --listen 127.0.0.1:0 --interval $IV --json --ssl-dist-optfile "$C/agent.conf" p
P=$AGENT_PID
wait_errors plain "p@$host" 15
kill -0 "$P" || fail "the agent died against a plain node"
kill -TERM "$P"
ep_wait_child "$P" 10 || fail "plain agent: exit $?"
echo "ok   a TLS agent against a plain node: an error series"
echo "5 passed, 0 failed"
