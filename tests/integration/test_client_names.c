/* Client-profile nodes and the names they share, against a real node
 * (issue 13): a client never takes a name that another program is
 * connected under (its dial fails with EP_EALIVE, the holder keeps its
 * connection, EP_NODE_NOTICE_NAME_IN_USE says why), and a client whose
 * connection another node of its name took over hears of it when it
 * reconnects (the notice again) and gets its name back. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_testenv.h"
#include "ep_text.h"

static ep_testenv *env;
static char target[256];

typedef struct seen {
  int notices, downs, ups;
  char text[800];
} seen;

static void on_notice(ep_node *n, ep_node_notice_kind kind, const char *text, void *ud) {
  (void)n;
  seen *s = ud;
  if (kind != EP_NODE_NOTICE_NAME_IN_USE) return;
  s->notices++;
  snprintf(s->text, sizeof s->text, "%s", text);
}

static void on_event(ep_node *n, ep_node_event_kind kind, const char *peer, int reason, void *ud) {
  (void)n, (void)peer, (void)reason;
  seen *s = ud;
  if (kind == EP_NODE_DOWN) s->downs++;
  else s->ups++;
}

/* A node named name: a client (the client profile) or a full node that
 * is not registered in EPMD. */
static ep_node *start(const char *name, bool client, seen *s) {
  ep_node_opts *o = ep_node_opts_new();
  ck_assert_int_eq(ep_node_opts_set_name(o, name), 0);
  if (client) ep_node_opts_set_client(o, true);
  else ep_node_opts_set_epmd_mode(o, EP_EPMD_NONE);
  ep_node_opts_set_notice_cb(o, on_notice, s);
  ep_node_opts_set_event_cb(o, on_event, s);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  return n;
}

/* The hidden nodes the target is connected to, as printed. */
static const char *hidden(ep_node *n, ep_arena *A) {
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(n, target, "erlang", "nodes", EP_LIST(A, ep_atom("hidden")), 10000, A, &r), 0);
  return ep_print_str(A, r.value);
}

static bool down_seen(void *ud) { return ((seen *)ud)->downs > 0; }

static void setup(void) {
  env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  ck_assert_int_gt(ep_testenv_start_erl(env, "target", NULL, target, sizeof target), 0);
}

static void teardown(void) { ep_testenv_free(env); }

/* Two clients of one name: the second backs off, the first keeps its
 * connection. (Before: the second answered "alive" with true and the
 * target cut the first one's connection for it.) */
START_TEST(second_client_of_a_name_backs_off) {
  ep_arena *A = ep_arena_new(NULL);
  seen sa = {0}, sb = {0};
  ep_node *a = start("agent", true, &sa);
  ck_assert_int_eq(ep_node_ping_sync(a, target, 10000), 0);
  ep_node *b = start("agent", true, &sb);
  ck_assert_int_eq(ep_node_ping_sync(b, target, 10000), EP_EALIVE);
  ck_assert_int_eq(sb.notices, 1);
  ck_assert_msg(strstr(sb.text, "already has a connection from a node named agent@"), "notice: %s", sb.text);
  /* a's connection is the one it had: no DOWN, no second UP, and the target
   * still counts it (a's call goes over it) */
  ck_assert_str_eq(hidden(a, A), ep_print_str(A, EP_LIST(A, ep_atom(ep_node_name(a)))));
  ck_assert_int_eq(sa.downs, 0);
  ck_assert_int_eq(sa.ups, 1);
  ck_assert_int_eq(sa.notices, 0);
  /* once a is gone, the name is free for b */
  ep_node_free(a);
  ep_result r;
  int st = EP_EALIVE;
  for (int i = 0; i < 50 && st == EP_EALIVE; i++) {
    /* the target sees a's close at its own pace: each try is a full
     * handshake, answered "alive" until then */
    st = ep_node_ping_sync(b, target, 10000);
  }
  ck_assert_int_eq(st, 0);
  ck_assert_int_eq(ep_rpc_call_sync(b, target, "erlang", "node", ep_nil(), 10000, A, &r), 0);
  ep_node_free(b);
  ep_arena_free(A);
}
END_TEST

/* A full node of our name takes our connection over (it answers "alive"
 * with true): our connection goes down; reconnecting, we hear "alive" for
 * a connection we do not have, which the notice reports, and as a node
 * that was connected there we take the name back. */
START_TEST(replaced_connection_is_reported) {
  ep_arena *A = ep_arena_new(NULL);
  seen sa = {0}, sc = {0};
  ep_node *a = start("agent2", true, &sa);
  ck_assert_int_eq(ep_node_ping_sync(a, target, 10000), 0);
  ep_node *c = start("agent2", false, &sc);
  ck_assert_int_eq(ep_node_ping_sync(c, target, 10000), 0);
  ck_assert_int_eq(sc.notices, 0); /* a full node says nothing: it replaces */
  ck_assert_int_eq(ep_node_run_until(a, down_seen, &sa, 10000), 0);
  ck_assert_int_eq(sa.downs, 1);
  ck_assert_int_eq(sa.notices, 0);
  ck_assert_int_eq(ep_node_ping_sync(a, target, 10000), 0);
  ck_assert_int_eq(sa.notices, 1);
  ck_assert_msg(strstr(sa.text, "though ours is gone"), "notice: %s", sa.text);
  ck_assert_int_eq(ep_node_run_until(c, down_seen, &sc, 10000), 0);
  ck_assert_int_eq(sc.downs, 1);
  ck_assert_str_eq(hidden(a, A), ep_print_str(A, EP_LIST(A, ep_atom(ep_node_name(a)))));
  ep_node_free(c);
  ep_node_free(a);
  ep_arena_free(A);
}
END_TEST

int main(void) {
  Suite *s = suite_create("client_names");
  TCase *tc = tcase_create("names");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  EP_ADD(tc, second_client_of_a_name_backs_off);
  EP_ADD(tc, replaced_connection_is_reported);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
