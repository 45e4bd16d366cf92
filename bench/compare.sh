#!/usr/bin/env bash
# compare.sh [-r ROUNDS] [-b BENCHES] [-k DIR] OLD_REV NEW_REV
#
# Builds two git revisions of this repository (git archive into a temporary
# folder, scripts/build.sh with -DEP_BENCH=ON) and runs the bench programs of
# both in the same run, alternately: every round runs each bench of OLD and
# of NEW back to back, the one that goes first changing round by round, so a
# burst of load from elsewhere on the machine hits both alike. Prints, per
# bench, the median over the rounds of every figure, OLD and NEW side by side
# (markdown), with NEW/OLD.
#
#   -r ROUNDS   rounds (default 3: a few minutes on 2 cores; issue 13's
#               targets want 20 or more)
#   -b BENCHES  comma-separated, of: codec, alt, peer, node, node_pinned
#               (default all; node_pinned is bench_node under taskset -c 0)
#   -k DIR      build into DIR/<commit> and keep it, reusing a build already
#               there (default: a temporary folder, removed at the end)
#
# Each bench runs in a short mode: bench_codec 1, bench_alt 2000 10000 64,
# bench_peer 1, bench_node 1; a round's figure is that run's, the table's the
# median of the rounds. Committed revisions only: the working tree's changes
# are not in either build. OLD == NEW is allowed (one build, run twice per
# round: the spread between the columns is the noise).
#
# bench_peer gets a private EPMD, HOME and cookie; bench_node makes its own.
# Every process a run starts carries COMPARE_TAG, and the EXIT trap kills
# what is left with it. A bench that fails in any round ends the comparison:
# its reason on stderr, exit status 2, no table.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "compare.sh: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 2; }

rounds=3 benches=codec,alt,peer,node,node_pinned keep=
while getopts r:b:k:h opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    b) benches=$OPTARG ;;
    k) keep=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
(($# == 2)) || usage
[[ $rounds =~ ^[0-9]+$ ]] && ((rounds >= 1)) || fail "ROUNDS must be a whole number >= 1, not '$rounds'"
IFS=, read -r -a blist <<<"$benches"
for b in "${blist[@]}"; do
  case $b in codec | alt | peer | node | node_pinned) ;; *) fail "unknown bench '$b' (codec, alt, peer, node, node_pinned)" ;; esac
done

old=$(git -C "$here" rev-parse --verify -q "$1^{commit}") || fail "no such revision: $1"
new=$(git -C "$here" rev-parse --verify -q "$2^{commit}") || fail "no such revision: $2"
command -v taskset >/dev/null || [[ ,$benches, != *,node_pinned,* ]] || fail "taskset (util-linux) is needed for node_pinned"

export COMPARE_TAG="compare-$$"
tmp=$(mktemp -d /tmp/erlpeer-compare.XXXXXX)
epmd_pid=
. "$here/bench/sweep.sh"
sweep() { bench_sweep "^COMPARE_TAG=$COMPARE_TAG\$"; }
trap '[[ -n $epmd_pid ]] && kill "$epmd_pid" 2>/dev/null; sweep; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# --- builds --------------------------------------------------------------------------------

builds=${keep:-$tmp/builds}
mkdir -p "$builds"
build() { # commit -> prints the build folder
  local c=$1 d=$builds/$1
  if [[ ! -x $d/build/bench/bench_codec ]]; then
    echo "== building ${c:0:12} into $d" >&2
    rm -rf "$d" && mkdir -p "$d/src"
    git -C "$here" archive "$c" | tar -x -C "$d/src" || fail "git archive of ${c:0:12} failed"
    bash "$d/src/scripts/build.sh" "$d/build" -DEP_BENCH=ON -DEP_TESTS=OFF >"$d/build.log" 2>&1 ||
      { tail -n 30 "$d/build.log" >&2; fail "the build of ${c:0:12} failed (log: $d/build.log)"; }
  fi
  echo "$d/build"
}
old_dir=$(build "$old")
new_dir=$(build "$new")

# --- a private world for bench_peer ----------------------------------------------------------

world=$tmp/home
mkdir -p "$world"
(umask 077 && head -c 15 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$world/.erlang.cookie")
chmod 400 "$world/.erlang.cookie"
start_epmd() {
  local port tries
  for tries in 1 2 3 4 5 6 7 8; do
    port=$((40000 + RANDOM % 20000))
    epmd -port "$port" >"$tmp/epmd.log" 2>&1 &
    epmd_pid=$!
    local i
    for i in $(seq 50); do
      if ERL_EPMD_PORT=$port epmd -names >/dev/null 2>&1; then
        epmd_port=$port
        return 0
      fi
      kill -0 "$epmd_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$epmd_pid" 2>/dev/null || true
    wait "$epmd_pid" 2>/dev/null || true
    epmd_pid=
  done
  fail "could not start a private epmd (last log: $(tr '\n' ' ' <"$tmp/epmd.log"))"
}
if [[ ,$benches, == *,peer,* ]]; then start_epmd; fi

# --- running and parsing -----------------------------------------------------------------------

# Prints "key<TAB>value" for every figure of one bench's output (stdin).
parse() { # bench
  case $1 in
    node | node_pinned)
      awk '$1 == "RESULT" { print $2 " " $3 "\t" $4 }
           $1 == "CPU" && NF == 4 { print "client CPU us, " $2 " " $3 "\t" $4 }' ;;
    codec)
      awk '/^\([a-d]\)/ { w = $1 } /^ (encode|decode):/ { op = $1; sub(":", "", op) }
           / MB\/s / { print w " " op " " $1 ", MB/s\t" $4 }' ;;
    alt)
      awk '$1 == "standard_io" || $1 == "tcp" {
             print $1 " C latency us\t" $2; print $1 " Erlang latency us\t" $3
             print $1 " C calls/s\t" $5; print $1 " Erlang calls/s\t" $6 }
           /^controller CPU per pipelined call:/ {
             print "standard_io controller CPU us/call\t" $7; print "tcp controller CPU us/call\t" $10 }' ;;
    peer)
      awk '/peak RSS/ { for (i = 1; i <= NF; i++) { if ($i == "kB,") print "holding 16 peers: peak RSS kB\t" $(i - 1)
                                                    if ($i == "ms" && $(i + 1) == "per") print "holding 16 peers: CPU ms per peer\t" $(i - 1) }
                        next }
           match($0, / +-?[0-9.]+ ms/) { k = substr($0, 1, RSTART - 1); v = substr($0, RSTART, RLENGTH)
                                         sub(/ ms$/, "", v); gsub(/ /, "", v); print k "\t" v }' ;;
  esac
}

run_one() { # bench side dir round
  local b=$1 side=$2 dir=$3 r=$4 out=$tmp/$1.$2.$4.out err=$tmp/$1.$2.$4.err st=0
  local -a cmd
  local bin=$dir/bench/bench_${b%_pinned}
  case $b in
    codec) cmd=("$bin" 1) ;;
    alt) cmd=("$bin" 2000 10000 64) ;;
    peer) cmd=("$bin" 1 "$dir/erlpeer") ;;
    node) cmd=("$bin" 1) ;;
    node_pinned) cmd=(taskset -c 0 "$bin" 1) ;;
  esac
  [[ -x $bin ]] || fail "$side has no ${bin##*/} ($bin)"
  if [[ $b == peer ]]; then
    (cd "$dir" && HOME=$world ERL_EPMD_PORT=$epmd_port "${cmd[@]}") >"$out" 2>"$err" || st=$?
  else
    (cd "$dir" && "${cmd[@]}") >"$out" 2>"$err" || st=$?
  fi
  if ((st != 0)); then
    tail -n 20 "$err" >&2
    fail "round $r: $b of $side (${cmd[*]}) failed, exit status $st"
  fi
  local n
  n=$(parse "$b" <"$out" | tee -a "$tmp/$b.$side.tsv" | wc -l)
  ((n > 0)) || { cat "$out" >&2; fail "round $r: $b of $side printed no figure this script can read"; }
}

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "# compare.sh: OLD ${old:0:12} ($1) against NEW ${new:0:12} ($2)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), cpu: ${cpu:-unknown}, $(nproc) vCPU, $rounds round(s), benches: $benches," \
  "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$SECONDS
for ((r = 1; r <= rounds; r++)); do
  for b in "${blist[@]}"; do
    if ((r % 2)); then
      run_one "$b" old "$old_dir" "$r"; run_one "$b" new "$new_dir" "$r"
    else
      run_one "$b" new "$new_dir" "$r"; run_one "$b" old "$old_dir" "$r"
    fi
  done
  echo "== round $r/$rounds done ($((SECONDS - t0)) s, load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
echo "(load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - t0)) s)"

# --- the tables -------------------------------------------------------------------------------

for b in "${blist[@]}"; do
  echo
  echo "## $b (medians of $rounds)"
  echo
  echo "| figure | OLD ${old:0:12} | NEW ${new:0:12} | NEW/OLD |"
  echo "|---|---:|---:|---:|"
  awk -F'\t' -v O="$tmp/$b.old.tsv" -v N="$tmp/$b.new.tsv" '
    function load(file, side,   line, f, k) {
      while ((getline line < file) > 0) {
        split(line, f, "\t"); k = f[1]
        if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
        cnt[side, k]++; val[side, k, cnt[side, k]] = f[2] + 0
      }
      close(file)
    }
    function median(side, k,   n, i, j, t, a) {
      n = cnt[side, k]
      if (!n) return ""
      for (i = 1; i <= n; i++) a[i] = val[side, k, i]
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function fmt(v) {
      if (v == "") return "-"
      if (v >= 1000 || v <= -1000) return sprintf("%.0f", v)
      if (v >= 100 || v <= -100) return sprintf("%.1f", v)
      return sprintf("%.2f", v)
    }
    BEGIN {
      load(O, "o"); load(N, "n")
      for (i = 1; i <= nk; i++) {
        k = order[i]; o = median("o", k); n = median("n", k)
        r = (o != "" && n != "" && o != 0) ? sprintf("%.2fx", n / o) : "-"
        printf "| %s | %s | %s | %s |\n", k, fmt(o), fmt(n), r
      }
    }'
done
