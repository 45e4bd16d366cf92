/* Control messages: every op built and parsed back, the forms the flags
 * choose, and malformed tuples as EP_ECONTROL (never a crash). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_dflags.h"
#include "ep_dist.h"
#include "ep_error.h"

static ep_arena *A;
static ep_term P1, P2, R1, TOK;

static void setup(void) {
  A = ep_arena_new(NULL);
  P1 = ep_pid(A, "a@h", 1, 2, 3);
  P2 = ep_pid(A, "b@h", 4, 5, 6);
  uint32_t ids[3] = {1, 2, 3};
  R1 = ep_ref(A, "a@h", 3, 3, ids);
  TOK = EP_TUPLE(A, ep_int(0), ep_atom("label"));
}
static void teardown(void) { ep_arena_free(A); }

static ep_ctrl blank(ep_ctrl_op op) {
  ep_ctrl c;
  memset(&c, 0, sizeof c);
  c.op = op;
  return c;
}

/* build -> check the wire op -> parse -> compare the normalised fields */
static ep_ctrl roundtrip(const ep_ctrl *c, uint64_t flags, int wire_op) {
  ep_term ctl, pl;
  ck_assert_int_eq(ep_ctrl_build(A, c, flags, &ctl, &pl), 0);
  ck_assert_int_eq(ctl.type, EP_T_TUPLE);
  ck_assert_int_eq(ctl.v.items[0].v.i, wire_op);
  ep_ctrl back;
  ck_assert_int_eq(ep_ctrl_parse(ctl, pl, &back), 0);
  ck_assert_int_eq(back.op, c->op == EP_CTRL_UNLINK && (flags & EP_DFLAG_UNLINK_ID) ? EP_CTRL_UNLINK_ID
                            : c->op == EP_CTRL_UNLINK_ID && !(flags & EP_DFLAG_UNLINK_ID) ? EP_CTRL_UNLINK
                                                                                          : c->op);
  return back;
}

#define SAME(x, y) ck_assert(ep_term_eq((x), (y)))

START_TEST(link_unlink_group_leader) {
  ep_ctrl c = blank(EP_CTRL_LINK);
  c.from = P1, c.to = P2;
  ep_ctrl b = roundtrip(&c, EP_DFLAGS_OURS, 1);
  SAME(b.from, P1);
  SAME(b.to, P2);
  c.op = EP_CTRL_GROUP_LEADER;
  b = roundtrip(&c, EP_DFLAGS_OURS, 7);
  SAME(b.to, P2);
  c.op = EP_CTRL_UNLINK;
  c.id = 42;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_UNLINK_ID); /* UNLINK_ID negotiated */
  ck_assert_uint_eq(b.id, 42);
  b = roundtrip(&c, EP_DFLAGS_OURS & ~EP_DFLAG_UNLINK_ID, EP_CTRL_UNLINK);
  c.op = EP_CTRL_UNLINK_ID;
  c.id = UINT64_MAX; /* travels as a bignum */
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_UNLINK_ID);
  ck_assert(b.id == UINT64_MAX);
  c.op = EP_CTRL_UNLINK_ID_ACK;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_UNLINK_ID_ACK);
  ck_assert(b.id == UINT64_MAX);
  ep_term ctl, pl;
  ck_assert_int_eq(ep_ctrl_build(A, &c, EP_DFLAGS_OURS & ~EP_DFLAG_UNLINK_ID, &ctl, &pl), EP_EINVAL);
}
END_TEST

START_TEST(sends) {
  ep_term msg = EP_TUPLE(A, ep_atom("hello"), ep_int(1));
  ep_ctrl c = blank(EP_CTRL_SEND);
  c.to = P2, c.msg = msg;
  ep_ctrl b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_SEND); /* no from: plain SEND */
  ck_assert(ep_is_none(b.from));
  SAME(b.msg, msg);
  c.from = P1;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_SEND_SENDER);
  SAME(b.from, P1);
  SAME(b.msg, msg);
  b = roundtrip(&c, EP_DFLAGS_OURS & ~EP_DFLAG_SEND_SENDER, EP_CTRL_SEND);
  ck_assert(ep_is_none(b.from));
  c.token = TOK;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_SEND_SENDER_TT);
  SAME(b.token, TOK);
  b = roundtrip(&c, EP_DFLAGS_OURS & ~EP_DFLAG_SEND_SENDER, EP_CTRL_SEND_TT);
  SAME(b.token, TOK);
  SAME(b.msg, msg);

  c = blank(EP_CTRL_REG_SEND);
  c.from = P1, c.to = ep_atom("rex"), c.msg = msg;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_REG_SEND);
  ck_assert(ep_atom_eq(b.to, "rex"));
  SAME(b.msg, msg);
  c.token = TOK;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_REG_SEND_TT);
  SAME(b.token, TOK);

  c = blank(EP_CTRL_ALIAS_SEND);
  c.from = P1, c.to = R1, c.msg = msg;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_ALIAS_SEND);
  SAME(b.to, R1);
  SAME(b.msg, msg);
  c.token = TOK;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_ALIAS_SEND_TT);
  ep_term ctl, pl;
  ck_assert_int_eq(ep_ctrl_build(A, &c, EP_DFLAGS_OURS & ~EP_DFLAG_ALIAS, &ctl, &pl), EP_EINVAL);
}
END_TEST

START_TEST(exits) {
  ep_term reason = EP_TUPLE(A, ep_atom("shutdown"), ep_atom("x"));
  int ops[2] = {EP_CTRL_EXIT, EP_CTRL_EXIT2};
  int pay[2] = {EP_CTRL_PAYLOAD_EXIT, EP_CTRL_PAYLOAD_EXIT2};
  int pay_tt[2] = {EP_CTRL_PAYLOAD_EXIT_TT, EP_CTRL_PAYLOAD_EXIT2_TT};
  int old[2] = {EP_CTRL_EXIT, EP_CTRL_EXIT2};
  int old_tt[2] = {EP_CTRL_EXIT_TT, EP_CTRL_EXIT2_TT};
  for (int k = 0; k < 2; k++) {
    ep_ctrl c = blank((ep_ctrl_op)ops[k]);
    c.from = P1, c.to = P2, c.reason = reason;
    ep_ctrl b = roundtrip(&c, EP_DFLAGS_OURS, pay[k]);
    SAME(b.reason, reason);
    b = roundtrip(&c, EP_DFLAGS_OURS & ~EP_DFLAG_EXIT_PAYLOAD, old[k]);
    SAME(b.reason, reason);
    c.token = TOK;
    b = roundtrip(&c, EP_DFLAGS_OURS, pay_tt[k]);
    SAME(b.reason, reason);
    SAME(b.token, TOK);
    b = roundtrip(&c, EP_DFLAGS_OURS & ~EP_DFLAG_EXIT_PAYLOAD, old_tt[k]);
    SAME(b.reason, reason);
    SAME(b.token, TOK);
  }
}
END_TEST

START_TEST(monitors) {
  ep_ctrl c = blank(EP_CTRL_MONITOR_P);
  c.from = P1, c.to = P2, c.ref = R1;
  ep_ctrl b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_MONITOR_P);
  SAME(b.ref, R1);
  c.to = ep_atom("net_kernel"); /* by name */
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_MONITOR_P);
  ck_assert(ep_atom_eq(b.to, "net_kernel"));
  ep_term ctl, pl;
  ck_assert_int_eq(ep_ctrl_build(A, &c, EP_DFLAGS_OURS & ~EP_DFLAG_DIST_MONITOR_NAME, &ctl, &pl), EP_EINVAL);
  c.op = EP_CTRL_DEMONITOR_P;
  roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_DEMONITOR_P);
  ck_assert_int_eq(ep_ctrl_build(A, &c, EP_DFLAGS_OURS & ~EP_DFLAG_DIST_MONITOR, &ctl, &pl), EP_EINVAL);

  c = blank(EP_CTRL_MONITOR_P_EXIT);
  c.from = P2, c.to = P1, c.ref = R1, c.reason = ep_atom("noproc");
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_PAYLOAD_MONITOR_P_EXIT);
  ck_assert(ep_atom_eq(b.reason, "noproc"));
  b = roundtrip(&c, EP_DFLAGS_OURS & ~EP_DFLAG_EXIT_PAYLOAD, EP_CTRL_MONITOR_P_EXIT);
  ck_assert(ep_atom_eq(b.reason, "noproc"));
  c.from = ep_atom("some_name");
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_PAYLOAD_MONITOR_P_EXIT);
  ck_assert(ep_atom_eq(b.from, "some_name"));
}
END_TEST

START_TEST(spawn) {
  ep_ctrl c = blank(EP_CTRL_SPAWN_REQUEST);
  c.ref = R1, c.from = P1, c.group_leader = P2;
  c.mfa = EP_TUPLE(A, ep_atom("erpc"), ep_atom("execute_call"), ep_int(4));
  c.opts = EP_LIST(A, ep_atom("monitor"));
  c.msg = EP_LIST(A, R1, ep_atom("erlang"), ep_atom("node"), ep_nil());
  ep_ctrl b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_SPAWN_REQUEST);
  SAME(b.mfa, c.mfa);
  SAME(b.opts, c.opts);
  SAME(b.msg, c.msg);
  SAME(b.group_leader, P2);
  c.token = TOK;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_SPAWN_REQUEST_TT);
  SAME(b.token, TOK);
  ep_term ctl, pl;
  ck_assert_int_eq(ep_ctrl_build(A, &c, EP_DFLAGS_OURS & ~EP_DFLAG_SPAWN, &ctl, &pl), EP_EINVAL);

  c = blank(EP_CTRL_SPAWN_REPLY);
  c.ref = R1, c.to = P1, c.spawn_flags = 1, c.result = P2;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_SPAWN_REPLY);
  ck_assert_uint_eq(b.spawn_flags, 1);
  SAME(b.result, P2);
  c.result = ep_atom("badarg");
  c.token = TOK;
  b = roundtrip(&c, EP_DFLAGS_OURS, EP_CTRL_SPAWN_REPLY_TT);
  ck_assert(ep_atom_eq(b.result, "badarg"));
}
END_TEST

START_TEST(build_rejects) {
  ep_term ctl, pl;
  ep_ctrl c = blank(EP_CTRL_NODE_LINK);
  ck_assert_int_eq(ep_ctrl_build(A, &c, EP_DFLAGS_OURS, &ctl, &pl), EP_EINVAL);
  c = blank(EP_CTRL_SEND_TT);
  ck_assert_int_eq(ep_ctrl_build(A, &c, EP_DFLAGS_OURS, &ctl, &pl), EP_EINVAL);
  c = blank(EP_CTRL_SEND); /* no msg, no to */
  ck_assert_int_eq(ep_ctrl_build(A, &c, EP_DFLAGS_OURS, &ctl, &pl), EP_EINVAL);
  c = blank(EP_CTRL_LINK);
  c.from = P1, c.to = ep_atom("x"); /* link to a name: no */
  ck_assert_int_eq(ep_ctrl_build(A, &c, EP_DFLAGS_OURS, &ctl, &pl), EP_EINVAL);
  c = blank((ep_ctrl_op)99);
  ck_assert_int_eq(ep_ctrl_build(A, &c, EP_DFLAGS_OURS, &ctl, &pl), EP_EINVAL);
}
END_TEST

/* Things a hostile or buggy peer may send: all EP_ECONTROL. */
START_TEST(parse_rejects_malformed) {
  ep_term msg = ep_atom("m");
  struct {
    ep_term ctl, pl;
  } bad[] = {
      {ep_atom("notatuple"), {0}},
      {EP_TUPLE(A, ep_atom("one")), {0}},
      {EP_TUPLE(A, ep_int(99), P1, P2), {0}},            /* unknown op */
      {EP_TUPLE(A, ep_int(-1)), {0}},                     /* negative op */
      {EP_TUPLE(A, ep_int(1), P1), {0}},                  /* LINK, short */
      {EP_TUPLE(A, ep_int(1), P1, P2, P2), {0}},          /* LINK, long */
      {EP_TUPLE(A, ep_int(1), P1, ep_atom("x")), {0}},    /* LINK to an atom */
      {EP_TUPLE(A, ep_int(1), P1, P2), msg},              /* LINK with a payload */
      {EP_TUPLE(A, ep_int(2), ep_atom(""), P2), {0}},     /* SEND without payload */
      {EP_TUPLE(A, ep_int(2), ep_atom(""), ep_int(5)), msg}, /* SEND to an int */
      {EP_TUPLE(A, ep_int(6), P1, ep_atom(""), P2), msg}, /* REG_SEND to a pid */
      {EP_TUPLE(A, ep_int(19), P1, P2, ep_int(1)), {0}},  /* MONITOR_P, ref not a ref */
      {EP_TUPLE(A, ep_int(21), P1, P2, R1), {0}},         /* MONITOR_P_EXIT short */
      {EP_TUPLE(A, ep_int(24), P1, P2), {0}},             /* PAYLOAD_EXIT w/o reason */
      {EP_TUPLE(A, ep_int(29), R1, P1, P2, ep_atom("mfa"), ep_nil()), ep_nil()},
      {EP_TUPLE(A, ep_int(29), R1, P1, P2, EP_TUPLE(A, ep_atom("m"), ep_atom("f"), ep_int(0)), ep_atom("x")),
       ep_nil()}, /* opts not a list */
      {EP_TUPLE(A, ep_int(29), R1, P1, P2, EP_TUPLE(A, ep_atom("m"), ep_atom("f"), ep_int(0)), ep_nil()),
       ep_atom("args")}, /* args not a list */
      {EP_TUPLE(A, ep_int(31), R1, P1, ep_int(-1), P2), {0}}, /* SPAWN_REPLY negative flags */
      {EP_TUPLE(A, ep_int(33), P1, P2), msg},              /* ALIAS_SEND alias not a ref */
      {EP_TUPLE(A, ep_int(35), ep_int(-5), P1, P2), {0}},  /* UNLINK_ID negative id */
      {EP_TUPLE(A, ep_int(35), ep_atom("x"), P1, P2), {0}},
      {EP_TUPLE(A, ep_atom("link"), P1, P2), {0}},
      {ep_tuple(A, 0, NULL), {0}},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    ep_ctrl c;
    ck_assert_msg(ep_ctrl_parse(bad[k].ctl, bad[k].pl, &c) == EP_ECONTROL, "case %zu", k);
    ck_assert(ep_is_none(c.from) && ep_is_none(c.to));
  }
}
END_TEST

/* Parse what OTP sends in old forms too: SEND with the legacy cookie atom
 * in the unused slot, NODE_LINK. */
START_TEST(parse_legacy_forms) {
  ep_ctrl c;
  ck_assert_int_eq(ep_ctrl_parse(EP_TUPLE(A, ep_int(2), ep_atom("cookie"), P2), ep_int(1), &c), 0);
  ck_assert_int_eq(c.op, EP_CTRL_SEND);
  ck_assert_int_eq(c.msg.v.i, 1);
  ck_assert_int_eq(ep_ctrl_parse(EP_TUPLE(A, ep_int(5)), ep_none(), &c), 0);
  ck_assert_int_eq(c.op, EP_CTRL_NODE_LINK);
}
END_TEST

Suite *ctrl_suite(void) {
  Suite *s = suite_create("dist_ctrl");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, link_unlink_group_leader);
  tcase_add_test(tc, sends);
  tcase_add_test(tc, exits);
  tcase_add_test(tc, monitors);
  tcase_add_test(tc, spawn);
  tcase_add_test(tc, build_rejects);
  tcase_add_test(tc, parse_rejects_malformed);
  tcase_add_test(tc, parse_legacy_forms);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return ep_check_run(ctrl_suite(), CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
