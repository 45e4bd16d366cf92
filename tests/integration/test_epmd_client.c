/* Our EPMD client against the real `epmd -port P` with real erl nodes in
 * it (host as a short name, localhost, IPv4 and IPv6 literals; ERL_EPMD_PORT
 * honoured), registration with its 32-bit creation, and every failure as its
 * own error: nothing listening, not registered, name taken, malformed
 * reply, refused, timeout, canceled; each callback exactly once and the
 * loop closes cleanly. */
#include <check.h>
#include <signal.h>

#include <uv.h>

#include "ep_checkrun.h"
#include "ep_testenv.h"
#include "test_epmd_util.h"

START_TEST(client_against_real_epmd) {
  ep_testenv *env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  char node[256];
  ck_assert_int_gt(ep_testenv_start_erl(env, "cli1", NULL, node, sizeof node), 0);
  /* opts.port 0: ERL_EPMD_PORT (set by the harness) is honoured. */
  uint16_t envport;
  ck_assert_int_eq(ep_epmd_port_from_env(&envport), 0);
  ck_assert_int_eq(envport, ep_testenv_epmd_port(env));
  const char *hosts[] = {NULL, "localhost", "127.0.0.1", "::1", ep_testenv_host()};
  uint16_t first = 0;
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
    t_client o = {0};
    o.host = hosts[i];
    o.timeout_ms = 5000;
    uint16_t listed = 0;
    ck_assert_msg(names_has(t_c(&o), "cli1", &listed) == 1, "names via %s", hosts[i] ? hosts[i] : "(default)");
    ep_epmd_port_info info;
    ck_assert_int_eq(ep_epmd_port_please_sync(t_c(&o), "cli1", &info), 0);
    ck_assert_uint_eq(info.port, listed);
    ck_assert_str_eq(info.name, "cli1");
    ck_assert_uint_eq(info.node_type, EP_EPMD_NODE_NORMAL);
    ck_assert_uint_eq(info.protocol, 0);
    ck_assert_uint_eq(info.high, 6);
    if (!first) first = info.port;
    ck_assert_uint_eq(info.port, first);
  }
  /* Not registered, bad names. */
  t_client o = {0};
  ep_epmd_port_info info;
  ck_assert_int_eq(ep_epmd_port_please_sync(t_c(&o), "nosuchnode", &info), EP_ENOTREG);
  ck_assert_int_eq(ep_epmd_port_please_sync(t_c(&o), "a@b", &info), EP_EBADNAME);
  ck_assert_int_eq(ep_epmd_port_please_sync(t_c(&o), "", &info), EP_EBADNAME);
  ep_testenv_free(env);
}
END_TEST

typedef struct cb_count {
  int calls, lost, status;
  uint32_t creation;
} cb_count;

static void on_reg(ep_epmd_reg *reg, int status, uint32_t creation, void *ud) {
  cb_count *c = ud;
  (void)reg;
  c->calls++;
  c->status = status;
  c->creation = creation;
}
static void on_lost(ep_epmd_reg *reg, int status, void *ud) {
  cb_count *c = ud;
  (void)reg, (void)status;
  c->lost++;
}

static ep_epmd_reg *reg_start(uv_loop_t *loop, const char *name, uint16_t epmd_port, cb_count *c) {
  t_register o = {0};
  o.client.port = epmd_port;
  o.client.timeout_ms = 5000;
  o.name = name;
  o.port = 4321;
  o.node_type = EP_EPMD_NODE_HIDDEN;
  ep_epmd_reg *reg = NULL;
  ck_assert_int_eq(ep_epmd_register(loop, t_r(&o), on_reg, on_lost, c, &reg), 0);
  ck_assert_ptr_nonnull(reg);
  ck_assert_int_eq(c->calls, 0); /* never from inside the call */
  while (c->calls == 0) uv_run(loop, UV_RUN_ONCE);
  return reg;
}

START_TEST(register_in_real_epmd) {
  ep_testenv *env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  uint16_t eport = (uint16_t)ep_testenv_epmd_port(env);
  char node[256];
  ck_assert_int_gt(ep_testenv_start_erl(env, "cli2", NULL, node, sizeof node), 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  cb_count a = {0}, b = {0}, d = {0}, e = {0};
  ep_epmd_reg *ra = reg_start(&loop, "cnode", eport, &a);
  ck_assert_int_eq(a.status, 0);
  ck_assert_uint_ge(a.creation, 4); /* 32-bit creation from ALIVE2_X_RESP */
  /* The real epmd client sees it. */
  char ps[16];
  snprintf(ps, sizeof ps, "%u", eport);
  const char *argv[] = {"epmd", "-port", ps, "-names", NULL};
  char *out = NULL;
  ck_assert_int_eq(ep_testenv_run(argv, NULL, 0, &out, NULL, NULL, 5000), 0);
  ck_assert_ptr_nonnull(strstr(out, "name cnode at port 4321"));
  free(out);
  t_client o = {0};
  ep_epmd_port_info info;
  ck_assert_int_eq(ep_epmd_port_please_sync(t_c(&o), "cnode", &info), 0);
  ck_assert_uint_eq(info.node_type, EP_EPMD_NODE_HIDDEN);
  ck_assert_uint_eq(info.port, 4321);
  /* Taken: by our own registration, and by a real erl node. */
  ep_epmd_reg *rb = reg_start(&loop, "cnode", eport, &b);
  ck_assert_int_eq(b.status, EP_ENAMETAKEN);
  ep_epmd_reg_close(rb);
  ep_epmd_reg *rd = reg_start(&loop, "cli2", eport, &d);
  ck_assert_int_eq(d.status, EP_ENAMETAKEN);
  ep_epmd_reg_close(rd);
  /* Unregister = close; epmd notices, the name is free again with a new
   * creation. */
  ep_epmd_reg_close(ra);
  uv_run(&loop, UV_RUN_DEFAULT);
  /* epmd says in its debug output when it has dropped the name. */
  ck_assert_int_eq(ep_testenv_wait_epmd_log(env, "unregistering 'cnode:", 5000), 0);
  ck_assert_int_eq(names_has(t_c(&o), "cnode", NULL), 0);
  ep_epmd_reg *re = reg_start(&loop, "cnode", eport, &e);
  ck_assert_int_eq(e.status, 0);
  ck_assert_uint_ne(e.creation, a.creation);
  ep_epmd_reg_close(re);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(a.calls + b.calls + d.calls + e.calls, 4);
  ck_assert_int_eq(a.lost + b.lost + d.lost + e.lost, 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  ep_testenv_free(env);
}
END_TEST

START_TEST(registration_lost_when_epmd_dies) {
  srv_thread t;
  ck_assert_int_eq(srv_start(&t, "127.0.0.1", 0, 0), 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  cb_count a = {0};
  ep_epmd_reg *ra = reg_start(&loop, "lostnode", t.port, &a);
  ck_assert_int_eq(a.status, 0);
  ck_assert_int_eq(srv_stop(&t), 0);
  while (a.lost == 0) uv_run(&loop, UV_RUN_ONCE);
  ck_assert_int_eq(a.lost, 1);
  ep_epmd_reg_close(ra);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(a.calls, 1);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* --- failures, each distinct ---------------------------------------------------------- */

typedef struct port_res {
  int calls, status;
} port_res;
static void on_port(int status, const ep_epmd_port_info *info, void *ud) {
  port_res *r = ud;
  r->calls++;
  r->status = status;
  ck_assert((status == 0) == (info != NULL));
}
static void on_names(int status, const ep_epmd_name *names, size_t n, uint32_t eport, void *ud) {
  port_res *r = ud;
  (void)names, (void)n, (void)eport;
  r->calls++;
  r->status = status;
}

static int port_please_at(uint16_t port, uint32_t timeout_ms) {
  t_client o = {0};
  o.host = "127.0.0.1";
  o.port = port;
  o.timeout_ms = timeout_ms;
  ep_epmd_port_info info;
  return ep_epmd_port_please_sync(t_c(&o), "x", &info);
}

START_TEST(each_failure_is_distinct) {
  /* Nothing listening. */
  ck_assert_int_eq(port_please_at((uint16_t)ep_testenv_free_port(), 2000), EP_ENOEPMD);
  /* Host does not resolve. */
  t_client o = {0};
  o.host = "no-such-host.invalid";
  o.timeout_ms = 5000;
  ep_epmd_port_info info;
  ck_assert_int_eq(ep_epmd_port_please_sync(t_c(&o), "x", &info), EP_ENOHOST);
  /* Garbage instead of PORT2_RESP. */
  fake_srv f;
  fake_start(&f, "HTTP/1.0 400\r\n", 14, 0);
  ck_assert_int_eq(port_please_at(f.port, 2000), EP_EEPMDREPLY);
  fake_stop(&f);
  /* A truncated reply, then close. */
  fake_start(&f, "\x77\x00\x12", 3, 0);
  ck_assert_int_eq(port_please_at(f.port, 2000), EP_EEPMDREPLY);
  fake_stop(&f);
  /* Closed without a word. */
  fake_start(&f, NULL, 0, 0);
  ck_assert_int_eq(port_please_at(f.port, 2000), EP_EEPMDREFUSED);
  fake_stop(&f);
  /* Never answers. */
  fake_start(&f, NULL, 0, 1);
  long long t0 = util_now_ms();
  ck_assert_int_eq(port_please_at(f.port, 300), EP_ETIMEDOUT);
  ck_assert_int_lt(util_now_ms() - t0, 2000);
  /* Canceled: the callback once, with EP_ECANCELED, from the loop. */
  uv_loop_t loop;
  uv_loop_init(&loop);
  port_res r1 = {0}, r2 = {0};
  ep_epmd_req *req;
  t_client fo = {0};
  fo.host = "127.0.0.1";
  fo.port = f.port;
  fo.timeout_ms = 300;
  ck_assert_int_eq(ep_epmd_port_please(&loop, t_c(&fo), "x", on_port, &r1, &req), 0);
  ck_assert_int_eq(ep_epmd_names(&loop, t_c(&fo), on_names, &r2, NULL), 0);
  uv_run(&loop, UV_RUN_NOWAIT);
  ep_epmd_req_cancel(req);
  ck_assert_int_eq(r1.calls, 0);
  cb_count rc = {0};
  t_register ro = {0};
  ro.client = fo;
  ro.name = "y";
  ro.port = 1;
  ep_epmd_reg *reg;
  ck_assert_int_eq(ep_epmd_register(&loop, t_r(&ro), on_reg, on_lost, &rc, &reg), 0);
  ep_epmd_reg_close(reg); /* before the answer: canceled */
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(r1.calls, 1);
  ck_assert_int_eq(r1.status, EP_ECANCELED);
  ck_assert_int_eq(r2.calls, 1);
  ck_assert_int_eq(r2.status, EP_ETIMEDOUT);
  ck_assert_int_eq(rc.calls, 1);
  ck_assert_int_eq(rc.status, EP_ECANCELED);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
  fake_stop(&f);
  /* Arguments refused up front: no callback. */
  uv_loop_init(&loop);
  port_res r3 = {0};
  ck_assert_int_eq(ep_epmd_port_please(&loop, NULL, "bad@name", on_port, &r3, NULL), EP_EBADNAME);
  ck_assert_int_eq(ep_epmd_port_please(&loop, NULL, "x", NULL, &r3, NULL), EP_EINVAL);
  ro.name = "";
  ck_assert_int_eq(ep_epmd_register(&loop, t_r(&ro), on_reg, NULL, &rc, &reg), EP_EBADNAME);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(r3.calls, 0);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* The opaque options: what they refuse, and a timeout of 0 is a deadline
 * already due (it meant the default when the options were a struct). */
START_TEST(opaque_options) {
  char longname[300];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  ep_epmd_client_opts *o = ep_epmd_client_opts_new();
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(ep_epmd_client_opts_set_host(o, longname), EP_EINVAL);
  ck_assert_int_eq(ep_epmd_client_opts_set_host(NULL, "x"), EP_EINVAL);
  ck_assert_int_eq(ep_epmd_client_opts_set_host(o, "127.0.0.1"), 0);
  fake_srv f;
  fake_start(&f, NULL, 0, 1); /* never answers */
  ck_assert_int_eq(ep_epmd_client_opts_set_port(o, f.port), 0);
  ck_assert_int_eq(ep_epmd_client_opts_set_timeout(o, 0), 0);
  long long t0 = util_now_ms();
  ep_epmd_port_info info;
  ck_assert_int_eq(ep_epmd_port_please_sync(o, "x", &info), EP_ETIMEDOUT);
  ck_assert_int_lt(util_now_ms() - t0, 1000);
  fake_stop(&f);
  ep_epmd_client_opts_free(o);
  ep_epmd_register_opts *r = ep_epmd_register_opts_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(ep_epmd_register_opts_set_name(r, longname), EP_EINVAL);
  ck_assert_int_eq(ep_epmd_register_opts_set_extra(r, NULL, 3), EP_EINVAL);
  ep_epmd_register_opts_free(r);
  ck_assert_int_eq(ep_epmd_server_opts_set_idle(NULL, 1), EP_EINVAL);
}
END_TEST

START_TEST(erl_epmd_port_parsing) {
  uint16_t p = 1;
  setenv("ERL_EPMD_PORT", "4370", 1);
  ck_assert_int_eq(ep_epmd_port_from_env(&p), 0);
  ck_assert_uint_eq(p, 4370);
  unsetenv("ERL_EPMD_PORT");
  ck_assert_int_eq(ep_epmd_port_from_env(&p), 0);
  ck_assert_uint_eq(p, 4369);
  const char *bad[] = {"abc", "12x", "0", "65536", " 1", "-5"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv("ERL_EPMD_PORT", bad[i], 1);
    p = 7;
    ck_assert_int_eq(ep_epmd_port_from_env(&p), EP_EINVAL);
    ck_assert_uint_eq(p, 7);
  }
  unsetenv("ERL_EPMD_PORT");
}
END_TEST

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("epmd_client");
  TCase *tc = tcase_create("real_epmd");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, client_against_real_epmd);
  tcase_add_test(tc, register_in_real_epmd);
  tcase_add_test(tc, registration_lost_when_epmd_dies);
  tcase_add_test(tc, each_failure_is_distinct);
  tcase_add_test(tc, erl_epmd_port_parsing);
  tcase_add_test(tc, opaque_options);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
