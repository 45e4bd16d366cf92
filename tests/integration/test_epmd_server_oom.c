/* Our EPMD server when its allocator fails: clients are turned away at
 * once (accepted and closed, the log says EP_ENOMEM), never left in the
 * backlog; once memory is back the server answers again; nothing it took
 * is left behind when it closes.
 *
 * The trap this guards against: a libuv listener whose connection callback
 * does not accept stops being watched until someone does, so a server that
 * simply returned on allocation failure went deaf for good. Everything runs
 * on one loop (server and clients), no erl, no epmd. */
#include <check.h>
#include <signal.h>
#include <string.h>

#include <uv.h>

#include "../unit/ep_failmem.h"
#include "ep_checkrun.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "ep_testepmd.h"

typedef struct world {
  uv_loop_t loop;
  ep_failmem fm;
  ep_epmd_server *srv;
  int cuts_nomem, cuts_other;
  int calls, status[8];
} world;

static void on_log(const ep_epmd_event *ev, void *ud) {
  world *w = ud;
  if (ev->kind != EP_EPMD_EV_CUT) return;
  if (ev->error == EP_ENOMEM) w->cuts_nomem++;
  else w->cuts_other++;
}

static void on_names(int status, const ep_epmd_name *names, size_t n, uint32_t epmd_port, void *ud) {
  world *w = ud;
  (void)names, (void)n, (void)epmd_port;
  if (w->calls < 8) w->status[w->calls] = status;
  w->calls++;
}

/* k NAMES requests at once; runs the loop until all have answered. */
static void names_burst(world *w, int k) {
  t_client o = {0};
  o.host = "127.0.0.1";
  o.port = ep_epmd_server_port(w->srv);
  o.timeout_ms = 3000; /* a server that never accepts shows as EP_ETIMEDOUT */
  w->calls = 0;
  for (int i = 0; i < k; i++) ck_assert_int_eq(ep_epmd_names(&w->loop, t_c(&o), on_names, w, NULL), 0);
  while (w->calls < k) uv_run(&w->loop, UV_RUN_ONCE);
}

static void closed(void *ud) { *(int *)ud = 1; }

/* A server on a loop of its own, allocating through w->fm; max_connections
 * and idle_ms 0 take the defaults. */
static void world_start(world *w, unsigned max_connections, unsigned idle_ms) {
  memset(w, 0, sizeof *w);
  uv_loop_init(&w->loop);
  ep_failmem_init(&w->fm);
  t_server so = {0};
  so.mem = &w->fm.mem;
  so.max_connections = max_connections;
  so.idle_ms = idle_ms;
  so.log = on_log;
  so.log_ud = w;
  ck_assert_int_eq(ep_epmd_server_start(&w->loop, "127.0.0.1", 0, t_s(&so), &w->srv), 0);
}

/* Closes the server; nothing it allocated, and no handle, is left. */
static void world_close(world *w) {
  int done = 0;
  ep_epmd_server_close(w->srv, closed, &done);
  while (!done) uv_run(&w->loop, UV_RUN_ONCE);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(w->fm.live, 0);
  ck_assert_int_eq(uv_loop_close(&w->loop), 0);
}

/* Turned away: closed without an answer (a reset when the request was still
 * unread), as opposed to EP_ETIMEDOUT from a server that never accepts. */
static int turned_away(int status) { return status == EP_EEPMDREFUSED || status == EP_ECONNRESET; }

START_TEST(out_of_memory_turns_clients_away_and_recovers) {
  world w;
  world_start(&w, 0, 0);

  names_burst(&w, 1);
  ck_assert_int_eq(w.status[0], 0);

  /* Every allocation fails: a client is closed without an answer. Several
   * at once also exercise the spare handle's queue. */
  ep_failmem_fail_from(&w.fm, 1);
  names_burst(&w, 1);
  ck_assert_msg(turned_away(w.status[0]), "%s", ep_err_name(w.status[0]));
  names_burst(&w, 5);
  for (int i = 0; i < 5; i++) ck_assert_msg(turned_away(w.status[i]), "%s", ep_err_name(w.status[i]));
  ck_assert_int_ge(w.cuts_nomem, 6);

  /* The connection is taken but its per-connection state cannot be. */
  for (long i = 2; i <= 4; i++) {
    ep_failmem_fail_once(&w.fm, i);
    names_burst(&w, 1);
    ck_assert_msg(w.status[0] == 0 || turned_away(w.status[0]), "%s", ep_err_name(w.status[0]));
  }

  /* Memory is back: served again. */
  ep_failmem_fail_once(&w.fm, 0);
  names_burst(&w, 3);
  for (int i = 0; i < 3; i++) ck_assert_int_eq(w.status[i], 0);

  world_close(&w);
}
END_TEST

/* Full and out of memory at once: the connection limit's rejection needs a
 * handle too. */
START_TEST(full_and_out_of_memory) {
  world w;
  world_start(&w, 1, 10000);
  /* One silent client fills the server. */
  uv_tcp_t hog;
  uv_connect_t cr;
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", ep_epmd_server_port(w.srv), &sa);
  uv_tcp_init(&w.loop, &hog);
  ck_assert_int_eq(uv_tcp_connect(&cr, &hog, (const struct sockaddr *)&sa, NULL), 0);
  while (ep_epmd_server_connections(w.srv) < 1) uv_run(&w.loop, UV_RUN_ONCE);
  ep_failmem_fail_from(&w.fm, 1);
  names_burst(&w, 4);
  for (int i = 0; i < 4; i++) ck_assert_msg(turned_away(w.status[i]), "%s", ep_err_name(w.status[i]));
  ep_failmem_fail_once(&w.fm, 0);
  uv_close((uv_handle_t *)&hog, NULL);
  world_close(&w);
}
END_TEST

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  Suite *s = suite_create("epmd_server_oom");
  TCase *tc = tcase_create("oom");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, out_of_memory_turns_clients_away_and_recovers);
  tcase_add_test(tc, full_and_out_of_memory);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
