/* A connected node that claims more than it sends: the node's memory
 * follows the bytes that arrive, not the frame length the peer announced.
 * The peer is this test itself (our own handshake code over a plain
 * socket, in a thread), since no real node sends a lying header. No erl. */
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
#include <unistd.h>

#include "ep_checkrun.h"
#include "ep_dflags.h"
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

/* Dials the node, authenticates, announces a 512 MiB frame, sends 1000
 * bytes of it and hangs up. */
static void *liar_main(void *arg) {
  liar *l = arg;
  int ok = -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)l->port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ep_hs_config c = {0};
  c.role = EP_HS_INITIATOR;
  c.this_node = "liar@localhost";
  c.creation = 0x1234567u;
  c.flags = EP_DFLAGS_OURS;
  c.required_flags = EP_DFLAGS_REQUIRED;
  c.cookie = (const uint8_t *)"c";
  c.cookie_len = 1;
  c.expected_peer = l->node;
  c.challenge = 0xdeadbeefu;
  ep_handshake *hs = NULL;
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
  if (ep_hs_status_get(hs) != EP_HS_DONE) goto out;
  uint8_t frame[4 + 1000];
  memset(frame, 0x55, sizeof frame);
  frame[0] = 0x20, frame[1] = frame[2] = frame[3] = 0; /* 512 MiB, under EP_LIMIT_FRAME_SIZE */
  if (write_all(fd, frame, sizeof frame)) goto out;
  l->sent = sizeof frame - 4;
  ok = 1;
out:
  ep_hs_free(hs);
  if (fd >= 0) close(fd);
  atomic_store(&l->done, ok);
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

int main(void) {
  Suite *s = suite_create("node_hostile");
  TCase *tc = tcase_create("no erl");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, memory_follows_data_not_the_length_header);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
