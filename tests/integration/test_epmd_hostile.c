/* Hostile clients against our EPMD server: truncated requests, wrong
 * lengths, unknown codes, a client that never sends, a thousand idle
 * connections. Each is cut off without a reply (or after the idle time) and
 * the server keeps serving everyone else throughout. */
#include <check.h>
#include <signal.h>
#include <sys/resource.h>

#include <uv.h>

#include "ep_checkrun.h"
#include "ep_testenv.h"
#include "test_epmd_util.h"

#define IDLE_MS 1000

/* Sends bytes and returns what came back before the server closed; *eof
 * says it closed within timeout_ms. */
static size_t exchange(uint16_t port, const char *req, size_t n, char *reply, size_t cap, int timeout_ms, int *eof) {
  int s = raw_connect(port);
  ck_assert_int_ge(s, 0);
  if (n) ck_assert_int_eq(send(s, req, n, MSG_NOSIGNAL), (ssize_t)n);
  size_t got = raw_read_all(s, reply, cap, timeout_ms, eof);
  close(s);
  return got;
}

/* The server still answers a well-formed client. */
static void still_serving(uint16_t port) {
  t_client o = {0};
  o.host = "127.0.0.1";
  o.port = port;
  o.timeout_ms = 3000;
  ep_epmd_name *names;
  size_t n;
  ck_assert_int_eq(ep_epmd_names_sync(t_c(&o), &names, &n, NULL), 0);
  ep_epmd_names_free(names);
}

START_TEST(garbage_is_cut_off_without_reply) {
  srv_thread t;
  ck_assert_int_eq(srv_start(&t, "127.0.0.1", 0, IDLE_MS), 0);
  const struct {
    const char *b;
    size_t n;
  } v[] = {
      {"\x00\x00", 2},                                             /* zero length */
      {"\xff\xff", 2},                                             /* oversized: refused before the body */
      {"\x10\x00" "aaaaaaaa", 10},                                 /* oversized, body following */
      {"\x00\x01\x01", 3},                                         /* unknown code */
      {"\x00\x01\x61", 3},                                         /* the old ALIVE_REQ */
      {"\x00\x05x\x00\x01\x4d\x00", 7},                            /* ALIVE2 too short */
      {"\x00\x0dx\x00\x01M\x00\x00\x06\x00\x05\x00\x09\x00\x00", 15}, /* name overruns */
      {"\x00\x04z" "a\0" "b", 6},                                  /* NUL in a name */
      {"\x00\x03z\xc3\x28", 5},                                    /* invalid UTF-8 */
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char reply[64];
    int eof;
    long long t0 = util_now_ms();
    size_t got = exchange(t.port, v[i].b, v[i].n, reply, sizeof reply, 3000, &eof);
    ck_assert_msg(eof && got == 0, "vector %zu: %zu bytes, eof %d", i, got, eof);
    ck_assert_msg(util_now_ms() - t0 < IDLE_MS, "vector %zu was not cut at once", i);
    still_serving(t.port);
  }
  ck_assert_int_ge(srv_cuts(&t), (int)(sizeof v / sizeof v[0]));
  ck_assert_int_eq(srv_stop(&t), 0);
}
END_TEST

START_TEST(silent_and_truncated_clients_time_out) {
  srv_thread t;
  ck_assert_int_eq(srv_start(&t, "127.0.0.1", 0, IDLE_MS), 0);
  const struct {
    const char *b;
    size_t n;
  } v[] = {{"", 0}, {"\x00", 1}, {"\x00\x10x\x00\x01", 5}, {"\x00\x04zab", 5}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    char reply[64];
    int eof;
    long long t0 = util_now_ms();
    size_t got = exchange(t.port, v[i].b, v[i].n, reply, sizeof reply, 5000, &eof);
    long long took = util_now_ms() - t0;
    ck_assert_msg(eof && got == 0, "vector %zu", i);
    ck_assert_msg(took >= IDLE_MS - 50 && took < IDLE_MS + 2000, "vector %zu cut after %lld ms", i, took);
  }
  /* A truncated request whose client hangs up: dropped, nothing else. */
  int s = raw_connect(t.port);
  ck_assert_int_eq(send(s, "\x00\x10x\x00", 4, MSG_NOSIGNAL), 4);
  close(s);
  still_serving(t.port);
  ck_assert_int_eq(srv_stop(&t), 0);
}
END_TEST

START_TEST(registration_ends_on_extra_bytes) {
  srv_thread t;
  ck_assert_int_eq(srv_start(&t, "127.0.0.1", 0, IDLE_MS), 0);
  int s = raw_connect(t.port);
  static const char alive[] = "\x00\x10x\x04\xd2M\x00\x00\x06\x00\x05\x00\x03" "evl\x00\x00";
  ck_assert_int_eq(send(s, alive, 18, MSG_NOSIGNAL), 18);
  ck_assert_int_eq(srv_wait_event(&t, "registered evl", 3000), 0);
  /* Registered connections are exempt from the idle timeout... */
  char reply[64];
  int eof;
  size_t got = raw_read_all(s, reply, sizeof reply, IDLE_MS * 3, &eof);
  ck_assert_int_eq(got, 6);
  ck_assert_int_eq(eof, 0);
  /* ...but a byte more ends the registration, as on epmd. */
  ck_assert_int_eq(send(s, "?", 1, MSG_NOSIGNAL), 1);
  ck_assert_int_eq(srv_wait_event(&t, "unregistered evl", 3000), 0);
  raw_read_all(s, reply, sizeof reply, 3000, &eof);
  ck_assert_int_eq(eof, 1);
  close(s);
  ck_assert_int_eq(srv_stop(&t), 0);
}
END_TEST

START_TEST(a_thousand_idle_connections) {
  enum { N = 1000 };
  /* Client and server ends both live in this process. */
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < 2 * N + 256) {
    rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  ck_assert_msg(rl.rlim_cur >= 2 * N + 256, "RLIMIT_NOFILE hard limit too low: %lu", (unsigned long)rl.rlim_max);
  ep_testenv *env = ep_testenv_new(); /* for the real epmd client's run */
  srv_thread t;
  const uint32_t idle = 6000;
  ck_assert_int_eq(srv_start(&t, "127.0.0.1", 0, idle), 0);
  static int fds[N];
  long long t0 = util_now_ms();
  for (int i = 0; i < N; i++) {
    fds[i] = raw_connect(t.port);
    ck_assert_int_ge(fds[i], 0);
  }
  /* While they idle: our client, the real epmd client and a registration
   * are all served, promptly. */
  long long t1 = util_now_ms();
  still_serving(t.port);
  char ps[16];
  snprintf(ps, sizeof ps, "%u", t.port);
  const char *argv[] = {"epmd", "-port", ps, "-names", NULL};
  char *out = NULL;
  ck_assert_int_eq(ep_testenv_run(argv, NULL, 0, &out, NULL, NULL, 3000), 0);
  ck_assert_ptr_nonnull(strstr(out, "up and running"));
  free(out);
  int s = raw_connect(t.port);
  static const char alive[] = "\x00\x10x\x04\xd2M\x00\x00\x06\x00\x05\x00\x03" "idl\x00\x00";
  ck_assert_int_eq(send(s, alive, 18, MSG_NOSIGNAL), 18);
  ck_assert_int_eq(srv_wait_event(&t, "registered idl", 3000), 0);
  ck_assert_int_lt(util_now_ms() - t1, (long long)idle - 1000); /* served before any idle cut */
  /* Then every idle one is cut, the registration stays. */
  int closed = 0;
  long long deadline = t0 + idle + 10000;
  for (int i = 0; i < N; i++) {
    long long left = deadline - util_now_ms();
    char b[8];
    int eof;
    raw_read_all(fds[i], b, sizeof b, left > 0 ? (int)left : 1, &eof);
    closed += eof;
    close(fds[i]);
  }
  ck_assert_int_eq(closed, N);
  ck_assert_int_ge(srv_cuts(&t), N);
  char reply[16];
  int eof;
  ck_assert_int_eq(raw_read_all(s, reply, sizeof reply, 200, &eof), 6);
  ck_assert_int_eq(eof, 0);
  close(s);
  ck_assert_int_eq(srv_wait_event(&t, "unregistered idl", 3000), 0);
  ck_assert_int_eq(srv_stop(&t), 0);
  ep_testenv_free(env);
}
END_TEST

START_TEST(connection_limit_refuses_extra_clients) {
  srv_thread t;
  t_server so = {0};
  so.idle_ms = 5000;
  so.max_connections = 10;
  ck_assert_int_eq(srv_start_opts(&t, "127.0.0.1", 0, &so), 0);
  int fds[10];
  for (int i = 0; i < 10; i++) fds[i] = raw_connect(t.port);
  /* The 11th is closed at once. */
  char b[8];
  int eof;
  long long t0 = util_now_ms();
  size_t got = exchange(t.port, "\x00\x01n", 3, b, sizeof b, 3000, &eof);
  ck_assert(eof && got == 0);
  ck_assert_int_lt(util_now_ms() - t0, 1000);
  for (int i = 0; i < 10; i++) close(fds[i]);
  /* Once they are gone, clients are served again. */
  long long deadline = util_now_ms() + 3000;
  int ok = 0;
  while (!ok && util_now_ms() < deadline) {
    t_client o = {0};
    o.host = "127.0.0.1";
    o.port = t.port;
    o.timeout_ms = 1000;
    ep_epmd_name *names;
    size_t n;
    ok = ep_epmd_names_sync(t_c(&o), &names, &n, NULL) == 0;
    if (ok) ep_epmd_names_free(names);
  }
  ck_assert(ok);
  ck_assert_int_eq(srv_stop(&t), 0);
}
END_TEST

/* The log callback may close the server, even from inside a registration. */
typedef struct selfclose {
  ep_epmd_server *srv;
  int closed, reg_calls, lost, status;
} selfclose;
static void sc_log(const ep_epmd_event *ev, void *ud) {
  selfclose *s = ud;
  if (ev->kind == EP_EPMD_EV_REGISTERED && s->srv) {
    ep_epmd_server_close(s->srv, NULL, NULL);
    s->srv = NULL;
  }
}
static void sc_reg(ep_epmd_reg *reg, int status, uint32_t creation, void *ud) {
  selfclose *s = ud;
  (void)reg, (void)creation;
  s->reg_calls++;
  s->status = status;
  /* The server went away before its reply was written: refused. */
  if (status) ep_epmd_reg_close(reg);
}
static void sc_lost(ep_epmd_reg *reg, int status, void *ud) {
  selfclose *s = ud;
  (void)status;
  s->lost++;
  ep_epmd_reg_close(reg);
}

START_TEST(server_closed_from_its_log_callback) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  selfclose sc = {0};
  t_server o = {0};
  o.log = sc_log;
  o.log_ud = &sc;
  ck_assert_int_eq(ep_epmd_server_start(&loop, "127.0.0.1", 0, t_s(&o), &sc.srv), 0);
  t_register ro = {0};
  ro.client.host = "127.0.0.1";
  ro.client.port = ep_epmd_server_port(sc.srv);
  ro.name = "selfclose";
  ro.port = 1;
  ep_epmd_reg *reg;
  ck_assert_int_eq(ep_epmd_register(&loop, t_r(&ro), sc_reg, sc_lost, &sc, &reg), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(sc.reg_calls, 1);
  ck_assert(sc.status == EP_EEPMDREFUSED || (sc.status == 0 && sc.lost == 1));
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("epmd_hostile");
  TCase *tc = tcase_create("hostile");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, garbage_is_cut_off_without_reply);
  tcase_add_test(tc, silent_and_truncated_clients_time_out);
  tcase_add_test(tc, registration_ends_on_extra_bytes);
  tcase_add_test(tc, a_thousand_idle_connections);
  tcase_add_test(tc, connection_limit_refuses_extra_clients);
  tcase_add_test(tc, server_closed_from_its_log_callback);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
