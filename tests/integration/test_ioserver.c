/* The one I/O server (lib/ep_ioserver.c) against real erl: the same io
 * call prints the same text, and returns the same, whichever group leader
 * of ours serves it - the node's (an RPC our node makes), a dist peer's, a
 * standard_io peer's - and that text is what the peer's own io_lib makes of
 * the same arguments (io_lib:format for io:format, and so on), asked by a
 * call beside it. Before the I/O servers were one, the node formatted by an
 * RPC back to the caller and the peers with dist/ep_iolib, and the two
 * disagreed (io:write, ~s of a UTF-8 binary, io:put_chars(foo), batches,
 * getopts).
 *
 * One world per test (a private EPMD, HOME and cookie), bounded calls, no
 * sleeps: a call's output arrives before its result (the io_reply comes
 * after the text, and io:format returns only then). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_io.h"
#include "ep_node.h"
#include "ep_peer.h"
#include "ep_testenv.h"
#include "ep_testpeer.h"
#include "ep_text.h"

/* io:F(Args...) and the call that gives the text it should print. */
static const struct {
  const char *f, *args;    /* the io call */
  const char *ref_m, *ref_f; /* the same Args given to this: its chardata */
} cases[] = {
    {"format", "[\"plain~n\", []]", "io_lib", "format"},
    {"format", "[\"~p ~w ~s|~n\", [{a, \"b\", <<\"c\">>, 1.5}, [x, 1], \"str\"]]", "io_lib", "format"},
    {"format", "[\"~10.3f|~-8s|~5w|~8.3.0e|~.16b|~x|~c~n\", [3.14159, \"ab\", 42, 1234.5, 255, 7, \"0x\", 65]]",
     "io_lib", "format"},
    {"format", "[\"~*c|~-*s|~.*f~n\", [3, 120, 6, \"ab\", 2, 2.71828]]", "io_lib", "format"},
    {"format", "[\"prefix ~p~n\", [[aaaaaaaaaaaa, bbbbbbbbbbbbbbbb, cccccccccccccccc, dddddddddddddd, eeeeeee]]]",
     "io_lib", "format"},
    {"format", "[\"~p~n\", [#{k => [1, 2, 3], \"s\" => {t, <<1, 2>>}}]]", "io_lib", "format"},
    /* Latin-1 against Unicode */
    {"format", "[\"~ts|~tp|~p~n\", [[8704, 955], [8704], [233]]]", "io_lib", "format"},
    {"format", "[\"~s|~ts|~w|~p|~tp~n\", [<<195,169>>, <<195,169>>, <<195,169>>, <<195,169>>, <<195,169>>]]", "io_lib",
     "format"},
    {"format", "[\"~c~tc|~ts~n\", [8769, 8704, <<233>>]]", "io_lib", "format"},
    {"format", "[<<\"bin ~p~n\">>, [1]]", "io_lib", "format"},
    {"format", "[fmt_atom, []]", "io_lib", "format"},
    {"fwrite", "[\"~s ~w ~p~n\", [atom_s, 'quoted atom', '\\x{2200}']]", "io_lib", "fwrite"},
    {"fwrite", "[\"~a~n\", [atom_a]]", "io_lib", "fwrite"}, /* no ~a in io_lib */
    /* atoms: quoted and escaped as io_lib writes them, ~p/~w as Latin-1 */
    {"format", "[\"~p|~tp|~w|~tw~n\", ['caf\\x{e9}', 'caf\\x{e9}', 'caf\\x{e9}', 'caf\\x{e9}']]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", ['\\x{3bb}', '\\x{3bb}', '\\x{3bb}', '\\x{3bb}']]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", ['a\\x{3bb}', 'a\\x{3bb}', 'a\\x{3bb}', 'a\\x{3bb}']]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", ['\\x{f7}x', '\\x{f7}x', '\\x{f7}x', '\\x{f7}x']]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", [maybe, maybe, maybe, maybe]]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", ['A', 'A', 'A', 'A']]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", ['x\\ny', 'x\\ny', 'x\\ny', 'x\\ny']]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", ['d\\x{7f}\\x{1}', 'd\\x{7f}\\x{1}', 'd\\x{7f}\\x{1}', 'd\\x{7f}\\x{1}']]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", ['x y', 'x y', 'x y', 'x y']]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", ['receive', 'receive', 'receive', 'receive']]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", ['', '', '', '']]", "io_lib", "format"},
    {"format", "[\"~p|~tp|~w|~tw~n\", ['\\x{e9}t\\x{e9}', '\\x{e9}t\\x{e9}', '\\x{e9}t\\x{e9}', '\\x{e9}t\\x{e9}']]", "io_lib", "format"},
    /* what io_lib refuses: io:format raises badarg, nothing is printed */
    {"format", "[\"~p~n\", []]", "io_lib", "format"},
    {"format", "[\"~q~n\", [1]]", "io_lib", "format"},
    {"format", "[\"~s~n\", [[8704]]]", "io_lib", "format"},
    {"format", "[\"~f~n\", [1]]", "io_lib", "format"},
    /* the other output calls */
    {"put_chars", "[[<<\"put \">>, \"chars\", [10]]]", "unicode", "characters_to_binary"},
    {"put_chars", "[[8704, <<\" \\342\\210\\200\">>, 10]]", "unicode", "characters_to_binary"},
    {"put_chars", "[foo]", "unicode", "characters_to_binary"},
    {"write", "[{x, [1, 2], \"s\", <<\"b\">>}]", "io_lib", "write"},
    {"nl", "[]", "io_lib", "nl"},
};

typedef struct {
  ep_buf out;
} node_output;

static void collect_node_output(ep_node *n, const char *text, size_t len, void *ud) {
  (void)n;
  ep_buf_append(&((node_output *)ud)->out, text, len);
}

/* What a call printed and how it ended: "ok", or "raised" for an exception
 * (io's badarg), or the error's name. */
typedef struct {
  char status[64];
  ep_buf text;
} outcome;

static void outcome_free(outcome *o) { ep_buf_free(&o->text); }

static bool same_text(const ep_buf *x, const ep_buf *y) {
  return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
}

/* The text io:F(Args) should print: ref_m:ref_f(Args) flattened, or
 * "raised" when that raises or is not chardata (io then raises badarg). */
static void expected_by_peer(ep_peer *p, size_t i, outcome *o) {
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  ep_buf_init(&o->text, NULL);
  int rc = ep_peer_call_sync(p, ep_atom(cases[i].ref_m), ep_atom(cases[i].ref_f), args_of(a, cases[i].args), 10000, a,
                             &r);
  ck_assert_msg(rc == 0 || rc == EP_EEXCEPTION, "%s: reference call: %s", cases[i].args, ep_err_name(rc));
  bool ok = rc == 0 && ep_chardata_utf8(r.value, false, &o->text) == 0;
  snprintf(o->status, sizeof o->status, "%s", ok ? "ok" : "raised");
  if (!ok) o->text.len = 0;
  ep_arena_free(a);
}

static void through_peer(ep_peer *p, collected *col, size_t i, outcome *o) {
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  col->out.len = 0;
  int rc = ep_peer_call_sync(p, ep_atom("io"), ep_atom(cases[i].f), args_of(a, cases[i].args), 10000, a, &r);
  ck_assert_msg(rc == 0 || rc == EP_EEXCEPTION, "io:%s(%s): %s", cases[i].f, cases[i].args, ep_err_name(rc));
  if (rc == 0) ck_assert_msg(ep_atom_eq(r.value, "ok"), "io:%s: %s", cases[i].f, result_text(&r));
  if (rc == EP_EEXCEPTION) ck_assert_msg(ep_atom_eq(r.reason, "badarg"), "io:%s: %s", cases[i].f, result_text(&r));
  snprintf(o->status, sizeof o->status, "%s", rc == 0 ? "ok" : "raised");
  ep_buf_init(&o->text, NULL);
  ep_buf_append(&o->text, col->out.data, col->out.len);
  ep_arena_free(a);
}

static void through_node(ep_node *n, const char *peer, node_output *no, size_t i, outcome *o) {
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  no->out.len = 0;
  int rc = ep_rpc_call_sync(n, peer, "io", cases[i].f, args_of(a, cases[i].args), 10000, a, &r);
  ck_assert_msg(rc == 0 || rc == EP_EEXCEPTION, "rpc io:%s(%s): %s", cases[i].f, cases[i].args, ep_err_name(rc));
  if (rc == 0) ck_assert_msg(ep_atom_eq(r.value, "ok"), "rpc io:%s: %s", cases[i].f, term_text(r.value));
  if (rc == EP_EEXCEPTION)
    ck_assert_msg(ep_atom_eq(r.reason, "badarg"), "rpc io:%s: %s", cases[i].f, term_text(r.reason));
  snprintf(o->status, sizeof o->status, "%s", rc == 0 ? "ok" : "raised");
  ep_buf_init(&o->text, NULL);
  ep_buf_append(&o->text, no->out.data, no->out.len);
  ep_arena_free(a);
}

static void assert_same(const char *what, size_t i, const outcome *want, const outcome *got) {
  ck_assert_msg(!strcmp(want->status, got->status) && same_text(&want->text, &got->text),
                "io:%s(%s) %s:\n want %s [%.*s]\n got  %s [%.*s]", cases[i].f, cases[i].args, what, want->status,
                (int)want->text.len, want->text.data ? (char *)want->text.data : "", got->status, (int)got->text.len,
                got->text.data ? (char *)got->text.data : "");
}

/* A dist peer and our node's RPC to it print the same, and what the
 * peer's io_lib prints. */
START_TEST(dist_peer_and_node_rpc_print_the_same) {
  ep_testenv *env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  ep_ctl *c = ep_ctl_new(NULL);
  node_output no = {EP_BUF_INIT};
  ep_node_opts *no_opts = ep_node_opts_new();
  ep_node_opts_set_output_cb(no_opts, collect_node_output, &no);
  ck_assert_int_eq(ep_ctl_start_node(c, no_opts), 0);
  ep_node_opts_free(no_opts);
  ep_peer_opts *o = ep_peer_opts_new();
  char name[96];
  ck_assert_int_eq(ep_peer_random_name("iosv", name, sizeof name), 0);
  ck_assert_int_eq(ep_peer_opts_set_name(o, name), 0);
  ep_peer_opts_set_wait_boot(o, 30000);
  collected col = COLLECTED_INIT;
  ep_peer_opts_set_output(o, collect_output, &col);
  ep_peer *p;
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &p), 0);
  const char *node = ep_peer_node(p);
  ck_assert_ptr_nonnull(node);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    outcome want, by_peer, by_node;
    expected_by_peer(p, i, &want);
    through_peer(p, &col, i, &by_peer);
    through_node(ep_ctl_node(c), node, &no, i, &by_node);
    assert_same("through the dist peer", i, &want, &by_peer);
    assert_same("through an RPC of our node", i, &want, &by_node);
    outcome_free(&want);
    outcome_free(&by_peer);
    outcome_free(&by_node);
  }
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
  ep_buf_free(&col.out);
  ep_buf_free(&no.out);
  ep_testenv_free(env);
}
END_TEST

/* The alternative connections (standard_io, TCP) relay their peer's `user`
 * to the same server: the same texts. */
START_TEST(alternative_connection_peer_prints_the_same) {
  ep_testenv *env = ep_testenv_new();
  ep_ctl *c = ep_ctl_new(NULL);
  ep_peer_opts *o = opts_for(_i);
  collected col = COLLECTED_INIT;
  ep_peer_opts_set_output(o, collect_output, &col);
  ep_peer *p;
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &p), 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    outcome want, by_peer;
    expected_by_peer(p, i, &want);
    through_peer(p, &col, i, &by_peer);
    assert_same(kind_name[_i], i, &want, &by_peer);
    outcome_free(&want);
    outcome_free(&by_peer);
  }
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
  ep_buf_free(&col.out);
  ep_testenv_free(env);
}
END_TEST

/* The requests io's other calls send, through the node's group leader (a
 * dist peer's is the same code): getopts, input, a batch that stops at its
 * first error, a formatting function we do not run. */
START_TEST(node_group_leader_answers_as_a_group_leader_without_input) {
  ep_testenv *env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  ep_ctl *c = ep_ctl_new(NULL);
  node_output no = {EP_BUF_INIT};
  ep_node_opts *no_opts = ep_node_opts_new();
  ep_node_opts_set_output_cb(no_opts, collect_node_output, &no);
  ck_assert_int_eq(ep_ctl_start_node(c, no_opts), 0);
  ep_node_opts_free(no_opts);
  ep_peer_opts *o = ep_peer_opts_new();
  char name[96];
  ck_assert_int_eq(ep_peer_random_name("iosv", name, sizeof name), 0);
  ck_assert_int_eq(ep_peer_opts_set_name(o, name), 0);
  ep_peer_opts_set_wait_boot(o, 30000);
  ep_peer *p;
  ck_assert_int_eq(ep_peer_start_sync(c, o, true, &p), 0);
  static const struct {
    const char *f, *args, *value, *printed;
  } rq[] = {
      {"getopts", "[]", "[{binary,false},{encoding,unicode}]", ""},
      {"get_line", "[\"> \"]", "eof", ""},
      {"setopts", "[[binary]]", "ok", ""},
      {"columns", "[]", "{error,enotsup}", ""},
      {"requests", "[[{put_chars, unicode, \"a\"}, {put_chars, unicode, foo}, {put_chars, unicode, \"b\"}]]",
       "{error,put_chars}", "a"},
      {"request", "[{put_chars, unicode, lists, flatten, [[\"x\"]]}]", "{error,request}", ""},
  };
  for (size_t i = 0; i < sizeof rq / sizeof rq[0]; i++) {
    ep_arena *a = ep_arena_new(NULL);
    ep_result r;
    no.out.len = 0;
    ck_assert_int_eq(ep_rpc_call_sync(ep_ctl_node(c), ep_peer_node(p), "io", rq[i].f, args_of(a, rq[i].args), 10000,
                                      a, &r),
                     0);
    ck_assert_msg(!strcmp(term_text(r.value), rq[i].value), "io:%s: %s", rq[i].f, term_text(r.value));
    ck_assert_msg(no.out.len == strlen(rq[i].printed) && !memcmp(no.out.data ? (char *)no.out.data : "",
                                                                  rq[i].printed, no.out.len),
                  "io:%s printed [%.*s]", rq[i].f, (int)no.out.len, (char *)no.out.data);
    ep_arena_free(a);
  }
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
  ep_peer_opts_free(o);
  ep_ctl_free(c);
  ep_buf_free(&no.out);
  ep_testenv_free(env);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ioserver");
  TCase *tc = tcase_create("real erl");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, dist_peer_and_node_rpc_print_the_same);
  tcase_add_loop_test(tc, alternative_connection_peer_prints_the_same, 0, 2);
  tcase_add_test(tc, node_group_leader_answers_as_a_group_leader_without_input);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
