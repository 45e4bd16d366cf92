/* A connected node that claims more than it sends: the node's memory
 * follows the bytes that arrive, not the frame length the peer announced.
 * A node that resets the connection while we are not looking: a call,
 * link or monitor whose own write finds the connection dead is refused,
 * not left waiting for an answer that cannot come. The peer is this test
 * itself (our own handshake code over a plain socket, in a thread), since
 * no real node sends a lying header or resets on cue. No erl. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "ep_checkrun.h"
#include "ep_dflags.h"
#include "ep_dist.h"
#include "ep_error.h"
#include "ep_handshake.h"
#include "ep_node.h"

/* libc's allocator, remembering the largest block asked for. The node
 * allocates on the test's thread only. */
static size_t largest;
static void *m_malloc(size_t n, void *ud) {
  (void)ud;
  if (n > largest) largest = n;
  return malloc(n);
}
static void *m_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  if (n > largest) largest = n;
  return realloc(p, n);
}
static void m_free(void *p, void *ud) {
  (void)ud;
  free(p);
}
static const ep_mem counting = {m_malloc, m_realloc, m_free, NULL};

typedef struct liar {
  int port;
  const char *node; /* ours, the one dialled */
  size_t sent;      /* frame bytes written after the header */
  atomic_int done;  /* 1: handshake done and lie told; -1: failed */
} liar;

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* The initiator's side of a handshake with node (cookie "c") on port: 0
 * once done, -1 on failure. */
static int handshake(int fd, int port, const char *self, const char *node) {
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ep_hs_config c = {0};
  c.role = EP_HS_INITIATOR;
  c.this_node = self;
  c.creation = 0x1234567u;
  c.flags = EP_DFLAGS_OURS;
  c.required_flags = EP_DFLAGS_REQUIRED;
  c.cookie = (const uint8_t *)"c";
  c.cookie_len = 1;
  c.expected_peer = node;
  c.challenge = 0xdeadbeefu;
  ep_handshake *hs = NULL;
  int ok = -1;
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) || ep_hs_new(NULL, &c, &hs)) goto out;
  uint8_t buf[4096];
  for (;;) {
    const uint8_t *d;
    size_t n;
    ep_hs_output(hs, &d, &n);
    if (n) {
      if (write_all(fd, d, n)) goto out;
      ep_hs_output_ack(hs, n);
    }
    if (ep_hs_status_get(hs) != EP_HS_RUNNING) break;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 10000) != 1) goto out;
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) goto out;
    size_t used;
    ep_hs_recv(hs, buf, (size_t)r, &used);
  }
  if (ep_hs_status_get(hs) == EP_HS_DONE) ok = 0;
out:
  ep_hs_free(hs);
  return ok;
}

/* Dials the node, authenticates, announces a 512 MiB frame, sends 1000
 * bytes of it and hangs up. */
static void *liar_main(void *arg) {
  liar *l = arg;
  int ok = -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (handshake(fd, l->port, "liar@localhost", l->node)) goto out;
  uint8_t frame[4 + 1000];
  memset(frame, 0x55, sizeof frame);
  frame[0] = 0x20, frame[1] = frame[2] = frame[3] = 0; /* 512 MiB, under EP_LIMIT_FRAME_SIZE */
  if (write_all(fd, frame, sizeof frame)) goto out;
  l->sent = sizeof frame - 4;
  ok = 1;
out:
  /* Told before the hang-up, which is what wakes the node's loop to look. */
  atomic_store(&l->done, ok);
  if (fd >= 0) close(fd);
  return NULL;
}

static int ups, downs;
static void on_event(ep_node *n, ep_node_event_kind k, const char *peer, int reason, void *ud) {
  (void)n, (void)peer, (void)reason, (void)ud;
  if (k == EP_NODE_UP) ups++;
  else downs++;
}

static bool liar_gone(void *ud) {
  liar *l = ud;
  return atomic_load(&l->done) != 0 && (atomic_load(&l->done) < 0 || downs > 0);
}

START_TEST(memory_follows_data_not_the_length_header) {
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "hostile@localhost"), 0);
  ck_assert_int_eq(ep_node_opts_set_cookie(o, "c"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ep_node_opts_set_mem(o, &counting);
  ep_node_opts_set_event_cb(o, on_event, NULL);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  liar l = {.port = ep_node_port(n), .node = ep_node_name(n)};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, liar_main, &l), 0);
  int r = ep_node_run_until(n, liar_gone, &l, 20000);
  pthread_join(th, NULL);
  ck_assert_int_eq(r, 0);
  ck_assert_int_eq(atomic_load(&l.done), 1);
  ck_assert_int_eq(ups, 1);
  ck_assert_int_eq(downs, 1);
  /* The node read the header and the 1000 bytes, then the hang-up: what
   * it allocated for the frame is what a read needs, not 512 MiB. */
  ck_assert_msg(largest < ((size_t)4 << 20), "largest block %zu bytes for %zu bytes received", largest, l.sent);
  ep_node_free(n);
}
END_TEST

/* --- a peer that resets the connection ---------------------------------------------------- */

typedef struct quitter {
  int port;
  const char *node;
  int go[2];       /* a byte here: reset the connection */
  atomic_int done; /* 1: connected; 2: reset; -1: failed */
  bool say_hi;     /* then send 'hi' to the node's registered process victimproc */
} quitter;

static void *quitter_main(void *arg) {
  quitter *q = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (handshake(fd, q->port, "quitter@localhost", q->node)) {
    atomic_store(&q->done, -1);
    if (fd >= 0) close(fd);
    return NULL;
  }
  atomic_store(&q->done, 1);
  /* A tick after the flag: the node's loop wakes up to see it. */
  static const uint8_t tick[4] = {0};
  if (write_all(fd, tick, sizeof tick)) atomic_store(&q->done, -1);
  char b0;
  if (q->say_hi && read(q->go[0], &b0, 1) == 1) { /* the first byte: say hi */
    ep_arena *a = ep_arena_new(NULL);
    ep_buf b;
    ep_buf_init(&b, NULL);
    ep_ctrl c = {.op = EP_CTRL_REG_SEND, .from = ep_pid(a, "quitter@localhost", 1, 0, 1),
                 .to = ep_atom("victimproc"), .msg = ep_atom("hi")};
    if (ep_dist_write_ctrl(&b, &c, EP_DFLAGS_OURS_FRAGMENTS) || write_all(fd, b.data, b.len))
      atomic_store(&q->done, -1);
    ep_buf_free(&b);
    ep_arena_free(a);
  }
  char b;
  if (read(q->go[0], &b, 1) != 1) b = 0;
  /* Linger 0: the close resets the connection at once (RST, no FIN). */
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
  atomic_store(&q->done, 2);
  return NULL;
}

static bool quitter_up(void *ud) {
  quitter *q = ud;
  return atomic_load(&q->done) < 0 || (atomic_load(&q->done) == 1 && ups > downs);
}

/* A node with a peer connected, ready to reset the connection. */
static ep_node *connect_quitter_hi(quitter *q, pthread_t *th, bool say_hi);
static ep_node *connect_quitter(quitter *q, pthread_t *th) { return connect_quitter_hi(q, th, false); }
static ep_node *connect_quitter_hi(quitter *q, pthread_t *th, bool say_hi) {
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "victim@localhost"), 0);
  ck_assert_int_eq(ep_node_opts_set_cookie(o, "c"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ep_node_opts_set_event_cb(o, on_event, NULL);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  ups = downs = 0;
  *q = (quitter){.port = ep_node_port(n), .node = ep_node_name(n), .say_hi = say_hi};
  ck_assert_int_eq(pipe(q->go), 0);
  ck_assert_int_eq(pthread_create(th, NULL, quitter_main, q), 0);
  ck_assert_int_eq(ep_node_run_until(n, quitter_up, q, 20000), 0);
  ck_assert_int_eq(atomic_load(&q->done), 1);
  ck_assert(ep_node_is_connected(n, "quitter@localhost"));
  return n;
}

/* The peer resets the connection; the node has not read it yet (its loop
 * has not run since). */
static void reset_quitter(quitter *q, pthread_t th) {
  ck_assert_int_eq(write(q->go[1], "x", 1), 1);
  pthread_join(th, NULL);
  ck_assert_int_eq(atomic_load(&q->done), 2);
  close(q->go[0]);
  close(q->go[1]);
}

static ep_node *reset_peer(quitter *q, pthread_t *th) {
  ep_node *n = connect_quitter(q, th);
  reset_quitter(q, *th);
  return n;
}

static int rpc_results, rpc_status;
static void on_rpc(ep_node *n, const ep_result *r, void *ud) {
  (void)n, (void)ud;
  rpc_results++;
  rpc_status = r->status;
}

static bool rpc_answered(void *ud) {
  (void)ud;
  return rpc_results > 0;
}

START_TEST(call_on_a_connection_reset_unseen_is_answered) {
  quitter q;
  pthread_t th;
  ep_node *n = reset_peer(&q, &th);
  rpc_results = 0;
  /* Its write finds the reset: the connection ends inside this call,
   * before the call could be in flight. Refused then (no callback), or
   * answered; never left waiting (no timeout: nothing else would end it). */
  int r = ep_rpc_call(n, "quitter@localhost", "erlang", "node", ep_nil(), EP_INFINITY, on_rpc, NULL);
  if (r == 0) {
    ck_assert_int_eq(ep_node_run_until(n, rpc_answered, NULL, 5000), 0);
    ck_assert_int_ne(rpc_status, 0);
  } else {
    ck_assert_int_eq(r, EP_ENODEDOWN);
    ep_node_run_until(n, rpc_answered, NULL, 200); /* nothing comes */
    ck_assert_int_eq(rpc_results, 0);
  }
  ck_assert_int_eq(downs, 1);
  ep_node_free(n);
}
END_TEST

static int proc_exits, proc_downs;
static void on_proc(ep_proc *p, const ep_msg *m, void *ud) {
  (void)p, (void)ud;
  if (m->kind == EP_MSG_EXIT) proc_exits++;
  if (m->kind == EP_MSG_DOWN) proc_downs++;
}

static bool proc_told(void *ud) {
  (void)ud;
  return proc_exits + proc_downs > 0;
}

/* The same for a monitor and a link: the DOWN or EXIT comes, or the call
 * fails. */
static void relation_on_reset(bool link) {
  quitter q;
  pthread_t th;
  ep_node *n = reset_peer(&q, &th);
  proc_exits = proc_downs = 0;
  ep_proc *p;
  ck_assert_int_eq(ep_proc_new(n, NULL, on_proc, NULL, &p), 0);
  ep_arena *a = ep_arena_new(NULL);
  ep_term ref;
  int r = link ? ep_proc_link(p, ep_pid(a, "quitter@localhost", 7, 0, 0x1234567u))
               : ep_proc_monitor(p, EP_TUPLE(a, ep_atom("someone"), ep_atom("quitter@localhost")), a, &ref);
  if (r == 0) {
    ck_assert_int_eq(ep_node_run_until(n, proc_told, NULL, 5000), 0);
    ck_assert_int_eq(link ? proc_exits : proc_downs, 1);
  } else {
    ck_assert_int_eq(r, EP_ENODEDOWN);
    ep_node_run_until(n, proc_told, NULL, 200);
    ck_assert_int_eq(proc_exits + proc_downs, 0);
  }
  ep_arena_free(a);
  ep_node_free(n);
}

START_TEST(monitor_on_a_connection_reset_unseen_is_told) { relation_on_reset(false); }
END_TEST

START_TEST(link_on_a_connection_reset_unseen_is_told) { relation_on_reset(true); }
END_TEST

static bool nothing_queued(void *ud) { return ep_node_queued(ud, "quitter@localhost") == 0; }

/* A process linked to and monitored by processes on that node ends: the
 * first EXIT it sends finds the reset and the connection ends inside
 * ep_proc_exit, whose links and monitors it was walking. Each is freed
 * once, and the ending process hears nothing more. */
START_TEST(process_ending_on_a_connection_reset_unseen) {
  quitter q;
  pthread_t th;
  ep_node *n = connect_quitter(&q, &th);
  proc_exits = proc_downs = 0;
  ep_proc *p;
  ck_assert_int_eq(ep_proc_new(n, NULL, on_proc, NULL, &p), 0);
  ep_arena *a = ep_arena_new(NULL);
  ep_term ref;
  for (uint32_t i = 0; i < 3; i++) ck_assert_int_eq(ep_proc_link(p, ep_pid(a, "quitter@localhost", 7 + i, 0, 0x1234567u)), 0);
  ck_assert_int_eq(ep_proc_monitor(p, EP_TUPLE(a, ep_atom("someone"), ep_atom("quitter@localhost")), a, &ref), 0);
  /* Written (the last of them waited for the loop's next turn), so that
   * the EXIT below is written at once. */
  ck_assert_int_eq(ep_node_run_until(n, nothing_queued, n, 5000), 0);
  reset_quitter(&q, th);
  ep_proc_exit(p, ep_atom("bye"));
  ck_assert_int_eq(proc_exits + proc_downs, 0);
  ck_assert_int_eq(downs, 1);
  ep_arena_free(a);
  ep_node_free(n);
}
END_TEST

/* A message callback that tries to block while the sender's connection is
 * reset: the wait is refused (EP_EINCALLBACK: the loop is never entered
 * again), and the connection's end is still seen once, from the loop. */
static quitter *hi_q;
static int hi_seen, hi_wait;
static bool down_seen(void *ud) {
  (void)ud;
  return downs > 0;
}
static void on_hi(ep_proc *p, const ep_msg *m, void *ud) {
  (void)ud;
  if (m->kind != EP_MSG_SEND || !ep_atom_eq(m->msg, "hi") || hi_seen++) return;
  ck_assert_int_eq(write(hi_q->go[1], "x", 1), 1);
  hi_wait = ep_node_run_until(ep_proc_node(p), down_seen, NULL, 10000);
}
static bool hi_done(void *ud) {
  (void)ud;
  return hi_seen > 0 && downs > 0;
}

START_TEST(connection_ends_inside_a_blocking_message_callback) {
  quitter q;
  pthread_t th;
  hi_q = &q;
  hi_seen = 0;
  hi_wait = -1;
  ep_node *n = connect_quitter_hi(&q, &th, true);
  ep_proc *p;
  ck_assert_int_eq(ep_proc_new(n, "victimproc", on_hi, NULL, &p), 0);
  ck_assert_int_eq(write(q.go[1], "h", 1), 1); /* now the peer says hi */
  ck_assert_int_eq(ep_node_run_until(n, hi_done, NULL, 10000), 0);
  ck_assert_int_eq(hi_wait, EP_EINCALLBACK);
  pthread_join(th, NULL);
  close(q.go[0]);
  close(q.go[1]);
  ck_assert_int_eq(downs, 1);
  ep_node_free(n);
}
END_TEST

int main(void) {
  Suite *s = suite_create("node_hostile");
  TCase *tc = tcase_create("no erl");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, memory_follows_data_not_the_length_header);
  tcase_add_test(tc, call_on_a_connection_reset_unseen_is_answered);
  tcase_add_test(tc, monitor_on_a_connection_reset_unseen_is_told);
  tcase_add_test(tc, link_on_a_connection_reset_unseen_is_told);
  tcase_add_test(tc, process_ending_on_a_connection_reset_unseen);
  tcase_add_test(tc, connection_ends_inside_a_blocking_message_callback);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
