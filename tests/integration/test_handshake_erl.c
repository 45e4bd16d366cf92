/* The handshake core against a real erl node: we dial it as the initiator
 * over a plain blocking socket (the test is the I/O driver here, not lib/)
 * and get DONE with the right cookie, a refusal with a wrong one, and
 * EP_EWRONGNODE when the node is not the one we meant. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ep_dflags.h"
#include "ep_error.h"
#include "ep_handshake.h"
#include "ep_testenv.h"

static ep_testenv *env;
static char node[256];
static int dist_port;
static pid_t erl_pid;

static void start_node(void) {
  env = ep_testenv_new();
  dist_port = ep_testenv_free_port();
  char p[16];
  snprintf(p, sizeof p, "%d", dist_port);
  const char *args[] = {"-kernel", "inet_dist_listen_min", p, "inet_dist_listen_max", p, NULL};
  erl_pid = ep_testenv_start_erl(env, "hsnode", args, node, sizeof node);
  ck_assert_int_gt(erl_pid, 0);
}

static void stop_node(void) { ep_testenv_free(env); }

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    ck_assert_int_gt(w, 0);
    p += w;
    n -= (size_t)w;
  }
}

/* Drives hs over fd until it is no longer RUNNING or the peer closes.
 * Returns 1 when the peer closed the socket, 0 otherwise. */
static int drive(int fd, ep_handshake *hs, uint8_t *rest, size_t *rest_len) {
  uint8_t buf[4096];
  *rest_len = 0;
  for (;;) {
    const uint8_t *d;
    size_t n;
    ep_hs_output(hs, &d, &n);
    if (n) {
      write_all(fd, d, n);
      ep_hs_output_ack(hs, n);
    }
    if (ep_hs_status_get(hs) != EP_HS_RUNNING) return 0;
    struct pollfd pfd = {fd, POLLIN, 0};
    ck_assert_msg(poll(&pfd, 1, 15000) == 1, "peer silent for 15 s");
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) return 1;
    size_t used;
    ep_hs_recv(hs, buf, (size_t)r, &used);
    if (ep_hs_status_get(hs) == EP_HS_DONE && rest) {
      memcpy(rest, buf + used, (size_t)r - used);
      *rest_len = (size_t)r - used;
    }
  }
}

static ep_hs_config our_config(const char *cookie) {
  static char me[300];
  snprintf(me, sizeof me, "ctl@%s", ep_testenv_host());
  ep_hs_config c = {0};
  c.role = EP_HS_INITIATOR;
  c.this_node = me;
  c.creation = 0x1234567u;
  c.flags = EP_DFLAGS_OURS;
  c.required_flags = EP_DFLAGS_REQUIRED;
  c.cookie = (const uint8_t *)cookie;
  c.cookie_len = strlen(cookie);
  c.expected_peer = node;
  c.challenge = 0xdeadbeefu;
  return c;
}

START_TEST(right_cookie_connects) {
  ep_hs_config c = our_config(ep_testenv_cookie(env));
  ep_handshake *hs;
  ck_assert_int_eq(ep_hs_new(NULL, &c, &hs), 0);
  int fd = dial(dist_port);
  uint8_t rest[4096];
  size_t rest_len;
  ck_assert_int_eq(drive(fd, hs, rest, &rest_len), 0);
  ck_assert_msg(ep_hs_status_get(hs) == EP_HS_DONE, "handshake: %s", ep_err_name(ep_hs_error(hs)));
  ck_assert_str_eq(ep_hs_peer_name(hs), node);
  uint64_t f = ep_hs_flags(hs);
  /* the intersection: everything required, nothing we did not offer */
  ck_assert((f & EP_DFLAGS_REQUIRED) == EP_DFLAGS_REQUIRED);
  ck_assert((f & ~(EP_DFLAGS_OURS)) == 0);
  ck_assert(f & EP_DFLAG_SPAWN);
  ck_assert(f & EP_DFLAG_UNLINK_ID);
  ck_assert(!(f & EP_DFLAG_PUBLISHED));
  ck_assert(ep_hs_peer_flags(hs) & EP_DFLAG_PUBLISHED); /* a normal node publishes */
  ck_assert_uint_ne(ep_hs_peer_creation(hs), 0);
  ep_hs_free(hs);
  close(fd);
}
END_TEST

START_TEST(wrong_cookie_is_refused) {
  ep_hs_config c = our_config("not-the-cookie");
  ep_handshake *hs;
  ck_assert_int_eq(ep_hs_new(NULL, &c, &hs), 0);
  int fd = dial(dist_port);
  size_t rest_len;
  /* erl checks our digest, finds it wrong, and closes without an ack */
  ck_assert_int_eq(drive(fd, hs, NULL, &rest_len), 1);
  ck_assert_int_eq(ep_hs_status_get(hs), EP_HS_RUNNING);
  ep_hs_free(hs);
  close(fd);
}
END_TEST

START_TEST(wrong_node_is_detected) {
  ep_hs_config c = our_config(ep_testenv_cookie(env));
  char other[300];
  snprintf(other, sizeof other, "someoneelse@%s", ep_testenv_host());
  c.expected_peer = other;
  ep_handshake *hs;
  ck_assert_int_eq(ep_hs_new(NULL, &c, &hs), 0);
  int fd = dial(dist_port);
  size_t rest_len;
  ck_assert_int_eq(drive(fd, hs, NULL, &rest_len), 0);
  ck_assert_int_eq(ep_hs_error(hs), EP_EWRONGNODE);
  ep_hs_free(hs);
  close(fd);
}
END_TEST

/* OTP 25+ refuses a node lacking its mandatory flags with not_allowed. */
START_TEST(missing_mandatory_flags_not_allowed) {
  ep_hs_config c = our_config(ep_testenv_cookie(env));
  c.flags = EP_DFLAG_EXTENDED_REFERENCES | EP_DFLAG_HANDSHAKE_23 | EP_DFLAG_UTF8_ATOMS;
  ep_handshake *hs;
  ck_assert_int_eq(ep_hs_new(NULL, &c, &hs), 0);
  int fd = dial(dist_port);
  size_t rest_len;
  ck_assert_int_eq(drive(fd, hs, NULL, &rest_len), 0);
  ck_assert_int_eq(ep_hs_error(hs), EP_ENOTALLOWED);
  ep_hs_free(hs);
  close(fd);
}
END_TEST

/* MANDATORY_25_DIGEST alone stands for the OTP 25 set (dist.hrl): a 25
 * node accepts it. */
START_TEST(mandatory_25_digest_alone_is_accepted) {
  ep_hs_config c = our_config(ep_testenv_cookie(env));
  c.flags = EP_DFLAG_MANDATORY_25_DIGEST | EP_DFLAG_V4_NC | EP_DFLAG_UNLINK_ID;
  c.required_flags = 0;
  ep_handshake *hs;
  ck_assert_int_eq(ep_hs_new(NULL, &c, &hs), 0);
  int fd = dial(dist_port);
  size_t rest_len;
  ck_assert_int_eq(drive(fd, hs, NULL, &rest_len), 0);
  ck_assert_msg(ep_hs_status_get(hs) == EP_HS_DONE, "handshake: %s", ep_err_name(ep_hs_error(hs)));
  ep_hs_free(hs);
  close(fd);
}
END_TEST

int main(void) {
  Suite *s = suite_create("handshake_erl");
  TCase *tc = tcase_create("real node");
  tcase_add_checked_fixture(tc, start_node, stop_node);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, right_cookie_connects);
  tcase_add_test(tc, wrong_cookie_is_refused);
  tcase_add_test(tc, wrong_node_is_detected);
  tcase_add_test(tc, missing_mandatory_flags_not_allowed);
  tcase_add_test(tc, mandatory_25_digest_alone_is_accepted);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
