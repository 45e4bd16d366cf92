/* A client that knows no cookie but claims the name of a node we are
 * connected to (a real erl, "target"), while calls to that node are in
 * flight: it sends the name and closes, finishes the handshake with a wrong
 * digest, or sends the name and holds the connection open. None of that
 * may touch the live connection: every call is answered, no nodedown is
 * seen, and the node stays connected (OTP keeps such a handshake
 * up_pending and replaces the live connection only once the new one is
 * authenticated). The squatter runs in a thread with our own handshake
 * code over a plain socket. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ep_checkrun.h"
#include "ep_dflags.h"
#include "ep_handshake.h"
#include "ep_testworld.h"

#define NCALLS 12

typedef enum { CLOSE_AFTER_NAME, BAD_DIGEST, HOLD_OPEN } squat_kind;

typedef struct squatter {
  squat_kind kind;
  int port;
  const char *claim; /* the live node's name */
  const char *ours;
  int release[2];    /* the test writes here once the calls are answered */
  atomic_int stage;  /* 1: the name was sent; 2: done */
  int result;        /* HOLD_OPEN / BAD_DIGEST: how our node ended it */
} squatter;

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

/* Writes what the handshake has to say. */
static int flush_hs(int fd, ep_handshake *hs) {
  const uint8_t *d;
  size_t n;
  ep_hs_output(hs, &d, &n);
  if (!n) return 0;
  if (write_all(fd, d, n)) return -1;
  ep_hs_output_ack(hs, n);
  return 0;
}

static void *squat_main(void *arg) {
  squatter *s = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)s->port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ep_hs_config c = {0};
  c.role = EP_HS_INITIATOR;
  c.this_node = s->claim;
  c.creation = 0x2345678u;
  c.flags = EP_DFLAGS_OURS;
  c.required_flags = EP_DFLAGS_REQUIRED;
  c.cookie = (const uint8_t *)"not-the-cookie";
  c.cookie_len = 14;
  c.expected_peer = s->ours;
  c.challenge = 0x12345678u;
  ep_handshake *hs = NULL;
  s->result = -1;
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) || ep_hs_new(NULL, &c, &hs) || flush_hs(fd, hs))
    goto out;
  s->stage = 1;
  if (s->kind == CLOSE_AFTER_NAME) goto out;
  if (s->kind == HOLD_OPEN) {
    /* Read what comes (the status), say nothing more, until released. */
    struct pollfd p[2] = {{fd, POLLIN, 0}, {s->release[0], POLLIN, 0}};
    while (poll(p, 2, 20000) > 0 && !(p[1].revents & POLLIN)) {
      uint8_t b[512];
      if ((p[0].revents & (POLLIN | POLLHUP)) && read(fd, b, sizeof b) <= 0) break;
    }
    s->result = 0;
    goto out;
  }
  /* BAD_DIGEST: the whole handshake, answering "alive" with true. */
  uint8_t buf[4096];
  for (;;) {
    if (ep_hs_status_get(hs) == EP_HS_DECIDE) {
      ep_hs_decide(hs, EP_HS_ALIVE_TRUE);
      if (flush_hs(fd, hs)) break;
      continue;
    }
    if (ep_hs_status_get(hs) != EP_HS_RUNNING) break;
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 10000) != 1) break;
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) {
      s->result = 0; /* our node closed on the bad digest, as OTP does */
      break;
    }
    size_t used;
    ep_hs_recv(hs, buf, (size_t)r, &used);
    if (flush_hs(fd, hs)) break;
  }
out:
  ep_hs_free(hs);
  if (fd >= 0) close(fd);
  s->stage = 2;
  return NULL;
}

static ep_testworld W;
static int downs, ups;
static void on_event(ep_node *n, ep_node_event_kind k, const char *peer, int reason, void *ud) {
  (void)n, (void)reason, (void)ud;
  if (strcmp(peer, W.target) != 0) return;
  if (k == EP_NODE_DOWN) downs++;
  else ups++;
}

static void setup(void) { ep_testworld_up(&W, "guard_ignored"); }
static void teardown(void) { ep_testworld_down(&W); }

typedef struct {
  int ok, bad;
} tally;
static void on_reply(ep_node *n, const ep_result *r, void *ud) {
  (void)n;
  tally *t = ud;
  if (r->status == 0 && ep_atom_eq(r->value, "ok")) t->ok++;
  else t->bad++;
}
static bool all_answered(void *ud) {
  tally *t = ud;
  return t->ok + t->bad == NCALLS;
}
static bool name_sent(void *ud) { return ((squatter *)ud)->stage >= 1; }
static bool squatter_done(void *ud) { return ((squatter *)ud)->stage == 2; }

static void squat_during_calls(squat_kind kind) {
  /* Our own node, with an event callback, beside the world's. */
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "guard"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ep_node_opts_set_event_cb(o, on_event, NULL);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  downs = ups = 0;
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(n, W.target, "erlang", "node", ep_nil(), 10000, a, &r), 0);
  ck_assert_int_eq(ups, 1);

  tally t = {0, 0};
  for (int i = 0; i < NCALLS; i++)
    ck_assert_int_eq(ep_rpc_call(n, W.target, "timer", "sleep", EP_LIST(a, ep_int(300 + 50 * i)), 20000, on_reply, &t),
                     0);
  squatter s = {kind, ep_node_port(n), W.target, ep_node_name(n), {-1, -1}, 0, -1};
  ck_assert_int_eq(pipe(s.release), 0);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, squat_main, &s), 0);
  ck_assert_int_eq(ep_node_run_until(n, name_sent, &s, 10000), 0);
  /* While the squatter is at it, a new call to the node still goes to the
   * live connection. */
  ck_assert_int_eq(ep_rpc_call_sync(n, W.target, "erlang", "node", ep_nil(), 10000, a, &r), 0);
  ck_assert_int_eq(ep_node_run_until(n, all_answered, &t, 30000), 0);
  ck_assert_int_eq(write(s.release[1], "x", 1), 1);
  ck_assert_int_eq(ep_node_run_until(n, squatter_done, &s, 15000), 0);
  pthread_join(th, NULL);
  close(s.release[0]);
  close(s.release[1]);
  ck_assert_int_eq(t.ok, NCALLS);
  ck_assert_int_eq(downs, 0);
  ck_assert(ep_node_is_connected(n, W.target));
  if (kind != CLOSE_AFTER_NAME) ck_assert_int_eq(s.result, 0);
  ep_node_stats st;
  ep_node_get_stats(n, &st);
  ck_assert_uint_eq(st.auth_rejected, (kind == BAD_DIGEST ? 1u : 0u)); /* and one log line */
  ck_assert_int_eq(ep_rpc_call_sync(n, W.target, "erlang", "node", ep_nil(), 10000, a, &r), 0);
  ep_arena_free(a);
  ep_node_free(n);
}

START_TEST(close_after_the_name) { squat_during_calls(CLOSE_AFTER_NAME); }
END_TEST

START_TEST(bad_digest) { squat_during_calls(BAD_DIGEST); }
END_TEST

START_TEST(hold_the_connection_open) { squat_during_calls(HOLD_OPEN); }
END_TEST

int main(void) {
  Suite *s = suite_create("node squat");
  TCase *tc = tcase_create("real erl");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, close_after_the_name);
  tcase_add_test(tc, bad_digest);
  tcase_add_test(tc, hold_the_connection_open);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
