# Helpers shared by the agent's tests (test_agent_*.sh), sourced after lib.sh.

# start_agent TAG ARGS...: an agent whose stderr is $EP_TMP/TAG.err and
# stdout $EP_TMP/TAG.json; sets AGENT_PID, and URL when it serves HTTP.
start_agent() {
  local tag=$1; shift
  : > "$EP_TMP/$tag.err"
  "$EP_CLI" agent "$@" > "$EP_TMP/$tag.json" 2> "$EP_TMP/$tag.err" &
  AGENT_PID=$!
  URL=
  if ep_wait_for "$EP_TMP/$tag.err" 'serving /metrics on' 10 "$AGENT_PID"; then
    URL=$(grep -o 'http://[^ ]*/metrics' "$EP_TMP/$tag.err" | head -1)
  fi
}
# start_agent_http TAG ARGS...: the same, failing the test unless it serves HTTP.
start_agent_http() {
  start_agent "$@"
  [ -n "$URL" ] || fail "$1: the agent does not serve HTTP: $(cat "$EP_TMP/$1.err")"
}
# wait_log TAG PATTERN SECS
wait_log() { ep_wait_for "$EP_TMP/$1.err" "$2" "${3:-10}" || { cat "$EP_TMP/$1.err" >&2; fail "$1: no '$2' in the log"; }; }
# mawk reads a pipe in large blocks unless told to read line by line
if awk -W version 2>&1 | grep -q mawk; then FOLLOW_AWK=(awk -W interactive); else FOLLOW_AWK=(awk); fi
