/* Limits against strangers (docs/limits.md): idle clients that never
 * finish a handshake are capped (EP_LIMIT_PENDING_HANDSHAKES; past it a
 * client is accepted and closed at once, and counted) and dropped after the
 * node's setup time; a full stderr never stops the program inside write(2)
 * (ep_log drops and counts instead). Clients are plain sockets of this
 * test; no erl. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_limits.h"
#include "ep_log.h"
#include "ep_node.h"

#define NIDLE 100

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

typedef struct {
  ep_node *n;
  uint64_t pending, refused;
} want;

static bool stats_are(void *ud) {
  want *w = ud;
  ep_node_stats s;
  ep_node_get_stats(w->n, &s);
  return s.handshakes_pending == w->pending && s.handshakes_refused == w->refused;
}

START_TEST(idle_handshakes_are_capped_and_dropped) {
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "limits"), 0);
  ck_assert_int_eq(ep_node_opts_set_cookie(o, "c"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ep_node_opts_set_setuptime(o, 1500);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  int fds[NIDLE];
  for (int i = 0; i < NIDLE; i++) fds[i] = dial(ep_node_port(n));
  /* Some send a byte of a handshake, the others nothing at all. */
  for (int i = 0; i < NIDLE; i += 2) ck_assert_int_eq(write(fds[i], "\0", 1), 1);
  want w = {n, EP_LIMIT_PENDING_HANDSHAKES, NIDLE - EP_LIMIT_PENDING_HANDSHAKES};
  ck_assert_int_eq(ep_node_run_until(n, stats_are, &w, 5000), 0);
  /* Past the setup time the pending ones are gone, and a client may come
   * in again. */
  w.pending = 0;
  ck_assert_int_eq(ep_node_run_until(n, stats_are, &w, 5000), 0);
  for (int i = 0; i < NIDLE; i++) {
    char b;
    ck_assert_int_le(read(fds[i], &b, 1), 0); /* closed by the node (reset when a byte was left unread) */
    close(fds[i]);
  }
  int again = dial(ep_node_port(n));
  w.pending = 1;
  ck_assert_int_eq(ep_node_run_until(n, stats_are, &w, 5000), 0);
  close(again);
  ep_node_free(n);
}
END_TEST

/* The setup time is a uint64_t of milliseconds, as every timeout: 2^32 ms
 * and 200 more is not 200 ms. */
START_TEST(a_setup_time_past_32_bits_is_kept) {
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "limits"), 0);
  ck_assert_int_eq(ep_node_opts_set_cookie(o, "c"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ck_assert_int_eq(ep_node_opts_set_setuptime(o, (UINT64_C(1) << 32) + 200), 0);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  int fd = dial(ep_node_port(n));
  want w = {n, 1, 0};
  ck_assert_int_eq(ep_node_run_until(n, stats_are, &w, 5000), 0);
  w.pending = 0; /* must not come: the client is still within its setup time */
  ck_assert_int_eq(ep_node_run_until(n, stats_are, &w, 1200), EP_ETIMEDOUT);
  close(fd);
  ep_node_free(n);
}
END_TEST

START_TEST(a_full_stderr_does_not_block) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  int saved = dup(STDERR_FILENO);
  ck_assert_int_ge(saved, 0);
  /* Fill the pipe nobody reads. */
  fcntl(p[1], F_SETFL, O_NONBLOCK);
  char junk[4096] = {0};
  while (write(p[1], junk, sizeof junk) > 0) {
  }
  fcntl(p[1], F_SETFL, 0); /* blocking again, as a stderr is */
  ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
  uint64_t d0 = ep_log_dropped();
  /* A blocking write would hang here until the test's timeout. */
  for (int i = 0; i < 5000; i++) ep_log("bad message %d", i);
  ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
  close(saved);
  close(p[0]);
  close(p[1]);
  ck_assert_uint_eq(ep_log_dropped() - d0, 5000);
}
END_TEST

int main(void) {
  Suite *s = suite_create("node limits");
  TCase *tc = tcase_create("strangers");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, idle_handshakes_are_capped_and_dropped);
  tcase_add_test(tc, a_setup_time_past_32_bits_is_kept);
  tcase_add_test(tc, a_full_stderr_does_not_block);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
