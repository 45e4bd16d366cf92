/* The `erlpeer session` command reader (tools/tool_session.c): each vector
 * is an input line and what the session makes of it. The replies the
 * session writes for them were checked against the reader before it was
 * factored out of tools/cmd_session.c (same bytes for every line here). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "tool_session.h"

typedef struct vec {
  const char *line;
  ep_scmd_kind kind;
  const char *why; /* why (SYNTAX, BADARG) or late_why (START, CALL); NULL: none */
  size_t nopts;    /* START: options that parsed */
} vec;

#define CONN "connection: 0 | Port | {IP, Port} | standard_io | dist"
#define SHUT "shutdown: close | halt | {halt, T} | T | infinity (T >= 1000)"
#define UNKNOWN "unknown command (start, call, cast, send, state, stop)"
#define TUPLE "a command is a tuple {Command, Id, ...}"
#define START "start wants {start, Id, #{...}}"

static const vec vectors[] = {
    {"\n", EP_SCMD_SKIP, NULL, 0},
    {"% a comment\n", EP_SCMD_SKIP, NULL, 0},
    {"  \t \n", EP_SCMD_SKIP, NULL, 0},
    {"{state, a}.\n", EP_SCMD_STATE, NULL, 0},
    {"{stop, a}", EP_SCMD_STOP, NULL, 0},
    {"foo.\n", EP_SCMD_BADARG, TUPLE, 0},
    {"{foo}.\n", EP_SCMD_BADARG, TUPLE, 0},
    {"{1, a}.\n", EP_SCMD_BADARG, TUPLE, 0},
    {"{foo, a}.\n", EP_SCMD_BADARG, UNKNOWN, 0},
    {"{start, a}.\n", EP_SCMD_BADARG, UNKNOWN, 0},
    {"{state, a, b}.\n", EP_SCMD_BADARG, UNKNOWN, 0},
    {"{call, a, m, f}.\n", EP_SCMD_BADARG, UNKNOWN, 0},
    {"{start, a, b}.\n", EP_SCMD_BADARG, START, 0},
    {"{start, a, [x]}.\n", EP_SCMD_BADARG, START, 0},
    {"{start, a, #{}}.\n", EP_SCMD_START, NULL, 0},
    {"{start, a, #{bogus => 1}}.\n", EP_SCMD_START, "unknown start option", 0},
    {"{start, a, #{name => 1}}.\n", EP_SCMD_START, "bad start option", 0},
    /* the map's order (as written): name parsed, then connection did not */
    {"{start, a, #{name => \"x\", connection => 70000}}.\n", EP_SCMD_START, CONN, 1},
    {"{start, a, #{connection => 4294967376}}.\n", EP_SCMD_START, CONN, 0},
    {"{start, a, #{connection => -1}}.\n", EP_SCMD_START, CONN, 0},
    {"{start, a, #{connection => {{1,2,3,256}, 80}}}.\n", EP_SCMD_START, CONN, 0},
    {"{start, a, #{connection => {\"h\", 4294967376}}}.\n", EP_SCMD_START, CONN, 0},
    {"{start, a, #{connection => {1, 80}}}.\n", EP_SCMD_START, CONN, 0},
    {"{start, a, #{connection => foo}}.\n", EP_SCMD_START, CONN, 0},
    {"{start, a, #{exec => {\"erl\", [1]}}}.\n", EP_SCMD_START, "exec: Prog | {Prog, [Arg]}", 0},
    {"{start, a, #{exec => {\"erl\", x}}}.\n", EP_SCMD_START, "exec: Prog | {Prog, [Arg]}", 0},
    {"{start, a, #{exec => 1}}.\n", EP_SCMD_START, "exec: Prog | {Prog, [Arg]}", 0},
    {"{start, a, #{args => x}}.\n", EP_SCMD_START, "args: [string()]", 0},
    {"{start, a, #{args => [1]}}.\n", EP_SCMD_START, "args: [string()]", 0},
    {"{start, a, #{env => [x]}}.\n", EP_SCMD_START, "env: [{K, V}]", 0},
    {"{start, a, #{env => [{\"a\", 1}]}}.\n", EP_SCMD_START, "env: [{K, V}]", 0},
    {"{start, a, #{env => x}}.\n", EP_SCMD_START, "env: [{K, V}]", 0},
    {"{start, a, #{wait_boot => x}}.\n", EP_SCMD_START, "wait_boot: ms | infinity | false", 0},
    {"{start, a, #{shutdown => {halt, x}}}.\n", EP_SCMD_START, SHUT, 0},
    {"{start, a, #{shutdown => -1}}.\n", EP_SCMD_START, SHUT, 0},
    {"{start, a, #{shutdown => 4294967296}}.\n", EP_SCMD_START, SHUT, 0},
    {"{start, a, #{peer_down => x}}.\n", EP_SCMD_START, "peer_down: stop | continue | crash", 0},
    /* the options before the bad one are kept: the session applies them first */
    {"{start, a, #{args => [\"ok\"], name => \"\", wait_boot => x}}.\n", EP_SCMD_START,
     "wait_boot: ms | infinity | false", 2},
    {"{start, a, #{connection => standard_io, detached => true, host => \"h\", longnames => true,"
     " name => \"n\", peer_down => crash, shutdown => close, wait_boot => false}}.\n",
     EP_SCMD_START, NULL, 8},
    {"{call, a, m, f, []}.\n", EP_SCMD_CALL, NULL, 0},
    {"{call, a, m, f, [], bad}.\n", EP_SCMD_CALL, "call timeout: ms | infinity", 0},
    {"{call, a, m, f, [], -1}.\n", EP_SCMD_CALL, "call timeout: ms | infinity", 0},
    {"{call, a, m, f, [], 4294967295}.\n", EP_SCMD_CALL, "call timeout: ms | infinity", 0},
    {"{call, a, m, f, [], 4294967294}.\n", EP_SCMD_CALL, NULL, 0},
    {"{call, a, m, f, [], infinity}.\n", EP_SCMD_CALL, NULL, 0},
    {"{cast, a, m, f, []}.\n", EP_SCMD_CAST, NULL, 0},
    {"{send, a, x, y}.\n", EP_SCMD_SEND, NULL, 0},
    {"<<\"unterminated\n", EP_SCMD_SYNTAX, "2:1: unexpected end of input", 0},
    {"{a, b}} x.\n", EP_SCMD_SYNTAX, "1:7: unexpected text after the term", 0},
    {"\"\\x{110000}\".\n", EP_SCMD_SYNTAX, "1:2: illegal \\x{...} escape", 0},
};

START_TEST(table) {
  for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
    const vec *v = &vectors[i];
    ep_arena *a = ep_arena_new(NULL);
    ep_scmd c;
    ep_scmd_parse(a, v->line, strlen(v->line), &c);
    ck_assert_msg(c.kind == v->kind, "%s: kind %d, want %d", v->line, c.kind, v->kind);
    const char *why = c.kind == EP_SCMD_SYNTAX || c.kind == EP_SCMD_BADARG ? c.why : c.late_why;
    if (v->why)
      ck_assert_msg(why && !strcmp(why, v->why), "%s: why '%s', want '%s'", v->line, why ? why : "(none)",
                    v->why);
    else
      ck_assert_msg(!why, "%s: unexpected why '%s'", v->line, why);
    ck_assert_msg(c.nopts == v->nopts, "%s: %zu options, want %zu", v->line, c.nopts, v->nopts);
    ep_arena_free(a);
  }
}
END_TEST

/* The fields the session hands to the peer option setters. */
START_TEST(options) {
  ep_arena *a = ep_arena_new(NULL);
  ep_scmd c;
  const char *l =
      "{start, {p, 1}, #{args => [\"-x\", 'y'], connection => {{127,0,0,1}, 4000},"
      " env => [{\"K\", <<\"V\">>}], exec => {\"/bin/sh\", [\"-c\"]}, shutdown => {halt, infinity},"
      " wait_boot => 250}}.\n";
  ep_scmd_parse(a, l, strlen(l), &c);
  ck_assert_int_eq(c.kind, EP_SCMD_START);
  ck_assert_ptr_null(c.late_why);
  ck_assert_uint_eq(c.nopts, 6);
  ck_assert(c.id.type == EP_T_TUPLE && c.id.n == 2);
  ck_assert_int_eq(c.opts[0].key, EP_SOPT_ARGS);
  ck_assert_uint_eq(c.opts[0].n, 2);
  ck_assert_str_eq(c.opts[0].list[0], "-x");
  ck_assert_str_eq(c.opts[0].list[1], "y");
  ck_assert_ptr_null(c.opts[0].list[2]);
  ck_assert_int_eq(c.opts[1].key, EP_SOPT_CONN_TCP);
  ck_assert_str_eq(c.opts[1].str, "127.0.0.1");
  ck_assert_int_eq(c.opts[1].num, 4000);
  ck_assert_int_eq(c.opts[2].key, EP_SOPT_ENV);
  ck_assert_uint_eq(c.opts[2].n, 1);
  ck_assert_str_eq(c.opts[2].list[0], "K");
  ck_assert_str_eq(c.opts[2].list[1], "V");
  ck_assert_int_eq(c.opts[3].key, EP_SOPT_EXEC);
  ck_assert_str_eq(c.opts[3].str, "/bin/sh");
  ck_assert_str_eq(c.opts[3].list[0], "-c");
  ck_assert_int_eq(c.opts[4].key, EP_SOPT_SHUTDOWN);
  ck_assert_int_eq(c.opts[4].mode, EP_SSHUT_HALT);
  ck_assert_int_eq(c.opts[4].num, UINT32_MAX);
  ck_assert_int_eq(c.opts[5].key, EP_SOPT_WAIT_BOOT);
  ep_arena_reset(a);
  /* in the map's order */
  l = "{start, x, #{wait_boot => 250, connection => 0, shutdown => 3000, peer_down => continue}}.";
  ep_scmd_parse(a, l, strlen(l), &c);
  ck_assert_uint_eq(c.nopts, 4);
  ck_assert_int_eq(c.opts[0].mode, EP_SWAIT_MS);
  ck_assert_int_eq(c.opts[0].num, 250);
  ck_assert_int_eq(c.opts[1].key, EP_SOPT_CONN_TCP);
  ck_assert_ptr_null(c.opts[1].str);
  ck_assert_int_eq(c.opts[1].num, 0);
  ck_assert_int_eq(c.opts[2].mode, EP_SSHUT_STOP);
  ck_assert_int_eq(c.opts[2].num, 3000);
  ck_assert_int_eq(c.opts[3].mode, EP_SDOWN_CONTINUE);
  ep_arena_reset(a);
  l = "{call, a, lists, seq, [1, 3], 1500}.\n";
  ep_scmd_parse(a, l, strlen(l), &c);
  ck_assert_int_eq(c.kind, EP_SCMD_CALL);
  ck_assert_int_eq(c.timeout_ms, 1500);
  ck_assert(ep_atom_eq(c.args[0], "lists") && ep_atom_eq(c.args[1], "seq"));
  ck_assert_int_eq(ep_list_len(c.args[2]), 2);
  ep_arena_free(a);
}
END_TEST

/* Like the session (which keeps a line as a C string), a NUL ends the line. */
START_TEST(nul_ends_the_line) {
  ep_arena *a = ep_arena_new(NULL);
  ep_scmd c;
  static const char l[] = "{state, a}.\0garbage\n";
  ep_scmd_parse(a, l, sizeof l - 1, &c);
  ck_assert_int_eq(c.kind, EP_SCMD_STATE);
  ep_scmd_parse(a, "\0{state, a}.", 12, &c);
  ck_assert_int_eq(c.kind, EP_SCMD_SKIP);
  ep_arena_free(a);
}
END_TEST

int main(void) {
  Suite *s = suite_create("session");
  TCase *tc = tcase_create("reader");
  tcase_add_test(tc, table);
  tcase_add_test(tc, options);
  tcase_add_test(tc, nul_ends_the_line);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
