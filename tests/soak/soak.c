/* soak.c - the whole runtime under mixed load for a while, against real
 * nodes it starts (tests/support/ep_testenv.h), all at once on one loop:
 *
 *  - SOAK_CALLS (default 100000) RPCs to a real erl node "target", spread
 *    evenly over the run, at most 256 in flight (ep_rpc_call, async);
 *  - peers started and stopped one after another, over dist, tcp and
 *    standard_io in turn (ep_peer_* on a controller on the same loop, which
 *    has our node for the dist ones), each answering one call;
 *  - from a thread, plain sockets at our node's listening port: garbage
 *    bytes, half handshakes (a send_name cut short), and idle sockets (up
 *    to IDLE_MAX held open at once, the oldest closed as new ones come).
 *
 * Checked: every call answered exactly once and with its own value (a
 * bitmap of call ids); no error other than the expected ones (none from
 * calls or peers; the attacker's sockets may be reset or refused by the
 * handshake cap); RSS (VmRSS) and open descriptors (/proc/self/fd)
 * sampled every second stay flat: after a warm-up (the first 10% of the
 * run, at least 5 s), the last quarter's maximum is within a bound of the
 * first quarter's maximum:
 *  - RSS: + max(8 MiB, 10%). glibc's arenas and the loop's buffers move by
 *    a few MiB as peers come and go and call bursts vary; a leak of 100
 *    bytes per call would show as 10 MB over 100000 calls, one of a few KiB
 *    per peer or per hostile connection as well. Under ASan (whose
 *    quarantine grows RSS by design) RSS is printed, not checked:
 *    LeakSanitizer checks at exit instead.
 *  - descriptors: + 8. A peer being started or stopped holds a few (pipes,
 *    its sockets) and the attacker's sockets come and go, bounded by
 *    IDLE_MAX on both ends; a leak of one per peer or per connection grows
 *    without bound.
 * Prints the curves (time, rss_kb, fds, calls done) as a table. SOAK_SECONDS
 * (default 120) sets the length. Exit 0 when every check holds. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "ep_error.h"
#include "ep_node.h"
#include "ep_peer.h"
#include "ep_testenv.h"

#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif
#ifndef SOAK_ASAN
#define SOAK_ASAN 0
#endif

#define IN_FLIGHT 256
#define IDLE_MAX 24
#define MAX_SAMPLES 7200 /* two hours of samples */

static struct {
  uv_loop_t loop;
  uv_timer_t tick, sample;
  ep_testenv *env;
  ep_node *node;
  ep_ctl *ctl;
  char target[256];
  int node_status;
  bool node_started, node_closed;
  /* calls */
  uint64_t ncalls, started, done, inflight;
  uint8_t *seen; /* bitmap of answered call ids */
  ep_arena *args; /* a call's arguments (encoded before ep_rpc_call returns) */
  uint64_t t0_ms, seconds;
  /* peers */
  ep_peer *peer;
  int kind;
  uint64_t peer_cycles[3];
  bool peers_stop, peer_busy;
  /* samples */
  struct {
    uint64_t t;
    long rss_kb;
    int fds;
    uint64_t calls;
  } s[MAX_SAMPLES];
  size_t ns;
  int errors;
  bool ending;
} S;

static struct {
  pthread_t th;
  atomic_bool stop;
  int port;
  atomic_ulong garbage, half, idle, refused;
} A;

static void fail(const char *fmt, const char *a, int err) {
  S.errors++;
  if (S.errors <= 20) {
    fprintf(stderr, "soak: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, ": %s\n", ep_strerror(err));
  }
}

static uint64_t now_ms(void) { return uv_hrtime() / 1000000; }

/* --- samples ------------------------------------------------------------------------ */

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

static int fd_count(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own */
}

static void on_sample(uv_timer_t *t) {
  (void)t;
  if (S.ns == MAX_SAMPLES) return;
  S.s[S.ns].t = (now_ms() - S.t0_ms + 500) / 1000;
  S.s[S.ns].rss_kb = rss_kb();
  S.s[S.ns].fds = fd_count();
  S.s[S.ns].calls = S.done;
  S.ns++;
}

/* --- calls ------------------------------------------------------------------------------ */

static void issue_calls(void);

static void on_answer(ep_node *n, const ep_result *r, void *ud) {
  (void)n;
  uint64_t id = (uint64_t)(uintptr_t)ud;
  S.inflight--;
  if (r->status) {
    fail("call %s", "failed", r->status);
    return;
  }
  if (r->value.type != EP_T_INT || (uint64_t)r->value.v.i != id) {
    fail("call %s", "answered with another call's value", 0);
    return;
  }
  if (S.seen[id / 8] & (1u << (id % 8))) {
    fail("call %s", "answered twice", 0);
    return;
  }
  S.seen[id / 8] |= (uint8_t)(1u << (id % 8));
  S.done++;
}

/* Calls are spread evenly over the run, less 3 s at the end for the last
 * answers: by time t, t/(T-3) of them have been started, at most IN_FLIGHT
 * at once. */
static void issue_calls(void) {
  uint64_t el = now_ms() - S.t0_ms, span = S.seconds > 6 ? (S.seconds - 3) * 1000 : 3000;
  uint64_t due = el >= span ? S.ncalls : S.ncalls * el / span;
  while (S.started < due && S.inflight < IN_FLIGHT) {
    uint64_t id = S.started++;
    ep_arena_reset(S.args);
    int r = ep_rpc_call(S.node, S.target, "erlang", "abs", EP_LIST(S.args, ep_int(-(int64_t)id)), 30000, on_answer,
                        (void *)(uintptr_t)id);
    if (r) {
      fail("call %s", "not sent", r);
      continue;
    }
    S.inflight++;
  }
}

/* --- peers -------------------------------------------------------------------------------------------- */

static void next_peer(void);
static const char *const kind_name[] = {"dist", "tcp", "standard_io"};

static void on_peer_stopped(ep_peer *p, void *ud) {
  (void)ud;
  ep_peer_free(p);
  S.peer = NULL;
  S.peer_busy = false;
  S.peer_cycles[S.kind]++;
  S.kind = (S.kind + 1) % 3;
  next_peer();
}

static void stop_peer(ep_peer *p) {
  int r = ep_peer_stop(p, on_peer_stopped, NULL);
  if (r) {
    fail("peer %s: stop", kind_name[S.kind], r);
    ep_peer_free(p);
    S.peer = NULL;
    S.peer_busy = false;
  }
}

static void on_peer_call(ep_peer *p, const ep_result *r, void *ud) {
  (void)ud;
  if (r->status) fail("peer %s: call", kind_name[S.kind], r->status);
  stop_peer(p);
}

static void on_peer_started(ep_peer *p, int err, void *ud) {
  (void)ud;
  if (err) {
    fail("peer %s: start", kind_name[S.kind], err);
    stop_peer(p);
    return;
  }
  int r = ep_peer_call(p, ep_atom("erlang"), ep_atom("node"), ep_nil(), 20000, on_peer_call, NULL);
  if (r) {
    fail("peer %s: call", kind_name[S.kind], r);
    stop_peer(p);
  }
}

static void next_peer(void) {
  if (S.peers_stop || S.peer_busy) return;
  ep_peer_opts *o = ep_peer_opts_new();
  char name[96];
  ep_peer_random_name("soak", name, sizeof name);
  ep_peer_opts_set_name(o, name);
  ep_peer_opts_set_wait_boot(o, 30000);
  if (S.kind == 1) ep_peer_opts_set_connection_tcp(o, "127.0.0.1", 0);
  if (S.kind == 2) ep_peer_opts_set_connection_stdio(o);
  int r = ep_peer_start(S.ctl, o, true, &S.peer, on_peer_started, NULL);
  ep_peer_opts_free(o);
  if (r) {
    fail("peer %s: start", kind_name[S.kind], r);
    S.peers_stop = true;
    return;
  }
  S.peer_busy = true;
}

/* --- the hostile stream -------------------------------------------------------------------------------- */

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* About 60 connections a second: garbage, half handshakes, idle ones. */
static void *attacker(void *ud) {
  (void)ud;
  int idle[IDLE_MAX];
  size_t nidle = 0, oldest = 0;
  uint32_t x = 2463534242u;
  for (unsigned i = 0; !atomic_load(&A.stop); i++) {
    int fd = dial(A.port);
    if (fd < 0) {
      atomic_fetch_add(&A.refused, 1);
      usleep(50000);
      continue;
    }
    switch (i % 3) {
      case 0: { /* garbage */
        uint8_t b[97];
        for (size_t k = 0; k < sizeof b; k++) {
          x ^= x << 13, x ^= x >> 17, x ^= x << 5;
          b[k] = (uint8_t)x;
        }
        (void)!write(fd, b, sizeof b);
        close(fd);
        atomic_fetch_add(&A.garbage, 1);
        break;
      }
      case 1: { /* a send_name message (length 23, 'N', flags...) cut short */
        static const uint8_t half[] = {0, 23, 'N', 0, 0, 0, 0, 0x0d, 0x07, 0xdf};
        (void)!write(fd, half, sizeof half);
        close(fd);
        atomic_fetch_add(&A.half, 1);
        break;
      }
      default: /* idle: held, the oldest closed once IDLE_MAX are */
        if (nidle < IDLE_MAX) {
          idle[nidle++] = fd;
        } else {
          close(idle[oldest]);
          idle[oldest] = fd;
          oldest = (oldest + 1) % IDLE_MAX;
        }
        atomic_fetch_add(&A.idle, 1);
        break;
    }
    usleep(16000);
  }
  for (size_t k = 0; k < nidle; k++) close(idle[k]);
  return NULL;
}

/* --- the run ------------------------------------------------------------------------------------------ */

static void on_node_closed(ep_node *n, void *ud) {
  (void)n, (void)ud;
  S.node_closed = true;
}

static void on_node_started(ep_node *n, int status, void *ud) {
  (void)n, (void)ud;
  S.node_status = status;
  S.node_started = true;
}

static void on_tick(uv_timer_t *t) {
  (void)t;
  if (!S.ending) issue_calls();
  if (now_ms() - S.t0_ms >= S.seconds * 1000) S.peers_stop = true;
}

static uint64_t env_u64(const char *k, uint64_t dflt) {
  const char *v = getenv(k);
  return v && *v ? strtoull(v, NULL, 10) : dflt;
}

/* Max of field over samples [from, to). */
#define MAXOF(field, from, to)                                           \
  ({                                                                     \
    long m_ = -1;                                                        \
    for (size_t i_ = (from); i_ < (to); i_++)                            \
      if ((long)S.s[i_].field > m_) m_ = (long)S.s[i_].field;            \
    m_;                                                                  \
  })

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  S.seconds = env_u64("SOAK_SECONDS", 120);
  S.ncalls = env_u64("SOAK_CALLS", 100000);
  if (S.seconds < 15) S.seconds = 15; /* enough samples for the quarters past the warm-up */
  /* The program's own bookkeeping touched up front, so its pages do not
   * show in the RSS curve as it fills. */
  S.seen = malloc(S.ncalls / 8 + 1);
  if (!S.seen) return 1;
  memset(S.seen, 0, S.ncalls / 8 + 1);
  memset(S.s, 0, sizeof S.s);
  S.args = ep_arena_new(NULL);
  S.env = ep_testenv_new();
  if (ep_testenv_start_epmd(S.env) != 0) {
    fprintf(stderr, "soak: epmd did not start\n");
    return 1;
  }
  if (ep_testenv_start_erl(S.env, "target", NULL, S.target, sizeof S.target) <= 0) {
    fprintf(stderr, "soak: the target node did not start\n");
    ep_testenv_free(S.env);
    return 1;
  }
  uv_loop_init(&S.loop);
  ep_node_opts *no = ep_node_opts_new();
  ep_node_opts_set_name(no, "soak");
  ep_node_opts_set_epmd_mode(no, EP_EPMD_EXTERNAL);
  ep_node_opts_set_setuptime(no, 2000);
  int r = ep_node_start(&S.loop, no, on_node_started, NULL, &S.node);
  ep_node_opts_free(no);
  if (r == 0)
    while (!S.node_started) uv_run(&S.loop, UV_RUN_ONCE);
  if (r || S.node_status) {
    fprintf(stderr, "soak: our node did not start: %s\n", ep_strerror(r ? r : S.node_status));
    ep_testenv_free(S.env);
    return 1;
  }
  S.ctl = ep_ctl_new(&S.loop);
  ep_ctl_set_node(S.ctl, S.node);
  A.port = ep_node_port(S.node);
  printf("soak: %llu s, %llu calls (%d in flight) to %s; peers dist/tcp/standard_io in turn; "
         "hostile sockets at port %d%s\n",
         (unsigned long long)S.seconds, (unsigned long long)S.ncalls, IN_FLIGHT, S.target, A.port,
         SOAK_ASAN ? " (ASan: RSS not checked)" : "");

  S.t0_ms = now_ms();
  uv_timer_init(&S.loop, &S.tick);
  uv_timer_init(&S.loop, &S.sample);
  uv_timer_start(&S.tick, on_tick, 0, 10);
  uv_timer_start(&S.sample, on_sample, 0, 1000);
  pthread_create(&A.th, NULL, attacker, NULL);
  next_peer();
  /* Until the time is up, every call is answered, and the peer cycle has
   * come to rest; bounded: 60 s past the time. */
  uint64_t limit = (S.seconds + 60) * 1000;
  while ((S.done + (uint64_t)S.errors < S.ncalls || S.inflight || S.peer_busy || !S.peers_stop) &&
         now_ms() - S.t0_ms < limit)
    uv_run(&S.loop, UV_RUN_ONCE);
  bool timed_out = now_ms() - S.t0_ms >= limit;
  on_sample(NULL);
  S.ending = true;
  atomic_store(&A.stop, true);
  pthread_join(A.th, NULL);
  uv_timer_stop(&S.tick);
  uv_timer_stop(&S.sample);
  uv_close((uv_handle_t *)&S.tick, NULL);
  uv_close((uv_handle_t *)&S.sample, NULL);
  if (S.peer) ep_peer_free(S.peer);
  ep_ctl_free(S.ctl);
  ep_node_close(S.node, on_node_closed, NULL);
  uv_run(&S.loop, UV_RUN_DEFAULT);
  int lc = uv_loop_close(&S.loop);
  ep_testenv_free(S.env);

  /* The curves. */
  printf("\n%6s %10s %6s %10s\n", "t_s", "rss_kb", "fds", "calls");
  for (size_t i = 0; i < S.ns; i++)
    printf("%6llu %10ld %6d %10llu\n", (unsigned long long)S.s[i].t, S.s[i].rss_kb, S.s[i].fds,
           (unsigned long long)S.s[i].calls);

  uint64_t missing = 0;
  for (uint64_t id = 0; id < S.ncalls; id++)
    if (!(S.seen[id / 8] & (1u << (id % 8)))) missing++;
  size_t warm = S.ns / 10 < 5 ? 5 : S.ns / 10;
  int bad = 0;
  printf("\nsoak: calls %llu answered of %llu (missing %llu); peers dist %llu, tcp %llu, standard_io %llu; "
         "hostile: garbage %lu, half handshakes %lu, idle %lu, refused %lu; errors %d\n",
         (unsigned long long)S.done, (unsigned long long)S.ncalls, (unsigned long long)missing,
         (unsigned long long)S.peer_cycles[0], (unsigned long long)S.peer_cycles[1],
         (unsigned long long)S.peer_cycles[2], atomic_load(&A.garbage), atomic_load(&A.half),
         atomic_load(&A.idle), atomic_load(&A.refused), S.errors);
  if (missing || S.done != S.ncalls || S.errors || timed_out || lc) bad = 1;
  if (S.peer_cycles[0] + S.peer_cycles[1] + S.peer_cycles[2] < 3) {
    printf("soak: FAIL: fewer than one peer of each kind came and went\n");
    bad = 1;
  }
  if (S.ns >= warm + 8) {
    size_t q = (S.ns - warm) / 4;
    long r1 = MAXOF(rss_kb, warm, warm + q), r4 = MAXOF(rss_kb, S.ns - q, S.ns);
    long f1 = MAXOF(fds, warm, warm + q), f4 = MAXOF(fds, S.ns - q, S.ns);
    long rb = r1 / 10 > 8192 ? r1 / 10 : 8192;
    printf("soak: after %zu s of warm-up: RSS max %ld kB in the first quarter, %ld kB in the last (bound +%ld kB%s); "
           "descriptors max %ld, then %ld (bound +8)\n",
           warm, r1, r4, rb, SOAK_ASAN ? ", not checked under ASan" : "", f1, f4);
    if (!SOAK_ASAN && r4 > r1 + rb) {
      printf("soak: FAIL: RSS grew\n");
      bad = 1;
    }
    if (f4 > f1 + 8) {
      printf("soak: FAIL: descriptors grew\n");
      bad = 1;
    }
  } else {
    printf("soak: FAIL: too few samples (%zu)\n", S.ns);
    bad = 1;
  }
  if (timed_out) printf("soak: FAIL: not done 60 s past the time\n");
  if (lc) printf("soak: FAIL: the loop did not close: %s\n", uv_strerror(lc));
  printf("soak: %s\n", bad ? "FAIL" : "PASS");
  free(S.seen);
  ep_arena_free(S.args);
  return bad;
}
