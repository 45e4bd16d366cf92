/* The peer controller under allocation failure: a controller made with
 * ep_ctl_new_with(NULL, mem) takes every allocation of its peers from mem
 * (tests/unit/ep_failmem.h, which refuses the i-th one). For i = 1, 2, ...
 * the i-th allocation of one operation fails:
 *  - ep_peer_start_sync of a standard_io peer (a real erl),
 *  - ep_peer_call_sync on a running peer,
 *  - ep_peer_stop_sync,
 *  - ep_peer_start_sync of a dist peer (its controller's default node is
 *    started inside that start, with the same allocator).
 * Each time: a clear error (EP_ENOMEM; for a dist peer also EP_EBOOT when
 * the node's connection to the peer was cut, see start_once), or success
 * when the allocation had a fallback (the boot-time os:getpid() is only a nicety); no crash; no
 * leak (every block the allocator handed out is back once the controller
 * is freed, and ASan's leak check agrees); no erl left behind (no process
 * carrying this test's tag outlives the controller). The loop ends at the
 * first i that the operation does not reach (it made fewer allocations):
 * N is found, not written down.
 *
 * Run time: a failure before the spawn costs little, one after it a boot
 * (~0.3 s); most of a start's allocations (~70: the environment copied for
 * the child is most of them) come before the spawn. When an operation makes
 * more than SAMPLE_ALL + SAMPLE_MORE allocations, each of the first
 * SAMPLE_ALL fails and then every k-th (k chosen from a dry run so that
 * about SAMPLE_MORE more are tried), the last one always. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../unit/ep_failmem.h"
#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_peer.h"
#include "ep_testenv.h"

#define SAMPLE_ALL 100
#define SAMPLE_MORE 50
#define MAX_ALLOCS 5000 /* an operation that never stops allocating fails the test */

static ep_testenv *env;

/* EP_OOM_TRACE=1 in an ASan build: the stack of every refused allocation
 * (to see which one a failure report is about). */
#if defined(__SANITIZE_ADDRESS__)
void __sanitizer_print_stack_trace(void);
#define TRACE_STACK() __sanitizer_print_stack_trace()
#else
#define TRACE_STACK() ((void)0)
#endif
static bool trace;

static void *trace_malloc(size_t n, void *ud) {
  void *p = ep_failmem__malloc(n, ud);
  if (!p && trace) {
    fprintf(stderr, "--- refused allocation %ld\n", ((ep_failmem *)ud)->count);
    TRACE_STACK();
  }
  return p;
}

static void *trace_realloc(void *q, size_t n, void *ud) {
  void *p = ep_failmem__realloc(q, n, ud);
  if (!p && trace) {
    fprintf(stderr, "--- refused reallocation %ld\n", ((ep_failmem *)ud)->count);
    TRACE_STACK();
  }
  return p;
}

/* A failing allocator (tests/unit/ep_failmem.h), traced on demand. */
static void failmem_init(ep_failmem *fm) {
  ep_failmem_init(fm);
  trace = getenv("EP_OOM_TRACE") != NULL;
  fm->mem.malloc = trace_malloc;
  fm->mem.realloc = trace_realloc;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* --- helpers ------------------------------------------------------------------------ */

/* The live processes (other than this one) that carry the env's tag: the
 * peers we started and whatever they started (erl_child_setup, epmd). A
 * zombie has an empty environ. Fills at most cap pids; returns how many. */
static int tagged_processes(long *pids, int cap) {
  char want[160];
  snprintf(want, sizeof want, "EP_TEST_TAG=%s", ep_testenv_tag(env));
  size_t wl = strlen(want);
  DIR *d = opendir("/proc");
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < cap) {
    long pid = strtol(e->d_name, NULL, 10);
    if (pid <= 0 || pid == (long)getpid()) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/environ", pid);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    static char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    for (size_t i = 0; i + wl <= len; i++)
      if ((i == 0 || buf[i - 1] == 0) && !memcmp(buf + i, want, wl) && (i + wl == len || buf[i + wl] == 0)) {
        pids[n++] = pid;
        break;
      }
  }
  closedir(d);
  return n;
}

/* What ran before the test (the epmd of a dist test): not the test's. */
static long before[16];
static int nbefore;

static void note_before(void) { nbefore = tagged_processes(before, 16); }

/* Every process the test started is gone, or goes within 10 s (an
 * emulator's erl_child_setup follows it a moment later): waited for by
 * pidfd, no sleeping. Whether they all went. */
static bool none_left(void) {
  long pids[64];
  int n = tagged_processes(pids, 64);
  for (int i = 0; i < n; i++) {
    bool old = false;
    for (int j = 0; j < nbefore; j++) old |= before[j] == pids[i];
    if (!old && !ep_testenv_wait_pid_gone(pids[i], 10000)) return false;
  }
  return true;
}

static ep_peer_opts *stdio_opts(void) {
  ep_peer_opts *o = ep_peer_opts_new();
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(ep_peer_opts_set_connection_stdio(o), 0);
  ck_assert_int_eq(ep_peer_opts_add_arg(o, "-noshell"), 0);
  ck_assert_int_eq(ep_peer_opts_set_env(o, "EP_OOM_TEST", "1"), 0);
  ep_peer_opts_set_wait_boot(o, 20000);
  return o;
}

static ep_peer_opts *dist_opts(void) {
  ep_peer_opts *o = ep_peer_opts_new();
  ck_assert_ptr_nonnull(o);
  char name[96];
  ck_assert_int_eq(ep_peer_random_name("oom", name, sizeof name), 0);
  ck_assert_int_eq(ep_peer_opts_set_name(o, name), 0);
  ck_assert_int_eq(ep_peer_opts_set_connection_dist(o), 0);
  ep_peer_opts_set_wait_boot(o, 20000);
  return o;
}

/* The peer works: it has a node name and answers a call. */
static void check_running(ep_peer *p, const char *node) {
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_RUNNING);
  ck_assert_ptr_nonnull(ep_peer_node(p));
  if (node) ck_assert_str_eq(ep_peer_node(p), node);
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("node"), ep_nil(), 10000, a, &r), 0);
  ck_assert(ep_atom_eq(r.value, ep_peer_node(p)));
  ep_arena_free(a);
}

/* The controller is gone: every block is back, no peer is left. */
static void check_clean(ep_failmem *fm, long i) {
  ck_assert_msg(fm->live == 0, "allocation %ld: %ld blocks leaked", i, fm->live);
  ck_assert_msg(none_left(), "allocation %ld: an erl process is left", i);
}

/* Which i to fail after i: every one up to SAMPLE_ALL, then every k-th of
 * an operation that made n allocations in its dry run. */
static long next_i(long i, long n) {
  if (i < SAMPLE_ALL || n <= SAMPLE_ALL + SAMPLE_MORE) return i + 1;
  long k = (n - SAMPLE_ALL) / SAMPLE_MORE + 1;
  return i + k < n ? i + k : (i < n ? n : i + 1);
}

/* --- start ---------------------------------------------------------------------------- */

/* One start with allocation i failing (0: none); whether allocation i was
 * reached. Leaves nothing behind. */
static int start_ok, start_enomem, start_cut; /* how the starts ended */

static bool start_once(ep_failmem *fm, long i, bool dist, long *count) {
  ep_ctl *c = ep_ctl_new_with(NULL, &fm->mem);
  ck_assert_ptr_nonnull(c);
  ep_peer_opts *o = dist ? dist_opts() : stdio_opts();
  ep_peer *p = NULL;
  ep_failmem_fail_once(fm, i);
  int rc = ep_peer_start_sync(c, o, true, &p);
  bool reached = ep_failmem_failed(fm);
  if (count) *count = fm->count;
  ep_failmem_fail_once(fm, 0);
  /* A dist peer's connection is the node's: an allocation of the node's
   * refused while the peer connects (the handshake, reading its frames)
   * cuts the connection, and the peer exits ({exit_status,1}) or is seen
   * going (noconnection) before it has started: EP_EBOOT. */
  bool cut = dist && rc == EP_EBOOT &&
             (!strcmp(ep_ctl_last_start_reason(c), "{exit_status,1}") ||
              !strcmp(ep_ctl_last_start_reason(c), "noconnection"));
  if (reached && cut) start_cut++;
  ck_assert_msg(rc == 0 || rc == EP_ENOMEM || cut, "allocation %ld: start returned %s (%s)", i, ep_err_name(rc),
                ep_ctl_last_start_reason(c));
  if (reached && !cut) *(rc == 0 ? &start_ok : &start_enomem) += 1;
  if (rc == 0) {
    ck_assert_ptr_nonnull(p);
    check_running(p, NULL);
    long pid = ep_peer_os_pid(p);
    ck_assert_int_eq(ep_peer_stop_sync(p), 0);
    ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_DOWN);
    if (pid > 0) ck_assert(ep_testenv_wait_pid_gone(pid, 10000));
    ep_peer_free(p);
  } else {
    ck_assert_ptr_null(p);
  }
  ep_ctl_free(c);
  ep_peer_opts_free(o);
  check_clean(fm, i);
  return reached;
}

static void start_loop(bool dist) {
  ep_failmem fm;
  failmem_init(&fm);
  long n;
  ck_assert(!start_once(&fm, 0, dist, &n)); /* the dry run: how many there are */
  ck_assert_int_gt(n, 0);
  long i = 1, tried = 0;
  start_ok = start_enomem = start_cut = 0;
  while (start_once(&fm, i, dist, NULL)) {
    tried++;
    ck_assert_int_lt(i, MAX_ALLOCS);
    i = next_i(i, n);
  }
  fprintf(stderr,
          "%s start: %ld allocations in the dry run, %ld failed in turn (%d EP_ENOMEM, %d EP_EBOOT: the node's "
          "connection cut, %d started anyway)\n",
          dist ? "dist" : "standard_io", n, tried, start_enomem, start_cut, start_ok);
  ck_assert_int_gt(tried, 0);
}

START_TEST(start_stdio_each_allocation_fails) { start_loop(false); }
END_TEST

START_TEST(start_dist_each_allocation_fails) {
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  note_before();
  start_loop(true);
}
END_TEST

/* --- call ------------------------------------------------------------------------------- */

static ep_peer *start_peer(ep_ctl *c, ep_peer_shutdown mode) {
  ep_peer_opts *o = stdio_opts();
  ck_assert_int_eq(ep_peer_opts_set_shutdown(o, mode, 5000), 0);
  ep_peer *p;
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &p), 0);
  ep_peer_opts_free(o);
  return p;
}

/* lists:seq(1, 300) and its printout: an answer bigger than the first
 * chunk of a buffer or an arena. */
static int seq_call(ep_peer *p, ep_arena *a, ep_result *r) {
  ep_arena_reset(a);
  ep_term args = EP_LIST(a, ep_int(1), ep_int(300));
  return ep_peer_call_sync(p, ep_atom("lists"), ep_atom("seq"), args, 10000, a, r);
}

START_TEST(call_each_allocation_fails) {
  ep_failmem fm;
  failmem_init(&fm);
  ep_ctl *c = ep_ctl_new_with(NULL, &fm.mem);
  ck_assert_ptr_nonnull(c);
  ep_peer *p = start_peer(c, EP_PEER_SHUTDOWN_HALT);
  ep_arena *a = ep_arena_new(NULL); /* the results' (not failing) */
  ck_assert_ptr_nonnull(a);
  ep_result r;
  ck_assert_int_eq(seq_call(p, a, &r), 0); /* warms the buffers up; the dry run */
  ep_failmem_fail_once(&fm, 0);
  ck_assert_int_eq(seq_call(p, a, &r), 0);
  long n = fm.count;
  ck_assert_int_gt(n, 0);
  long i = 1, tried = 0, downs = 0;
  for (;;) {
    ep_failmem_fail_once(&fm, i);
    int rc = seq_call(p, a, &r);
    bool reached = ep_failmem_failed(&fm);
    ep_failmem_fail_once(&fm, 0);
    if (!reached) {
      ck_assert_int_eq(rc, 0);
      break;
    }
    tried++;
    ck_assert_msg(rc == 0 || rc == EP_ENOMEM, "allocation %ld: call returned %s", i, ep_err_name(rc));
    if (rc == 0) {
      ck_assert_int_eq(ep_list_len(r.value), 300);
    } else {
      ck_assert_int_eq(r.status, EP_ENOMEM);
    }
    if (ep_peer_get_state(p) != EP_PEER_RUNNING) {
      /* the failure took the peer down: it says why, and is gone */
      ck_assert_int_eq(ep_peer_down_err(p), EP_ENOMEM);
      ep_peer_free(p);
      p = start_peer(c, EP_PEER_SHUTDOWN_HALT);
      downs++;
    } else {
      /* a failed call leaves the peer working */
      ck_assert_int_eq(seq_call(p, a, &r), 0);
    }
    ck_assert_int_lt(i, MAX_ALLOCS);
    i = next_i(i, n);
  }
  fprintf(stderr, "call: %ld allocations in the dry run, %ld failed in turn (%ld took the peer down)\n", n, tried,
          downs);
  ck_assert_int_gt(tried, 0);
  long pid = ep_peer_os_pid(p);
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  if (pid > 0) ck_assert(ep_testenv_wait_pid_gone(pid, 10000));
  ep_peer_free(p);
  ep_ctl_free(c);
  ep_arena_free(a);
  check_clean(&fm, i);
}
END_TEST

/* --- stop ------------------------------------------------------------------------------- */

static bool stop_once(ep_failmem *fm, ep_peer_shutdown mode, long i, long *count) {
  ep_ctl *c = ep_ctl_new_with(NULL, &fm->mem);
  ck_assert_ptr_nonnull(c);
  ep_peer *p = start_peer(c, mode);
  long pid = ep_peer_os_pid(p);
  ck_assert_int_gt(pid, 0);
  ep_failmem_fail_once(fm, i);
  double t0 = now_ms();
  int rc = ep_peer_stop_sync(p);
  double took = now_ms() - t0;
  bool reached = ep_failmem_failed(fm);
  if (count) *count = fm->count;
  ep_failmem_fail_once(fm, 0);
  ck_assert_msg(rc == 0 || rc == EP_ENOMEM, "allocation %ld: stop returned %s", i, ep_err_name(rc));
  if (rc == 0) {
    ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_DOWN);
    ck_assert(ep_testenv_wait_pid_gone(pid, 10000));
    /* nor by the kill after the shutdown timeout (5 s): it went at once */
    ck_assert_msg(took < 4000, "allocation %ld: the stop took %.0f ms", i, took);
  }
  ep_peer_free(p);
  ep_ctl_free(c); /* a stop that failed: the controller stops its linked peer */
  ck_assert(ep_testenv_wait_pid_gone(pid, 10000));
  check_clean(fm, i);
  return reached;
}

/* Both ways a standard_io peer stops: halt (stdin closed: nothing to
 * allocate, maybe) and stop (an init:stop() cast is framed and written). */
START_TEST(stop_each_allocation_fails) {
  static const ep_peer_shutdown modes[] = {EP_PEER_SHUTDOWN_HALT, EP_PEER_SHUTDOWN_STOP};
  ep_peer_shutdown mode = modes[_i];
  ep_failmem fm;
  failmem_init(&fm);
  long n;
  ck_assert(!stop_once(&fm, mode, 0, &n));
  long i = 1, tried = 0;
  while (stop_once(&fm, mode, i, NULL)) {
    tried++;
    ck_assert_int_lt(i, MAX_ALLOCS);
    i = next_i(i, n);
  }
  fprintf(stderr, "stop (%s): %ld allocations in the dry run, %ld failed in turn\n", _i ? "stop" : "halt", n, tried);
  /* a stop that allocates nothing has nothing to fail */
  ck_assert_int_eq(tried > 0, n > 0);
  if (mode == EP_PEER_SHUTDOWN_STOP) ck_assert_int_gt(n, 0);
}
END_TEST

static void setup(void) {
  env = ep_testenv_new();
  nbefore = 0;
}
static void teardown(void) { ep_testenv_free(env); }

int main(void) {
  Suite *s = suite_create("peer_oom");
  /* One case each, so that CK_RUN_CASE=call runs one alone. */
  struct {
    const char *name;
    const TTest *t;
  } cases[] = {{"start", start_stdio_each_allocation_fails},
               {"call", call_each_allocation_fails},
               {"stop", stop_each_allocation_fails},
               {"start_dist", start_dist_each_allocation_fails}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    TCase *tc = tcase_create(cases[i].name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    if (cases[i].t == stop_each_allocation_fails)
      tcase_add_loop_test(tc, cases[i].t, 0, 2);
    else
      tcase_add_test(tc, cases[i].t);
    suite_add_tcase(s, tc);
  }
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
