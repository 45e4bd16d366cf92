/* The I/O protocol server (dist/ep_ioserv.h): each request with the text it
 * prints and the reply it gives, as OTP's group.erl answers them (and
 * io_lib:format prints, for the formatted ones). */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_failmem.h"
#include "ep_ioserv.h"
#include "ep_limits.h"
#include "ep_text.h"

static const struct {
  const char *request, *text, *reply;
} cases[] = {
    /* put_chars: chardata, latin1 binaries, the old 2-tuple (latin1) */
    {"{put_chars, unicode, [\"ab\", <<\"c\">>, [100 | <<\"e\">>]]}", "abcde", "ok"},
    {"{put_chars, unicode, <<\"caf\\303\\251\">>}", "caf\xc3\xa9", "ok"},
    {"{put_chars, latin1, <<233>>}", "\xc3\xa9", "ok"},
    {"{put_chars, <<233>>}", "\xc3\xa9", "ok"},
    {"{put_chars, unicode, [8704]}", "\xe2\x88\x80", "ok"},
    {"{put_chars, unicode, foo}", "", "{error,put_chars}"},
    {"{put_chars, unicode, <<233>>}", "", "{error,put_chars}"}, /* not UTF-8 */
    {"{put_chars, unicode, [-1]}", "", "{error,put_chars}"},
    {"{put_chars, weird, \"x\"}", "", "{error,request}"},
    /* formatted here: io:format, io:fwrite, io:write, io_lib:print, nl */
    {"{put_chars, unicode, io_lib, format, [\"~p ~s~n\", [{a, \"b\"}, \"c\"]]}", "{a,\"b\"} c\n", "ok"},
    {"{put_chars, unicode, io_lib, fwrite, [\"~5w|\", [42]]}", "   42|", "ok"},
    {"{put_chars, unicode, io_lib, format, [foo, []]}", "foo", "ok"},
    {"{put_chars, unicode, io_lib, format, [<<195,169>>, []]}", "\xc3\x83\xc2\xa9", "ok"},
    {"{put_chars, unicode, io_lib, write, [{x, [1, 2]}]}", "{x,[1,2]}", "ok"},
    {"{put_chars, unicode, io_lib, print, [\"str\"]}", "\"str\"", "ok"},
    {"{put_chars, unicode, io_lib, nl, []}", "\n", "ok"},
    {"{put_chars, io_lib, format, [\"~s\", [\"x\"]]}", "x", "ok"},
    /* io_lib would raise: {error, F}, nothing printed */
    {"{put_chars, unicode, io_lib, format, [\"~p~n\", []]}", "", "{error,format}"},
    {"{put_chars, unicode, io_lib, format, [\"~q\", [1]]}", "", "{error,format}"},
    {"{put_chars, unicode, io_lib, fwrite, [\"~s\", [[8704]]]}", "", "{error,fwrite}"},
    {"{put_chars, latin1, io_lib, format, [\"~tc\", [8704]]}", "", "{error,format}"},
    {"{put_chars, unicode, io_lib, format, [\"~p\", [1] | x]}", "", "{error,request}"},
    /* a function we do not run */
    {"{put_chars, unicode, lists, flatten, [[\"x\"]]}", "", "{error,request}"},
    {"{put_chars, unicode, io_lib, format, [\"x\"]}", "", "{error,request}"},
    {"{put_chars, unicode, \"io_lib\", format, [\"x\", []]}", "", "{error,request}"},
    /* no input */
    {"{get_line, unicode, \"prompt> \"}", "", "eof"},
    {"{get_chars, unicode, \"\", 3}", "", "eof"},
    {"{get_until, unicode, \"\", io_lib, collect_line, []}", "", "eof"},
    {"{get_password, unicode}", "", "eof"},
    {"get_password", "", "eof"},
    /* options, geometry */
    {"getopts", "", "[{binary,false},{encoding,unicode}]"},
    {"{setopts, [binary, {encoding, unicode}]}", "", "ok"},
    {"{setopts, binary}", "", "{error,request}"},
    {"{get_geometry, columns}", "", "{error,enotsup}"},
    /* batches: in order until one answers something else than ok */
    {"{requests, [{put_chars, unicode, \"a\"}, {put_chars, unicode, \"b\"}]}", "ab", "ok"},
    {"{requests, [{put_chars, unicode, \"a\"}, {put_chars, unicode, foo}, {put_chars, unicode, \"b\"}]}", "a",
     "{error,put_chars}"},
    {"{requests, [{put_chars, unicode, \"a\"}, getopts]}", "a", "[{binary,false},{encoding,unicode}]"},
    {"{requests, [{requests, [{put_chars, unicode, \"n\"}]}, {put_chars, unicode, \"m\"}]}", "nm", "ok"},
    {"{requests, []}", "", "ok"},
    {"{requests, x}", "", "{error,request}"},
    /* not requests */
    {"foo", "", "{error,request}"},
    {"{}", "", "{error,request}"},
    {"{\"put_chars\", unicode, \"x\"}", "", "{error,request}"},
    {"{put_chars, unicode, \"x\", y, z, w}", "", "{error,request}"},
};

static void serve_text(const char *request, ep_buf *text, ep_buf *reply_text) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term req, reply;
  ck_assert_msg(ep_parse_str(a, request, &req, NULL) == 0, "parse %s", request);
  ck_assert_int_eq(ep_ioserv_serve(text, a, req, &reply), 0);
  ck_assert_int_eq(ep_print(reply_text, reply), 0);
  ep_arena_free(a);
}

START_TEST(requests_and_replies) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ep_buf text, reply;
    ep_buf_init(&text, NULL);
    ep_buf_init(&reply, NULL);
    serve_text(cases[i].request, &text, &reply);
    size_t tl = strlen(cases[i].text), rl = strlen(cases[i].reply);
    ck_assert_msg(text.len == tl && (!tl || !memcmp(text.data, cases[i].text, tl)), "%s: printed [%.*s] want [%s]",
                  cases[i].request, (int)text.len, (char *)text.data, cases[i].text);
    ck_assert_msg(reply.len == rl && !memcmp(reply.data, cases[i].reply, rl), "%s: reply %.*s want %s",
                  cases[i].request, (int)reply.len, (char *)reply.data, cases[i].reply);
    ep_buf_free(&text);
    ep_buf_free(&reply);
  }
}
END_TEST

/* Batches nest up to EP_LIMIT_IO_REQUESTS_NESTING, no deeper (C stack). */
START_TEST(nesting_is_bounded) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term r = EP_TUPLE(a, ep_atom("put_chars"), ep_atom("unicode"), ep_string(a, "x"));
  for (int i = 0; i < EP_LIMIT_IO_REQUESTS_NESTING; i++) r = EP_TUPLE(a, ep_atom("requests"), EP_LIST(a, r));
  ep_term reply;
  ep_buf text;
  ep_buf_init(&text, NULL);
  ck_assert_int_eq(ep_ioserv_serve(&text, a, r, &reply), 0);
  ck_assert(ep_atom_eq(reply, "ok"));
  ck_assert_uint_eq(text.len, 1);
  r = EP_TUPLE(a, ep_atom("requests"), EP_LIST(a, r));
  ck_assert_int_eq(ep_ioserv_serve(&text, a, r, &reply), 0);
  ck_assert(ep_is_record(reply, "error", 2) && ep_atom_eq(reply.v.items[1], "request"));
  ck_assert_uint_eq(text.len, 1);
  ep_buf_free(&text);
  ep_arena_free(a);
}
END_TEST

START_TEST(envelope) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term msg, from, ra, req;
  ck_assert_int_eq(ep_parse_str(a, "{io_request, <<\"f\">>, ref, getopts}", &msg, NULL), 0);
  ck_assert_int_eq(ep_ioserv_parse(msg, &from, &ra, &req), 0);
  ck_assert(ep_atom_eq(ra, "ref") && ep_atom_eq(req, "getopts") && from.type == EP_T_BINARY);
  ck_assert_int_eq(ep_ioserv_parse(ep_atom("io_request"), &from, &ra, &req), EP_EINVAL);
  ck_assert_int_eq(ep_parse_str(a, "{io_request, a, b}", &msg, NULL), 0);
  ck_assert_int_eq(ep_ioserv_parse(msg, &from, &ra, &req), EP_EINVAL);
  ep_term rep = ep_ioserv_reply(a, ep_atom("ref"), ep_atom("ok"));
  ck_assert(ep_is_record(rep, "io_reply", 3) && ep_atom_eq(rep.v.items[2], "ok"));
  ep_arena_free(a);
}
END_TEST

/* Allocation failure at each allocation in turn: EP_ENOMEM, no reply, no
 * leak (the failmem allocator counts), never a crash. */
START_TEST(allocation_failures) {
  const char *req_text = "{requests, [{put_chars, unicode, io_lib, format, [\"~p ~ts~n\", [{a, [1, 2]}, "
                         "<<\"x\">>]]}, getopts]}";
  int failures = 0;
  ep_failmem fm;
  ep_failmem_init(&fm);
  for (long k = 1; k < 400; k++) {
    ep_arena *pa = ep_arena_new(NULL);
    ep_term req;
    ck_assert_int_eq(ep_parse_str(pa, req_text, &req, NULL), 0);
    ep_failmem_fail_once(&fm, k);
    ep_arena *a = ep_arena_new(&fm.mem);
    ep_buf text;
    ep_buf_init(&text, &fm.mem);
    ep_term reply;
    int rc = a ? ep_ioserv_serve(&text, a, req, &reply) : EP_ENOMEM;
    bool refused = fm.count >= k;
    /* a refused allocation is always reported */
    ck_assert_msg(rc == (refused ? EP_ENOMEM : 0), "allocation %ld: rc %d", k, rc);
    if (rc) {
      ck_assert_int_eq(rc, EP_ENOMEM);
      if (a) ck_assert(ep_is_none(reply));
      failures++;
    }
    ep_buf_free(&text);
    if (a) ep_arena_free(a);
    ep_arena_free(pa);
    ck_assert_int_eq(fm.live, 0);
    if (!refused) break; /* k is past the last allocation */
  }
  ck_assert_int_gt(failures, 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("ioserv");
  TCase *tc = tcase_create("serve");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, requests_and_replies);
  tcase_add_test(tc, nesting_is_bounded);
  tcase_add_test(tc, envelope);
  tcase_add_test(tc, allocation_failures);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
