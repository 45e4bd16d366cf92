/* A node being closed refuses sends at once, by name as by pid, and
 * finishes its close. No erl: the node serves nobody. */
#include <check.h>
#include <stdlib.h>

#include <uv.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_node.h"

START_TEST(sends_while_closing_are_refused) {
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "closing"), 0);
  ck_assert_int_eq(ep_node_opts_set_cookie(o, "c"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  ep_arena *a = ep_arena_new(NULL);
  ep_node_close(n, NULL, NULL);
  /* Its processes (the node's own, the default sender, among them) have
   * ended. */
  ck_assert_int_eq(ep_node_send_named(n, NULL, "nobody@localhost", "x", ep_atom("hi")), EP_ECLOSED);
  ck_assert_int_eq(ep_node_send(n, NULL, EP_TUPLE(a, ep_atom("x"), ep_atom("nobody@localhost")), ep_atom("hi")),
                   EP_ECLOSED);
  ep_node_free(n); /* finishes the close under way */
  ep_arena_free(a);
}
END_TEST

/* A start that fails reports it from the loop; the start callback closes
 * the node at once (a failed node must still be closed): the close runs
 * to its end, each of the node's handles closed once, and the loop has
 * nothing left. */
static int closes;
static void on_closed(ep_node *n, void *ud) {
  (void)n, (void)ud;
  closes++;
}

static int starts, start_status;
static void close_on_start(ep_node *n, int status, void *ud) {
  (void)ud;
  starts++;
  start_status = status;
  ep_node_close(n, on_closed, NULL);
}

START_TEST(closed_from_its_failed_start_callback) {
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  /* The listening port is taken: the start fails. */
  uv_tcp_t taken;
  struct sockaddr_in sa;
  int len = sizeof sa;
  uv_tcp_init(&loop, &taken);
  uv_ip4_addr("0.0.0.0", 0, &sa);
  ck_assert_int_eq(uv_tcp_bind(&taken, (struct sockaddr *)&sa, 0), 0);
  ck_assert_int_eq(uv_listen((uv_stream_t *)&taken, 1, NULL), 0);
  uv_tcp_getsockname(&taken, (struct sockaddr *)&sa, &len);
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "failing"), 0);
  ck_assert_int_eq(ep_node_opts_set_cookie(o, "c"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ep_node_opts_set_listen_port(o, ntohs(sa.sin_port));
  ep_node *n;
  ck_assert_int_eq(ep_node_start(&loop, o, close_on_start, NULL, &n), 0);
  ep_node_opts_free(o);
  uv_close((uv_handle_t *)&taken, NULL);
  ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ck_assert_int_eq(starts, 1);
  ck_assert_int_eq(start_status, EP_EADDRINUSE);
  ck_assert_int_eq(closes, 1);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* An EPMD port out of range, from ERL_EPMD_PORT or the options, is refused
 * at start, not narrowed into another port. */
static int start_with(const char *env, int opt_port) {
  if (env) setenv("ERL_EPMD_PORT", env, 1);
  else unsetenv("ERL_EPMD_PORT");
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, "ports"), 0);
  ck_assert_int_eq(ep_node_opts_set_cookie(o, "c"), 0);
  ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  if (opt_port) ep_node_opts_set_epmd_port(o, opt_port);
  ep_node *n = NULL;
  int r = ep_node_start_sync(o, &n);
  ep_node_opts_free(o);
  if (n) ep_node_free(n);
  return r;
}

START_TEST(epmd_port_out_of_range_is_refused) {
  ck_assert_int_eq(start_with("70000", 0), EP_EINVAL);
  ck_assert_int_eq(start_with("abc", 0), EP_EINVAL);
  ck_assert_int_eq(start_with("4370", 70000), EP_EINVAL);
  ck_assert_int_eq(start_with("4370", 0), 0);
  ck_assert_int_eq(start_with(NULL, 4371), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("node_closing");
  TCase *tc = tcase_create("no erl");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, sends_while_closing_are_refused);
  tcase_add_test(tc, epmd_port_out_of_range_is_refused);
  tcase_add_test(tc, closed_from_its_failed_start_callback);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
