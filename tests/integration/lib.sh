# lib.sh - the shell tests' private world, like tests/support/ep_testenv.c:
# a temporary HOME with a random cookie, a free EPMD port, and a tag in the
# environment that every process started from here inherits, so the EXIT
# trap kills all of them (detached erl nodes included) whatever happens.
# Waits are for events (a line from a fifo or a file, a child's exit), each
# bounded in time; nothing sleeps for a period.

ep_world() {
  EP_TEST_TAG="${EP_TEST_RUN:-eprun-manual}.sh$$"
  export EP_TEST_TAG
  # Under the run's folder ($TMPDIR/<run tag>), which ep_sweep removes
  # even when a test was killed before its trap ran.
  local base="${TMPDIR:-/tmp}/${EP_TEST_RUN:-eprun-manual}"
  mkdir -p "$base"
  EP_TMP=$(mktemp -d -p "$base")
  export HOME="$EP_TMP/home"
  mkdir -p "$HOME"
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f0-9' 'A-P' > "$HOME/.erlang.cookie"
  chmod 400 "$HOME/.erlang.cookie"
  EP_EPMD_PORT=$(ep_free_port)
  export ERL_EPMD_PORT=$EP_EPMD_PORT
  export ERL_CRASH_DUMP="$EP_TMP/erl_crash.dump"
  OUT="$EP_TMP/out"
  ERR="$EP_TMP/err"
  trap ep_cleanup EXIT
  : "${EP_CLI:?EP_CLI must name the erlpeer binary}"
}

ep_cleanup() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    if tr '\0' '\n' 2>/dev/null < "$p/environ" | grep -qx "EP_TEST_TAG=$EP_TEST_TAG"; then
      kill -9 "${p#/proc/}" 2>/dev/null || true
    fi
  done
  rm -rf "$EP_TMP"
}

fail() {
  echo "FAIL: $*" >&2
  # bounded: an output can be a 64 MiB reply
  [ -f "$OUT" ] && { echo "--- stdout:" >&2; head -c 4096 "$OUT" | cut -c1-400 >&2; }
  [ -f "$ERR" ] && { echo "--- stderr:" >&2; head -c 4096 "$ERR" | cut -c1-400 >&2; }
  echo "0 passed, 1 failed"
  exit 1
}

# A TCP port nobody listens on, below the kernel's ephemeral range (32768
# and up), where outgoing connections could hold it without listening.
ep_free_port() {
  local p
  for _ in $(seq 1 20); do
    p=$(( (RANDOM % 12000) + 20000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  echo "$p"
}

# ep_wait_for FILE PATTERN [SECS [PID]]: waits until FILE holds a line
# matching PATTERN (grep's), at most SECS (20) seconds, or until process PID
# is gone. tail -F follows the file through inotify: it wakes on each write,
# not on a period.
ep_wait_for() {
  local file=$1 pat=$2 secs=${3:-20} pid=${4:-} fd tp rc
  exec {fd}< <(exec timeout "$secs" tail -n +1 -F ${pid:+--pid="$pid"} -- "$file" 2>/dev/null)
  tp=$!
  grep -q -m1 -- "$pat" <&"$fd"
  rc=$?
  exec {fd}<&-
  kill "$tp" 2>/dev/null
  return $rc
}

# ep_wait_child PID [SECS]: waits for the exit of PID, a background child
# of this shell, and returns its status; one still running after SECS (10)
# is killed (status 137). bash's wait is the event; the sleep beside it is
# only the deadline (wait -n returns on whichever ends first).
ep_wait_child() {
  local pid=$1 secs=${2:-10} wd st done=
  (exec sleep "$secs") &
  wd=$!
  wait -n -p done "$pid" "$wd"
  st=$?
  if [ "$done" = "$pid" ]; then
    # SIGKILL: a subshell of ours not yet turned into sleep would run our
    # EXIT trap (the cleanup) on SIGTERM
    kill -9 "$wd" 2>/dev/null
    wait "$wd" 2>/dev/null
  else
    kill -9 "$pid" 2>/dev/null
    wait "$pid"
    st=$?
  fi
  return $st
}

# A private epmd; if it cannot have its port (it exits), another port. Its
# debug output (-d -d, in $EP_EPMD_LOG) says when it listens ("entering the
# main select() loop", after its listen()) or why it cannot; we wait for
# that line. The log also tells when a node is unregistered ("unregistering
# 'NAME:Creation'"), an event to wait for.
ep_start_epmd() {
  local try pid log
  for try in 1 2 3; do
    log="$EP_TMP/epmd.$EP_EPMD_PORT.log"
    epmd -port "$EP_EPMD_PORT" -d -d 2>"$log" &
    pid=$!
    disown
    EP_EPMD_LOG=$log
    ep_wait_for "$log" 'entering the main select() loop' 10 "$pid" && return 0
    kill -9 "$pid" 2>/dev/null   # it exited (the port is not ours) or hangs
    EP_EPMD_PORT=$(ep_free_port)
    export ERL_EPMD_PORT=$EP_EPMD_PORT
  done
  fail "epmd did not start"
}

# ep_start_erl NAME [ARGS...]: a real node, waited for through a fifo.
ep_start_erl() {
  local name=$1; shift
  local fifo="$EP_TMP/ready.$name"
  mkfifo "$fifo"
  erl -sname "$name" -noshell -noinput "$@" \
      -eval 'io:format("EP_READY~n").' > "$fifo" 2>"$EP_TMP/erl.$name.err" &
  echo $! > "$EP_TMP/pid.$name"
  disown
  local line
  exec 4<"$fifo"
  while read -r -t 30 line <&4; do
    [ "$line" = EP_READY ] && { exec 4<&-; ( cat "$fifo" > /dev/null & ); return 0; }
  done
  fail "node $name did not start: $(cat "$EP_TMP/erl.$name.err")"
}

ep_pid_of() { cat "$EP_TMP/pid.$1"; }

# expect_rc RC CMD...: runs CMD (bounded to 60 s), stdout in $OUT, stderr in $ERR.
expect_rc() {
  local want=$1; shift
  local got=0
  timeout 60 "$@" >"$OUT" 2>"$ERR" || got=$?
  [ "$got" = "$want" ] || fail "$* exited $got, wanted $want"
}

expect_out() { grep -qxF -- "$1" "$OUT" || fail "stdout lacks the line '$1'"; }
expect_err() { grep -qF -- "$1" "$ERR" || fail "stderr lacks '$1'"; }
# The one term in $OUT is what erl reads from the text $1.
erl_parses_back() {
  { cat "$OUT"; echo "."; } > "$EP_TMP/got.term"
  printf '%s.\n' "$1" > "$EP_TMP/want.term"
  erl -noshell -noinput -eval "
    {ok, [Got]} = file:consult(\"$EP_TMP/got.term\"),
    {ok, [Want]} = file:consult(\"$EP_TMP/want.term\"),
    halt(case Got =:= Want of true -> 0; false -> 1 end)." \
    || fail "erl does not read back '$1' from $(cat "$OUT")"
}

# ep_run_examples FILE...: builds each docs/examples program against the
# built library (EP_SOURCE_DIR, EP_BUILD_DIR) and runs it (bounded to 60 s);
# prints one line per example and fails the test when any did not build or
# did not exit 0.
ep_run_examples() {
  local src=${EP_SOURCE_DIR:?} lib=${EP_BUILD_DIR:?}/liberlpeer.a work="$EP_TMP/examples" f name fails=0
  mkdir -p "$work"
  for f in "$@"; do
    name=$(basename "$f" .c)
    if ! cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -I"$src/dist" -I"$src/lib" \
         "$f" "$lib" -luv -lssl -lcrypto -lz -lm -lpthread -o "$work/$name" $( [ -n "${EP_ASAN:-}" ] && echo -fsanitize=address,undefined ) 2>"$work/$name.log"; then
      # an ASan build's archive needs the sanitizer runtime, a coverage
      # build's (scripts/coverage.sh) gcov's
      if ! cc -std=c11 -D_GNU_SOURCE -fsanitize=address,undefined -I"$src/dist" -I"$src/lib" "$f" "$lib" \
           -luv -lssl -lcrypto -lz -lm -lpthread -o "$work/$name" 2>>"$work/$name.log" &&
         ! cc -std=c11 -D_GNU_SOURCE --coverage -I"$src/dist" -I"$src/lib" "$f" "$lib" \
           -luv -lssl -lcrypto -lz -lm -lpthread -o "$work/$name" 2>>"$work/$name.log"; then
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
}
