/* Our embedded EPMD server against the real thing: real erl nodes register
 * in it (ERL_EPMD_PORT pointing at it, -start_epmd false) and find each
 * other through it, the real `epmd -names` client lists them, a registration
 * vanishes when its node dies, a duplicate name is refused with erl's usual
 * complaint, and creations change per registration. */
#include <check.h>
#include <signal.h>

#include <uv.h>

#include "ep_checkrun.h"
#include "ep_testenv.h"
#include "test_epmd_util.h"

static const char *const no_epmd[] = {"-start_epmd", "false", NULL};

/* 1 or 0: name is listed by the server on 127.0.0.1, ERL_EPMD_PORT (a
 * negative error when NAMES fails). */
static int names_contains(const char *name) {
  t_client o = {0};
  o.host = "127.0.0.1";
  o.timeout_ms = 3000;
  return names_has(t_c(&o), name, NULL);
}

START_TEST(erl_nodes_register_and_ping_through_our_server) {
  ep_testenv *env = ep_testenv_new();
  srv_thread t;
  ck_assert_int_eq(srv_start(&t, NULL, (uint16_t)ep_testenv_epmd_port(env), 0), 0);
  char a[256], b[256];
  ck_assert_int_gt(ep_testenv_start_erl(env, "epa", no_epmd, a, sizeof a), 0);
  ck_assert_int_gt(ep_testenv_start_erl(env, "epb", no_epmd, b, sizeof b), 0);
  ck_assert_int_eq(srv_wait_event(&t, "registered epa", 5000), 0);
  ck_assert_int_eq(srv_wait_event(&t, "registered epb", 5000), 0);

  /* The real epmd client lists them from our server. */
  char port[16];
  snprintf(port, sizeof port, "%d", ep_testenv_epmd_port(env));
  const char *argv[] = {"epmd", "-port", port, "-names", NULL};
  char *out = NULL;
  ck_assert_int_eq(ep_testenv_run(argv, NULL, 0, &out, NULL, NULL, 5000), 0);
  char want[64];
  snprintf(want, sizeof want, "epmd: up and running on port %s with data:", port);
  ck_assert_msg(strstr(out, want) != NULL, "epmd -names said: %s", out);
  ck_assert_ptr_nonnull(strstr(out, "name epa at port "));
  ck_assert_ptr_nonnull(strstr(out, "name epb at port "));
  free(out);
  /* DUMP, as the real client asks it (epmd -dump): the same lines epmd sends. */
  const char *dump[] = {"epmd", "-port", port, "-dump", NULL};
  ck_assert_int_eq(ep_testenv_run(dump, NULL, 0, &out, NULL, NULL, 5000), 0);
  /* (the real client prints up to the first NUL: one line) */
  ck_assert_msg(strstr(out, "active name     <ep") != NULL, "epmd -dump said: %s", out);
  free(out);

  /* Our client agrees with itself: the port from NAMES is PORT_PLEASE2's. */
  t_client o = {0};
  ep_epmd_port_info info;
  ck_assert_int_eq(ep_epmd_port_please_sync(t_c(&o), "epa", &info), 0);
  ck_assert_uint_eq(info.node_type, EP_EPMD_NODE_NORMAL);
  ck_assert_uint_eq(info.high, 6);
  ck_assert_str_eq(info.name, "epa");
  /* Over IPv6 too (the default address listens on :: as well). */
  ep_epmd_port_info info6;
  o.host = "::1";
  ck_assert_int_eq(ep_epmd_port_please_sync(t_c(&o), "epa", &info6), 0);
  ck_assert_uint_eq(info6.port, info.port);

  /* Node a finds node b through our server. */
  char expr[600];
  snprintf(expr, sizeof expr, "io:format(\"~p\", [rpc:call('%s', net_adm, ping, ['%s'])]), halt().", a, b);
  const char *c[] = {"erl", "-sname", "epc", "-noshell", "-noinput", "-start_epmd", "false", "-eval", expr, NULL};
  ck_assert_int_eq(ep_testenv_run(c, NULL, 0, &out, NULL, NULL, 30000), 0);
  ck_assert_str_eq(out, "pong");
  free(out);

  ep_testenv_free(env);
  ck_assert_int_eq(srv_stop(&t), 0);
}
END_TEST

START_TEST(registration_vanishes_when_node_stops) {
  ep_testenv *env = ep_testenv_new();
  srv_thread t;
  ck_assert_int_eq(srv_start(&t, "127.0.0.1", (uint16_t)ep_testenv_epmd_port(env), 0), 0);
  char a[256];
  pid_t pid = ep_testenv_start_erl(env, "epgone", no_epmd, a, sizeof a);
  ck_assert_int_gt(pid, 0);
  ck_assert_int_eq(srv_wait_event(&t, "registered epgone", 5000), 0);
  ck_assert_int_eq(names_contains("epgone"), 1);
  ep_testenv_kill(env, pid);
  ck_assert_int_eq(srv_wait_event(&t, "unregistered epgone", 5000), 0);
  ck_assert_int_eq(names_contains("epgone"), 0);
  t_client o = {0};
  ep_epmd_port_info info;
  ck_assert_int_eq(ep_epmd_port_please_sync(t_c(&o), "epgone", &info), EP_ENOTREG);
  ep_testenv_free(env);
  ck_assert_int_eq(srv_stop(&t), 0);
}
END_TEST

START_TEST(duplicate_name_is_refused_with_erls_complaint) {
  ep_testenv *env = ep_testenv_new();
  srv_thread t;
  ck_assert_int_eq(srv_start(&t, "127.0.0.1", (uint16_t)ep_testenv_epmd_port(env), 0), 0);
  char a[256];
  ck_assert_int_gt(ep_testenv_start_erl(env, "epdup", no_epmd, a, sizeof a), 0);
  ck_assert_int_eq(srv_wait_event(&t, "registered epdup", 5000), 0);
  const char *argv[] = {"erl", "-sname", "epdup", "-noshell", "-noinput", "-start_epmd", "false", NULL};
  char *out = NULL, *err = NULL;
  int st = ep_testenv_run(argv, NULL, 0, &out, NULL, &err, 30000);
  ck_assert_int_ne(st, 0);
  ck_assert_int_lt(st, 128); /* it failed by itself, not by our timeout */
  char want[400];
  snprintf(want, sizeof want, "the name %s seems to be in use by another Erlang node", a);
  ck_assert_msg(strstr(err, want) || strstr(out, want), "erl said: %s%s", out, err);
  free(out);
  free(err);
  ck_assert_int_eq(srv_wait_event(&t, "refused epdup", 1000), 0);
  ck_assert_int_eq(names_contains("epdup"), 1); /* the first one still holds it */
  ep_testenv_free(env);
  ck_assert_int_eq(srv_stop(&t), 0);
}
END_TEST

START_TEST(long_name_node_registers_and_finds_itself) {
  ep_testenv *env = ep_testenv_new();
  srv_thread t;
  ck_assert_int_eq(srv_start(&t, NULL, (uint16_t)ep_testenv_epmd_port(env), 0), 0);
  /* A long-named node registers in our server and asks it for its own port
   * (erl_epmd, the same code net_kernel uses to connect). */
  const char *argv[] = {"erl", "-name", "eplong@127.0.0.1", "-noshell", "-noinput", "-start_epmd", "false", "-eval",
                        "{port, P, V} = erl_epmd:port_please(\"eplong\", \"127.0.0.1\"),"
                        "{ok, [{\"eplong\", P}]} = erl_epmd:names(\"127.0.0.1\"),"
                        "io:format(\"~p ~p\", [V, P]), halt().",
                        NULL};
  char *out = NULL, *err = NULL;
  ck_assert_int_eq(ep_testenv_run(argv, NULL, 0, &out, NULL, &err, 30000), 0);
  ck_assert_msg(strncmp(out, "6 ", 2) == 0, "erl said: %s %s", out, err);
  free(out);
  free(err);
  ck_assert_int_eq(srv_wait_event(&t, "registered eplong", 1000), 0);
  ck_assert_int_eq(srv_wait_event(&t, "unregistered eplong", 5000), 0);
  ep_testenv_free(env);
  ck_assert_int_eq(srv_stop(&t), 0);
}
END_TEST

/* --- our client registering in our server: creation per registration ------------------ */

typedef struct reg_state {
  int calls, status;
  uint32_t creation;
} reg_state;

static void on_reg(ep_epmd_reg *reg, int status, uint32_t creation, void *ud) {
  reg_state *s = ud;
  (void)reg;
  s->calls++;
  s->status = status;
  s->creation = creation;
}

static int register_once(uint16_t port, const char *name, uint32_t *creation, ep_epmd_reg **keep, uv_loop_t *loop) {
  t_register o = {0};
  o.client.host = "127.0.0.1";
  o.client.port = port;
  o.client.timeout_ms = 3000;
  o.name = name;
  o.port = 5555;
  reg_state s = {0};
  ep_epmd_reg *reg;
  ck_assert_int_eq(ep_epmd_register(loop, t_r(&o), on_reg, NULL, &s, &reg), 0);
  while (s.calls == 0) uv_run(loop, UV_RUN_ONCE);
  ck_assert_int_eq(s.calls, 1);
  *creation = s.creation;
  if (keep && s.status == 0) *keep = reg;
  else ep_epmd_reg_close(reg);
  return s.status;
}

START_TEST(creation_changes_per_registration) {
  srv_thread t;
  ck_assert_int_eq(srv_start(&t, "127.0.0.1", 0, 0), 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  uint32_t c1, c2, c3;
  ep_epmd_reg *held = NULL;
  ck_assert_int_eq(register_once(t.port, "cnode", &c1, &held, &loop), 0);
  ck_assert_uint_ge(c1, 4);
  /* Held: a second registration of the name is refused. */
  ck_assert_int_eq(register_once(t.port, "cnode", &c3, NULL, &loop), EP_ENAMETAKEN);
  ep_epmd_reg_close(held);
  uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert_int_eq(srv_wait_event(&t, "unregistered cnode", 3000), 0);
  ck_assert_int_eq(register_once(t.port, "cnode", &c2, NULL, &loop), 0);
  ck_assert_uint_ne(c1, c2);
  ck_assert_uint_ge(c2, 4);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  ck_assert_int_eq(srv_stop(&t), 0);
}
END_TEST

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("epmd_server");
  TCase *tc = tcase_create("real_erl");
  tcase_set_timeout(tc, 90);
  tcase_add_test(tc, erl_nodes_register_and_ping_through_our_server);
  tcase_add_test(tc, registration_vanishes_when_node_stops);
  tcase_add_test(tc, duplicate_name_is_refused_with_erls_complaint);
  tcase_add_test(tc, creation_changes_per_registration);
  tcase_add_test(tc, long_name_node_registers_and_finds_itself);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
