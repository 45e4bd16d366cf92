/* Erlang term syntax: parse vectors, printer vectors, error positions,
 * round trips of generated terms, deep nesting, proper prefixes, allocation
 * failure, and the size of printed big binaries. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_failmem.h"
#include "ep_limits.h"
#include "ep_text.h"

/* Parses text, prints the result, and returns the printed text (arena). */
static const char *reprint(ep_arena *a, const char *text) {
  ep_term t;
  ep_text_error e = {0};
  int r = ep_parse_str(a, text, &t, &e);
  ck_assert_msg(r == 0, "parse of <%s> failed: %s at %u:%u (%s)", text, ep_err_name(r), e.line, e.column,
                e.message ? e.message : "");
  const char *s = ep_print_str(a, t);
  ck_assert_ptr_nonnull(s);
  return s;
}

/* --- parse vectors: input -> printed form ---------------------------------------- */

static const struct {
  const char *in, *out;
} parse_vectors[] = {
    /* atoms */
    {"foo", "foo"},
    {"'foo'", "foo"},
    {"'Foo'", "'Foo'"},
    {"fooBar_1@x", "fooBar_1@x"},
    {"'a b'", "'a b'"},
    {"''", "''"},
    {"'and'", "'and'"},
    {"maybe", "'maybe'"},
    {"else", "'else'"},
    {"'\\''", "'\\''"},
    {"'\\\\'", "'\\\\'"},
    {"'a\\nb'", "'a\\nb'"},
    {"'\\x{1}'", "'\\x{1}'"},
    {"'é'", "'é'"},
    {"é", "'é'"}, /* Latin-1 letters are allowed unquoted */
    {"'\\x{3B1}β'", "'αβ'"},
    {"true", "true"},
    /* integers */
    {"0", "0"},
    {"42", "42"},
    {"-42", "-42"},
    {"+42", "42"},
    {"- 42", "-42"},
    {"1_000_000", "1000000"},
    {"9223372036854775807", "9223372036854775807"},
    {"9223372036854775808", "9223372036854775808"},
    {"-9223372036854775808", "-9223372036854775808"},
    {"-9223372036854775809", "-9223372036854775809"},
    {"18446744073709551616", "18446744073709551616"},
    {"123456789012345678901234567890123456789012345678901234567890",
     "123456789012345678901234567890123456789012345678901234567890"},
    {"-123456789012345678901234567890", "-123456789012345678901234567890"},
    {"16#FF", "255"},
    {"16#ff", "255"},
    {"-16#10", "-16"},
    {"2#1010", "10"},
    {"8#777", "511"},
    {"36#Zz", "1295"},
    {"16#FFFF_FFFF", "4294967295"},
    {"16#1_0000_0000_0000_0000", "18446744073709551616"},
    {"36#ZZZZZZZZZZZZZZZZZZZZZZ", "17324272922341479351919144385642495"},
    /* characters */
    {"$a", "97"},
    {"$ ", "32"},
    {"$\\n", "10"},
    {"$\\r", "13"},
    {"$\\t", "9"},
    {"$\\v", "11"},
    {"$\\b", "8"},
    {"$\\f", "12"},
    {"$\\e", "27"},
    {"$\\s", "32"},
    {"$\\d", "127"},
    {"$\\\\", "92"},
    {"$\\'", "39"},
    {"$\\\"", "34"},
    {"$\\z", "122"},
    {"$\\0", "0"},
    {"$\\101", "65"},
    {"$\\7", "7"},
    {"$\\x41", "65"},
    {"$\\x{1F600}", "128512"},
    {"$\\x{0}", "0"},
    {"$\\^A", "1"},
    {"$\\^a", "1"},
    {"$\\^[", "27"},
    {"$é", "233"},
    {"$😀", "128512"},
    {"-$a", "-97"},
    /* floats */
    {"1.0", "1.0"},
    {"1.5", "1.5"},
    {"-1.5", "-1.5"},
    {"1.0e-10", "1.0e-10"},
    {"2.5E+3", "2.5e3"},
    {"2.5e3", "2.5e3"},
    {"1_0.5_5", "10.55"},
    {"0.1", "0.1"},
    {"100.0", "100.0"},
    {"1.0e15", "1.0e15"},
    {"1.0e16", "1.0e16"},
    {"-0.0", "-0.0"},
    {"0.0", "0.0"},
    {"1.0e-400", "0.0"},
    /* strings */
    {"\"\"", "[]"},
    {"\"abc\"", "\"abc\""},
    {"\"a\\nb\\tc\"", "\"a\\nb\\tc\""},
    {"\"\\\"\\\\\"", "\"\\\"\\\\\""},
    {"\"\\x41\\x{42}\\103\\^D\"", "[65,66,67,4]"},
    {"\"ab\" \"cd\"", "\"abcd\""},
    {"\"ab\" % comment\n \"cd\" \"\"", "\"abcd\""},
    {"\"é\"", "\"é\""},
    {"\"αβγ😀\"", "\"αβγ😀\""},
    {"\"\\x{3b1}\"", "\"α\""},
    {"\"\\s\\d\"", "[32,127]"},
    {"\"\\e\\v\\b\\f\\r\"", "\"\\e\\v\\b\\f\\r\""},
    {"\"line1\nline2\"", "\"line1\\nline2\""},
    {"[$a, $b]", "\"ab\""},
    {"[1000, 1001]", "\"Ϩϩ\""},
    {"[16#D800]", "[55296]"},
    {"[128]", "[128]"},
    /* binaries */
    {"<<>>", "<<>>"},
    {"<<\"abc\">>", "<<\"abc\">>"},
    {"<<\"a\\nb\">>", "<<\"a\\nb\">>"},
    {"<<\"é\">>", "<<\"é\">>"},
    {"<<\"é\"/utf8>>", "<<\"é\"/utf8>>"},
    {"<<\"αβ\"/utf8>>", "<<\"αβ\"/utf8>>"},
    {"<<206,177>>", "<<\"α\"/utf8>>"},
    {"<<1,2,3>>", "<<1,2,3>>"},
    {"<<255, 0>>", "<<255,0>>"},
    {"<<-1>>", "<<\"ÿ\">>"},
    {"<<1:4>>", "<<1:4>>"},
    {"<<1,2,3:5>>", "<<1,2,3:5>>"},
    {"<<1:4, 2:4>>", "<<18>>"},
    {"<<1:1,0:7,1:1>>", "<<128,1:1>>"},
    {"<<256:16>>", "<<1,0>>"},
    {"<<256:16/little>>", "<<0,1>>"},
    {"<<256:16/big-unsigned-integer>>", "<<1,0>>"},
    {"<<1:2/unit:8>>", "<<0,1>>"},
    {"<<-2:16/signed>>", "<<\"ÿþ\">>"},
    {"<<$a, \"bc\", 100>>", "<<\"abcd\">>"},
    {"<<$α/utf8>>", "<<\"α\"/utf8>>"},
    {"<<\"ab\"/utf16>>", "<<0,97,0,98>>"},
    {"<<\"a\"/utf32>>", "<<0,0,0,97>>"},
    {"<<16#1F600/utf16>>", "<<216,61,222,0>>"},
    {"<<1.5/float>>", "<<63,248,0,0,0,0,0,0>>"},
    {"<<1.5:32/float>>", "<<63,192,0,0>>"},
    {"<<1/float>>", "<<63,240,0,0,0,0,0,0>>"},
    {"<<18446744073709551617:72>>", "<<1,0,0,0,0,0,0,0,1>>"},
    {"<<-18446744073709551617:72>>", "<<\"þÿÿÿÿÿÿÿÿ\">>"}, {"<<-18446744073709551617:72>>.", "<<\"þÿÿÿÿÿÿÿÿ\">>"},
    {"<<-1:70>>", "<<255,255,255,255,255,255,255,255,63:6>>"},
    {"<<0:0>>", "<<>>"},
    {"<<1:72/little>>", "<<1,0,0,0,0,0,0,0,0>>"},
    {"<<-2:72/little>>", "<<\"þÿÿÿÿÿÿÿÿ\">>"},
    {"<<1:9>>", "<<0,1:1>>"},
    {"<<-1:9>>", "<<255,1:1>>"},
    {"<<-1:3, -1:13>>", "<<\"ÿÿ\">>"},
    {"<<18446744073709551617:72/little>>", "<<1,0,0,0,0,0,0,0,1>>"},
    {"<<-18446744073709551617:80/little>>", "<<\"ÿÿÿÿÿÿÿÿþÿ\">>"},
    /* tuples, lists, maps */
    {"{}", "{}"},
    {"{a}", "{a}"},
    {"{ a , { b , c } , [ ] }", "{a,{b,c},[]}"},
    {"[]", "[]"},
    {"[a]", "[a]"},
    {"[a,b|c]", "[a,b|c]"},
    {"[a|[]]", "[a]"},
    {"[a|[b|[c|d]]]", "[a,b,c|d]"},
    {"[a|[b,c]]", "[a,b,c]"},
    {"[a|\"bc\"]", "[a,98,99]"},
    {"[1|\"bc\"]", "[1,98,99]"},
    {"[$a|\"bc\"]", "\"abc\""},
    {"[a|{b}]", "[a|{b}]"},
    {"[[]|[]]", "[[]]"},
    {"#{}", "#{}"},
    {"#{a => 1}", "#{a => 1}"},
    {"#{a => 1, b => #{c => [d]}}", "#{a => 1,b => #{c => [d]}}"},
    {"#{a => 1, a => 2}", "#{a => 2}"},
    {"#{1 => a, 1.0 => b}", "#{1 => a,1.0 => b}"},
    {"#{\"ab\" => 1, [97,98] => 2}", "#{\"ab\" => 2}"},
    {"# {a => 1}", "#{a => 1}"},
    {"#{#{a => 1, b => 2} => x, #{b => 2, a => 1} => y}", "#{#{b => 2,a => 1} => y}"},
    {"#{[1|2] => x, [1|2] => y, [1,2] => z}", "#{[1|2] => y,[1,2] => z}"},
    /* funs */
    {"fun lists:seq/2", "fun lists:seq/2"},
    {"fun 'Elixir.Foo':'bar baz'/0", "fun 'Elixir.Foo':'bar baz'/0"},
    {"{fun m:f/255}", "{fun m:f/255}"},
    {"fun m:and/1", "fun m:'and'/1"}, /* as erl's ~p prints it */
    {"fun fun:fun/1", "fun 'fun':'fun'/1"},
    /* comments, white space, end dot */
    {"% leading comment\n  {a, % inside\n b}.", "{a,b}"},
    {"a.", "a"},
    {"a. % trailing", "a"},
    {"1.", "1"},
    {"\t\r\n\f a \n", "a"},
    {"\xc2\xa0{a,\xc2\x85" "b}\xc2\xa0", "{a,b}"}, /* NBSP and NEL are white space to erl_scan */
};

START_TEST(parse_vectors_print_back) {
  ep_arena *a = ep_arena_new(NULL);
  for (size_t i = 0; i < sizeof parse_vectors / sizeof parse_vectors[0]; i++) {
    const char *got = reprint(a, parse_vectors[i].in);
    ck_assert_msg(strcmp(got, parse_vectors[i].out) == 0, "<%s>: printed <%s>, expected <%s>", parse_vectors[i].in,
                  got, parse_vectors[i].out);
  }
  ep_arena_free(a);
}
END_TEST

START_TEST(parsed_terms_have_the_expected_shape) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t;
  ck_assert_int_eq(ep_parse_str(a, "\"abc\"", &t, NULL), 0);
  ck_assert_int_eq(t.type, EP_T_STRING);
  ck_assert(ep_term_eq(t, ep_string(a, "abc")));
  ck_assert_int_eq(ep_parse_str(a, "\"aα\"", &t, NULL), 0);
  ck_assert_int_eq(t.type, EP_T_LIST);
  ck_assert_int_eq(ep_list_at(t, 1).v.i, 0x3B1);
  ck_assert_int_eq(ep_parse_str(a, "18446744073709551616", &t, NULL), 0);
  ck_assert_int_eq(t.type, EP_T_BIG);
  ck_assert_int_eq(t.n, 9);
  ck_assert_int_eq(t.aux, 0);
  ck_assert_int_eq(t.v.bytes[8], 1);
  ck_assert_int_eq(ep_parse_str(a, "-18446744073709551616", &t, NULL), 0);
  ck_assert_int_eq(t.type, EP_T_BIG);
  ck_assert_int_eq(t.aux, 1);
  ck_assert_int_eq(ep_parse_str(a, "-9223372036854775808", &t, NULL), 0);
  ck_assert_int_eq(t.type, EP_T_INT);
  ck_assert(t.v.i == INT64_MIN);
  ck_assert_int_eq(ep_parse_str(a, "<<1,2,3:5>>", &t, NULL), 0);
  ck_assert_int_eq(t.type, EP_T_BITSTR);
  ck_assert_int_eq(t.n, 3);
  ck_assert_int_eq(t.aux, 5);
  ck_assert_int_eq(t.v.bytes[2], 3 << 3);
  ck_assert_int_eq(ep_parse_str(a, "fun m:f/3", &t, NULL), 0);
  ck_assert_int_eq(t.type, EP_T_EXPORT);
  ck_assert(ep_atom_eq(t.v.exp->module, "m") && ep_atom_eq(t.v.exp->function, "f") && t.v.exp->arity == 3);
  ck_assert_int_eq(ep_parse_str(a, "1.0e23", &t, NULL), 0);
  ck_assert(t.type == EP_T_FLOAT && t.v.f == 1e23);
  ck_assert_int_eq(ep_parse_str(a, "-0.0", &t, NULL), 0);
  ck_assert(t.v.f == 0 && signbit(t.v.f));
  ck_assert_int_eq(ep_parse_str(a, "{call, lists, seq, [1, 10]}", &t, NULL), 0);
  ck_assert(ep_term_eq(t, EP_TUPLE(a, ep_atom("call"), ep_atom("lists"), ep_atom("seq"),
                                   EP_LIST(a, ep_int(1), ep_int(10)))));
  ep_arena_free(a);
}
END_TEST

/* --- errors and their positions ------------------------------------------------------ */

static const struct {
  const char *in;
  int err;
  unsigned line, column;
} error_vectors[] = {
    {"", EP_EINCOMPLETE, 1, 1},
    {"{a,", EP_EINCOMPLETE, 1, 4},
    {"[1,2", EP_EINCOMPLETE, 1, 5},
    {"'abc", EP_EINCOMPLETE, 1, 5},
    {"\"abc", EP_EINCOMPLETE, 1, 5},
    {"<<1,", EP_EINCOMPLETE, 1, 5},
    {"#{a =>", EP_EINCOMPLETE, 1, 7},
    {"$", EP_EINCOMPLETE, 1, 2},
    {"1.0e", EP_EINCOMPLETE, 1, 5},
    {"16#", EP_EINCOMPLETE, 1, 4},
    {"fun m:f", EP_EINCOMPLETE, 1, 8},
    {"{a b}", EP_ESYNTAX, 1, 4},
    {"{,}", EP_ESYNTAX, 1, 2},
    {"[a|b|c]", EP_ESYNTAX, 1, 5},
    {"[|a]", EP_ESYNTAX, 1, 2},
    {"#{a}", EP_ESYNTAX, 1, 4},
    {"#{a := 1}", EP_ESYNTAX, 1, 5},
    {"#a{}", EP_ESYNTAX, 1, 2},
    {"Var", EP_ESYNTAX, 1, 1},
    {"_", EP_ESYNTAX, 1, 1},
    {"case", EP_ESYNTAX, 1, 1},
    {"{a, 'and', and}", EP_ESYNTAX, 1, 12},
    {"1e10", EP_ESYNTAX, 1, 2},
    {"1.0ex", EP_ESYNTAX, 1, 1},
    {"1__0", EP_ESYNTAX, 1, 2},
    {"1#0", EP_ESYNTAX, 1, 1},
    {"37#0", EP_ESYNTAX, 1, 1},
    {"16#G", EP_ESYNTAX, 1, 1},
    {"1.0e999", EP_ESYNTAX, 1, 1},
    {"'\\x{110000}'", EP_ESYNTAX, 1, 2},
    {"\"\\xZ1\"", EP_ESYNTAX, 1, 2},
    {"\"\\x{D800}\"", EP_ESYNTAX, 1, 2},
    {"a b", EP_ESYNTAX, 1, 3},
    {"a.b", EP_ESYNTAX, 1, 2},
    {"--1", EP_ESYNTAX, 1, 2},
    {"-a", EP_ESYNTAX, 1, 2},
    {"{a}}", EP_ESYNTAX, 1, 4},
    {"<<a>>", EP_ESYNTAX, 1, 3},
    {"<<1:a>>", EP_ESYNTAX, 1, 5},
    {"<<1/foo>>", EP_ESYNTAX, 1, 5},
    {"<<1.5>>", EP_ESYNTAX, 1, 3},
    {"<<\"é\"/utf8:8>>", EP_ESYNTAX, 1, 11},
    {"<<1:3/little>>", EP_ESYNTAX, 1, 3},
    {"fun f/1", EP_ESYNTAX, 1, 6},
    {"fun m:f/256", EP_ESYNTAX, 1, 9},
    {"fun () -> ok end", EP_ESYNTAX, 1, 5},
    {"<0.1.0>", EP_ESYNTAX, 1, 1},
    {"{#Ref<a@b.1.2.3>}", EP_ESYNTAX, 1, 2},
    {"#Port<a@b.1>", EP_ESYNTAX, 1, 1},
    {"\xff", EP_ESYNTAX, 1, 1},
    {"\"\xc3\x28\"", EP_ESYNTAX, 1, 2},
    {"{ok,\n  [1,\n   2 3]}", EP_ESYNTAX, 3, 6},
    {"% comment\n\n  {\"αβγ\", !}", EP_ESYNTAX, 3, 11},
    {"'0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
     "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
     "01234567890123456789012345678901234567890123456789012345'",
     EP_ESYNTAX, 1, 1},
};

START_TEST(errors_name_line_and_column) {
  ep_arena *a = ep_arena_new(NULL);
  for (size_t i = 0; i < sizeof error_vectors / sizeof error_vectors[0]; i++) {
    ep_term t;
    ep_text_error e = {0};
    int r = ep_parse_str(a, error_vectors[i].in, &t, &e);
    ck_assert_msg(r == error_vectors[i].err, "<%s>: got %s, expected %s", error_vectors[i].in, ep_err_name(r),
                  ep_err_name(error_vectors[i].err));
    ck_assert_msg(e.line == error_vectors[i].line && e.column == error_vectors[i].column,
                  "<%s>: error at %u:%u (%s), expected %u:%u", error_vectors[i].in, e.line, e.column, e.message,
                  error_vectors[i].line, error_vectors[i].column);
    ck_assert_ptr_nonnull(e.message);
  }
  /* 255 characters is the limit, not 254 */
  char atom[300];
  memset(atom, 'a', 255);
  atom[255] = 0;
  ep_term t;
  ck_assert_int_eq(ep_parse_str(a, atom, &t, NULL), 0);
  ck_assert_int_eq(t.n, 255);
  atom[255] = 'a', atom[256] = 0;
  ck_assert_int_eq(ep_parse_str(a, atom, &t, NULL), EP_ESYNTAX);
  ep_arena_free(a);
}
END_TEST

/* --- printer vectors: terms built in C ------------------------------------------------ */

static void expect_print(ep_arena *a, ep_term t, const char *want) {
  const char *got = ep_print_str(a, t);
  ck_assert_ptr_nonnull(got);
  ck_assert_msg(strcmp(got, want) == 0, "printed <%s>, expected <%s>", got, want);
}

START_TEST(atoms_are_quoted_exactly_when_needed) {
  ep_arena *a = ep_arena_new(NULL);
  static const char *const plain[] = {"ok", "a", "a@b", "node@host", "aB_9", "true", "undefined", "z@"};
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) expect_print(a, ep_atom(plain[i]), plain[i]);
  static const char *const quoted[][2] = {
      {"", "''"},           {"A", "'A'"},         {"_a", "'_a'"},       {"1a", "'1a'"},
      {"a b", "'a b'"},     {"a-b", "'a-b'"},     {"a.b", "'a.b'"},     {"@a", "'@a'"},
      {"and", "'and'"},     {"or", "'or'"},       {"case", "'case'"},   {"fun", "'fun'"},
      {"end", "'end'"},     {"when", "'when'"},   {"receive", "'receive'"}, {"maybe", "'maybe'"},
      {"else", "'else'"},   {"cond", "'cond'"},   {"let", "'let'"},     {"catch", "'catch'"},
      {"bnot", "'bnot'"},   {"div", "'div'"},     {"rem", "'rem'"},     {"orelse", "'orelse'"},
      {"it's", "'it\\'s'"}, {"a\\b", "'a\\\\b'"}, {"a\nb", "'a\\nb'"},  {"\x01", "'\\x{1}'"},
      {"\x7f", "'\\x{7F}'"}, {"é", "'é'"},        {"αβ", "'αβ'"},       {"\"", "'\"'"}};
  for (size_t i = 0; i < sizeof quoted / sizeof quoted[0]; i++) expect_print(a, ep_atom(quoted[i][0]), quoted[i][1]);
  ep_arena_free(a);
}
END_TEST

START_TEST(floats_print_in_the_shortest_exact_form) {
  ep_arena *a = ep_arena_new(NULL);
  static const struct {
    double d;
    const char *s;
  } v[] = {{0.1, "0.1"},
           {1e23, "1.0e23"},
           {5e-324, "5.0e-324"},
           {1.7976931348623157e308, "1.7976931348623157e308"},
           {-0.0, "-0.0"},
           {0.0, "0.0"},
           {100.0, "100.0"},
           {1e15, "1.0e15"},
           {1e16, "1.0e16"},
           {1.0, "1.0"},
           {-1.5, "-1.5"},
           {123456.0, "123456.0"},
           {1234567.0, "1234567.0"},
           {1e4, "1.0e4"},
           {12345.0, "12345.0"},
           {0.001, "0.001"},
           {0.0001, "0.0001"},
           {1.23e-4, "1.23e-4"},
           {1e-5, "1.0e-5"},
           {12345678901234567890.0, "1.2345678901234567e19"},
           {2.2250738585072014e-308, "2.2250738585072014e-308"},
           {0.30000000000000004, "0.30000000000000004"},
           {123.456, "123.456"},
           {1.5e300, "1.5e300"},
           /* from 2^53 on erl always uses the exponent form, even at equal length */
           {9007199254740992.0, "9.007199254740992e15"},
           {9007199254740991.0, "9007199254740991.0"},
           {6.126734894067219e17, "6.126734894067219e17"},
           {123456789012345.0, "123456789012345.0"}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    expect_print(a, ep_float(v[i].d), v[i].s);
    ep_term t;
    ck_assert_int_eq(ep_parse_str(a, v[i].s, &t, NULL), 0);
    ck_assert(memcmp(&t.v.f, &v[i].d, sizeof(double)) == 0);
  }
  ep_buf b;
  ep_buf_init(&b, NULL);
  ck_assert_int_eq(ep_print(&b, ep_float(NAN)), EP_EINVAL);
  ck_assert_int_eq(ep_print(&b, ep_float(INFINITY)), EP_EINVAL);
  ep_buf_free(&b);
  ep_arena_free(a);
}
END_TEST

START_TEST(other_kinds_print_in_their_usual_forms) {
  ep_arena *a = ep_arena_new(NULL);
  expect_print(a, ep_pid(a, "a@host", 85, 0, 3), "<a@host.85.0>");
  expect_print(a, ep_port(a, "a@host", 7, 3), "#Port<a@host.7>");
  uint32_t ids[3] = {57035, 83886081, 388784899};
  expect_print(a, ep_ref(a, "a@host", 3, 3, ids), "#Ref<a@host.388784899.83886081.57035>");
  ep_fun *f = ep_arena_alloc(a, sizeof *f);
  memset(f, 0, sizeof *f);
  f->module = ep_atom("erl_eval");
  f->index = 6;
  f->old_uniq = ep_int(15014171);
  f->old_index = ep_int(6);
  f->pid = ep_pid(a, "a@host", 1, 0, 1);
  ep_term ft = {0};
  ft.type = EP_T_FUN;
  ft.v.fun = f;
  expect_print(a, ft, "#Fun<erl_eval.6.15014171>");
  expect_print(a, ep_export_fun(a, ep_atom("lists"), ep_atom("seq"), 2), "fun lists:seq/2");
  expect_print(a, ep_export_fun(a, ep_atom("A"), ep_atom("and"), 0), "fun 'A':'and'/0");
  expect_print(a, ep_nil(), "[]");
  expect_print(a, ep_int(INT64_MIN), "-9223372036854775808");
  expect_print(a, ep_uint64(a, UINT64_MAX), "18446744073709551615");
  expect_print(a, ep_binary(a, "", 0), "<<>>");
  expect_print(a, ep_binary(a, "\xff\x00", 2), "<<255,0>>");
  expect_print(a, ep_binary(a, "caf\xc3\xa9", 5), "<<\"café\"/utf8>>");
  expect_print(a, ep_binary(a, "caf\xe9", 4), "<<\"café\">>");
  expect_print(a, ep_binary(a, "a\"\\", 3), "<<\"a\\\"\\\\\">>");
  expect_print(a, ep_bitstr(a, "\x01\xe0", 2, 3), "<<1,7:3>>");
  expect_print(a, ep_bitstr(a, "\x80", 1, 1), "<<1:1>>");
  expect_print(a, ep_string(a, "hello"), "\"hello\"");
  expect_print(a, ep_string(a, "h\xc3\xa9llo \xce\xb1"), "\"héllo α\"");
  uint8_t raw[3] = {1, 2, 200};
  ep_term s = {0};
  s.type = EP_T_STRING;
  s.n = 3;
  s.v.bytes = raw;
  expect_print(a, s, "[1,2,200]");
  expect_print(a, ep_list_improper(a, 2, (ep_term[]){ep_int(1), ep_int(2)}, ep_int(3)), "[1,2|3]");
  expect_print(a, ep_list_improper(a, 2, (ep_term[]){ep_int(97), ep_int(98)}, ep_atom("c")), "[97,98|c]");
  expect_print(a, EP_MAP(a, ep_atom("a"), ep_int(1), ep_string(a, "k"), EP_TUPLE(a, ep_nil())),
               "#{a => 1,\"k\" => {[]}}");
  ep_buf b;
  ep_buf_init(&b, NULL);
  /* EP_PRINT_NO_STRINGS: lists and binaries as numbers, as ~w writes them */
  ep_term mixed = EP_TUPLE(a, ep_string(a, "ab"), ep_binary(a, "ab", 2), ep_string(a, "\xce\xb1"),
                           ep_bitstr(a, "a\x80", 2, 1), ep_binary(a, "", 0), ep_atom("x"));
  ck_assert_int_eq(ep_print_ex(&b, mixed, EP_PRINT_NO_STRINGS), 0);
  ck_assert_uint_eq(b.len, strlen("{[97,98],<<97,98>>,[945],<<97,1:1>>,<<>>,x}"));
  ck_assert(memcmp(b.data, "{[97,98],<<97,98>>,[945],<<97,1:1>>,<<>>,x}", b.len) == 0);
  b.len = 0;
  ck_assert_int_eq(ep_print(&b, ep_none()), EP_EINVAL);
  ep_term bad[2] = {ep_int(1), ep_none()};
  ep_term tup = {0};
  tup.type = EP_T_TUPLE;
  tup.n = 2;
  tup.v.items = bad;
  ck_assert_int_eq(ep_print(&b, tup), EP_EINVAL);
  ep_buf_free(&b);
  ep_arena_free(a);
}
END_TEST

START_TEST(bignums_print_exactly_and_huge_ones_in_hex) {
  ep_arena *a = ep_arena_new(NULL);
  /* 2^200 */
  uint8_t m[26] = {0};
  m[25] = 1;
  expect_print(a, ep_big(a, false, m, 26), "1606938044258990275541962092341162602522202993782792835301376");
  expect_print(a, ep_big(a, true, m, 26), "-1606938044258990275541962092341162602522202993782792835301376");
  /* a 1000-digit number round trips through decimal */
  char digits[1002];
  for (int i = 0; i < 1000; i++) digits[i] = (char)('1' + i % 9);
  digits[1000] = 0;
  const char *s = reprint(a, digits);
  ck_assert_str_eq(s, digits);
  /* beyond 32 KiB of magnitude: 16#..., and it parses back equal */
  size_t n = 40000;
  uint8_t *big = malloc(n);
  for (size_t i = 0; i < n; i++) big[i] = (uint8_t)(i * 7 + 3);
  ep_term t = ep_big(a, true, big, n);
  const char *hex = ep_print_str(a, t);
  ck_assert(strncmp(hex, "-16#", 4) == 0);
  ep_term back;
  ck_assert_int_eq(ep_parse_str(a, hex, &back, NULL), 0);
  ck_assert(ep_term_eq(t, back));
  free(big);
  /* decimal literals past the digit limit are refused, hex ones are not */
  size_t nd = 200001;
  char *lit = malloc(nd + 1);
  memset(lit, '7', nd);
  lit[nd] = 0;
  ep_text_error e;
  ck_assert_int_eq(ep_parse_str(a, lit, &back, &e), EP_ESYNTAX);
  lit[0] = '1', lit[1] = '6', lit[2] = '#';
  ck_assert_int_eq(ep_parse_str(a, lit, &back, &e), 0);
  ck_assert_int_eq(back.type, EP_T_BIG);
  free(lit);
  ep_arena_free(a);
}
END_TEST

/* --- round trips of generated terms --------------------------------------------------- */

static uint64_t rng_state;
static uint32_t rnd(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng_state >> 33);
}

static ep_term gen(ep_arena *a, int depth);

static ep_term gen_scalar(ep_arena *a) {
  static const char *const atoms[] = {"ok", "Error", "", "and", "maybe", "a b", "é", "αβγ", "it's", "a@b", "'", "\\"};
  static const char *const strs[] = {"", "abc", "a\"b\\c\n", "héllo", "αβγ", "😀", "\x1b\t\r\x0b\b\f"};
  uint8_t buf[64];
  switch (rnd() % 12) {
    case 0:
      return ep_int((int64_t)rnd() - (1 << 30));
    case 1: {
      uint8_t m[40];
      size_t n = 1 + rnd() % 40;
      for (size_t i = 0; i < n; i++) m[i] = (uint8_t)rnd();
      return ep_big(a, rnd() & 1, m, n);
    }
    case 2: {
      uint64_t u = ((uint64_t)rnd() << 32) | rnd();
      double d;
      memcpy(&d, &u, 8);
      if (!isfinite(d)) d = (double)rnd() / 7.0;
      return ep_float(d);
    }
    case 3:
      return ep_atom(atoms[rnd() % (sizeof atoms / sizeof atoms[0])]);
    case 4:
      return ep_string(a, strs[rnd() % (sizeof strs / sizeof strs[0])]);
    case 5: {
      size_t n = rnd() % 20;
      for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
      return ep_binary(a, buf, n);
    }
    case 6: {
      size_t n = 1 + rnd() % 8;
      for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
      return ep_bitstr(a, buf, n, 1 + rnd() % 7);
    }
    case 7: {
      const char *s = strs[rnd() % (sizeof strs / sizeof strs[0])];
      return ep_binary(a, s, strlen(s));
    }
    case 8: {
      /* a list of arbitrary code points (printable or not) */
      size_t n = 1 + rnd() % 6;
      ep_term *it;
      ep_term l = ep_list_new(a, n, &it);
      for (size_t i = 0; i < n; i++) it[i] = ep_int(rnd() % 3 ? rnd() % 300 : rnd() % 0x110000);
      return l;
    }
    case 9:
      return ep_export_fun(a, ep_atom(atoms[rnd() % 4]), ep_atom(atoms[rnd() % 12]), rnd() % 256);
    case 10:
      return ep_nil();
    default:
      return ep_int(rnd() % 256);
  }
}

static ep_term gen(ep_arena *a, int depth) {
  if (depth <= 0 || rnd() % 3 == 0) return gen_scalar(a);
  size_t n = rnd() % 5;
  ep_term items[6];
  switch (rnd() % 4) {
    case 0:
      for (size_t i = 0; i < n; i++) items[i] = gen(a, depth - 1);
      return ep_tuple(a, n, items);
    case 1:
      for (size_t i = 0; i < n; i++) items[i] = gen(a, depth - 1);
      return ep_list(a, n, items);
    case 2: {
      /* improper: the tail is never a list (the parser makes those flat) */
      for (size_t i = 0; i <= n; i++) items[i] = gen(a, depth - 1);
      ep_term tail = ep_is_list(items[n]) ? ep_atom("tail") : items[n];
      return ep_list_improper(a, n + 1, items, tail);
    }
    default: {
      /* distinct keys: a tuple tagged with the index */
      ep_term kv[10];
      n = n > 5 ? 5 : n;
      for (size_t i = 0; i < n; i++) {
        kv[2 * i] = EP_TUPLE(a, ep_int((int64_t)i), gen(a, depth - 1));
        kv[2 * i + 1] = gen(a, depth - 1);
      }
      return ep_map(a, n, kv);
    }
  }
}

START_TEST(generated_terms_round_trip) {
  rng_state = 0x5eed;
  for (int round = 0; round < 3000; round++) {
    ep_arena *a = ep_arena_new(NULL);
    ep_term t = gen(a, 5);
    ck_assert(!ep_is_none(t));
    const char *s = ep_print_str(a, t);
    ck_assert_ptr_nonnull(s);
    ep_term back;
    ep_text_error e = {0};
    int r = ep_parse_str(a, s, &back, &e);
    ck_assert_msg(r == 0, "round %d: <%s> does not parse: %s at %u:%u", round, s, e.message, e.line, e.column);
    ck_assert_msg(ep_term_eq(t, back), "round %d: <%s> parses to <%s>", round, s, ep_print_str(a, back));
    ep_arena_free(a);
  }
}
END_TEST

/* --- depth, size, prefixes, streaming ------------------------------------------------- */

static char *nested(const char *open, const char *mid, const char *close, size_t depth) {
  size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
  char *s = malloc(depth * (lo + lc) + lm + 1), *p = s;
  for (size_t i = 0; i < depth; i++) memcpy(p, open, lo), p += lo;
  memcpy(p, mid, lm), p += lm;
  for (size_t i = 0; i < depth; i++) memcpy(p, close, lc), p += lc;
  *p = 0;
  return s;
}

START_TEST(deep_nesting_is_refused_cleanly) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t;
  ep_text_error e = {0};
  static const char *const shapes[][3] = {{"[", "a", "]"}, {"{", "a", "}"}, {"#{a=>", "1", "}"}, {"[a|", "b", "]"}};
  for (size_t k = 0; k < 4; k++) {
    char *s = nested(shapes[k][0], shapes[k][1], shapes[k][2], 1000000);
    ck_assert_int_eq(ep_parse_str(a, s, &t, &e), EP_EDEPTH);
    ck_assert_uint_eq(e.line, 1);
    ck_assert_uint_eq(e.column, EP_LIMIT_DEPTH * strlen(shapes[k][0]) + 1);
    free(s);
    /* an unterminated deep text fails just as cleanly */
    s = nested(shapes[k][0], "", "", 1000000);
    ck_assert_int_eq(ep_parse_str(a, s, &t, &e), EP_EDEPTH);
    free(s);
  }
  /* exactly at the limit: parses, prints (iteratively) and round trips */
  char *s = nested("[", "a", "]", EP_LIMIT_DEPTH);
  ck_assert_int_eq(ep_parse_str(a, s, &t, &e), 0);
  const char *p = ep_print_str(a, t);
  ck_assert_str_eq(p, s);
  free(s);
  /* the printer has no depth limit: a million nested tuples built in C */
  ep_term deep = ep_atom("x");
  for (int i = 0; i < 1000000; i++) deep = ep_tuple(a, 1, &deep);
  ep_buf pb = EP_BUF_INIT;
  ck_assert_int_eq(ep_print(&pb, deep), 0);
  ck_assert_uint_eq(pb.len, 2000001);
  ck_assert(pb.data[0] == '{' && pb.data[1000000] == 'x' && pb.data[pb.len - 1] == '}');
  ep_buf_free(&pb);
  /* [a|[b|[c|...]]] at the limit builds one flat list, in linear time */
  s = nested("[a|", "[]", "]", EP_LIMIT_DEPTH - 1);
  ck_assert_int_eq(ep_parse_str(a, s, &t, &e), 0);
  ck_assert_int_eq(ep_list_len(t), EP_LIMIT_DEPTH - 1);
  free(s);
  ep_arena_free(a);
}
END_TEST

/* Wide segments are sign bits written a byte at a time, not bit by bit. */
START_TEST(wide_binary_segments_are_fast) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t;
  clock_t c0 = clock();
  ck_assert_int_eq(ep_parse_str(a, "<<\"abcdefghijklmnopqrstuvwxyz\":16777216, 1:3, -1:16777216/little>>", &t, NULL), 0);
  double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
  ck_assert_int_eq(t.type, EP_T_BITSTR);
  ck_assert_uint_eq(t.n, 27 * 2097152 + 1);
  ck_assert_int_eq(t.v.bytes[2097151], 'a');
  ck_assert_int_eq(t.v.bytes[26 * 2097152], 0x3F);
  ck_assert(secs < 5);
  /* past the segment and the binary limits */
  ck_assert_int_eq(ep_parse_str(a, "<<1:16777217>>", &t, NULL), EP_ESYNTAX);
  ck_assert_int_eq(ep_parse_str(a, "<<\"abcdefghijklmnopqrstuvwxyz0123456789\":16777216>>", &t, NULL), EP_ESYNTAX);
  ep_arena_free(a);
}
END_TEST

/* A term's binary literals build at most EP_LIMIT_TEXT_SIZE bytes in all:
 * each of these 8 MiB ones is within the limit of one literal, and eight of
 * them fill it, but a ninth is refused (fuzz_text found a 61-byte text that
 * built 56 MB; many such literals were unbounded). */
START_TEST(binary_literals_are_bounded_in_all) {
  ep_arena *a = ep_arena_new(NULL);
  const char *lit = "<<\"abcd\":16777216>>";
  ep_buf b = EP_BUF_INIT;
  ep_buf_append(&b, "[", 1);
  size_t eight = 0;
  for (int i = 0; i < 9; i++) {
    if (i == 8) eight = b.len;
    if (i) ep_buf_append(&b, ",", 1);
    ep_buf_append(&b, lit, strlen(lit));
  }
  ep_buf_append(&b, "]", 1);
  ep_term t;
  ep_text_error e;
  size_t pos = 0;
  ck_assert_int_eq(ep_parse(a, (const char *)b.data, b.len, &pos, &t, &e), EP_ESYNTAX);
  ck_assert_str_eq(e.message, "binary literals too large (64 MiB in all)");
  ck_assert_uint_eq(e.offset, eight + 3); /* the ninth literal's first segment, after ",<<" */
  /* eight fill it exactly */
  b.len = eight;
  ep_buf_append(&b, "]", 1);
  pos = 0;
  ck_assert_int_eq(ep_parse(a, (const char *)b.data, b.len, &pos, &t, &e), 0);
  ck_assert_uint_eq(ep_list_len(t), 8);
  ck_assert_uint_eq(ep_list_at(t, 7).n, (size_t)8 << 20);
  ep_buf_free(&b);
  ep_arena_free(a);
}
END_TEST

/* fuzz_text's finding itself: 61 bytes of text that build a 56 MB binary,
 * whose printout is over the text limit and so reads back as EP_ETOOBIG,
 * not as the term (the target's round trip now expects that). */
START_TEST(a_short_text_whose_printout_is_over_the_limit) {
  static const char text[] = " <<\"\xc3\xa9\0\0:94unit\0\0\0\0*, 1:94unitittle-unit:22,d\": 16#a_a1602>>.";
  ep_arena *a = ep_arena_new(NULL);
  ep_term t, back;
  size_t pos = 0;
  ck_assert_int_eq(ep_parse(a, text, sizeof text - 1, &pos, &t, NULL), 0);
  ck_assert_uint_eq(t.n, 40 * (size_t)0xaa1602 / 8); /* 40 characters of 0xaa1602 bits: 56 MB */
  ep_buf b = EP_BUF_INIT;
  ck_assert_int_eq(ep_print(&b, t), 0);
  ck_assert_uint_gt(b.len, EP_LIMIT_TEXT_SIZE);
  pos = 0;
  ck_assert_int_eq(ep_parse(a, (const char *)b.data, b.len, &pos, &back, NULL), EP_ETOOBIG);
  ep_buf_free(&b);
  ep_arena_free(a);
}
END_TEST

/* 100,000 keys that are maps of the same shape: a hash that only looked at
 * sizes would make the duplicate search quadratic (minutes). */
START_TEST(many_similar_map_keys_parse_fast) {
  ep_arena *a = ep_arena_new(NULL);
  ep_buf b = EP_BUF_INIT;
  ep_buf_append(&b, "#{", 2);
  for (int i = 0; i < 100000; i++) {
    char tmp[64];
    int k = snprintf(tmp, sizeof tmp, "%s#{k => {%d}} => %d", i ? "," : "", i % 50000, i);
    ep_buf_append(&b, tmp, (size_t)k);
  }
  ep_buf_append(&b, "}", 1);
  ep_term t;
  size_t pos = 0;
  clock_t c0 = clock();
  ck_assert_int_eq(ep_parse(a, (const char *)b.data, b.len, &pos, &t, NULL), 0);
  double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
  ck_assert_int_eq(t.type, EP_T_MAP);
  ck_assert_uint_eq(t.n, 50000); /* each key twice: the later value wins */
  ck_assert(secs < 10);
  ep_buf_free(&b);
  ep_arena_free(a);
}
END_TEST

START_TEST(text_over_the_size_limit_is_refused) {
  ep_arena *a = ep_arena_new(NULL);
  size_t n = EP_LIMIT_TEXT_SIZE + 16;
  char *s = malloc(n);
  /* one string literal longer than the limit */
  memset(s, 'x', n);
  s[0] = '"', s[n - 2] = '"', s[n - 1] = '.';
  size_t pos = 0;
  ep_term t;
  ep_text_error e;
  ck_assert_int_eq(ep_parse(a, s, n, &pos, &t, &e), EP_ETOOBIG);
  ck_assert_uint_eq(pos, 0);
  /* the limit is per term: many small terms in a longer text are fine */
  for (size_t i = 0; i + 4 <= n; i += 4) memcpy(s + i, "ok.\n", 4);
  memset(s + n - n % 4, ' ', n % 4);
  ck_assert_int_eq(ep_parse_ex(a, s, n, &pos, &t, &e, EP_PARSE_DOT), 0);
  ck_assert(ep_atom_eq(t, "ok"));
  pos = n / 8 * 4;
  ck_assert_int_eq(ep_parse_ex(a, s, n, &pos, &t, &e, EP_PARSE_DOT), 0);
  ck_assert(ep_atom_eq(t, "ok"));
  free(s);
  ep_arena_free(a);
}
END_TEST

static const char *const valid_texts[] = {
    "{call, lists, seq, [1, 10]}.\n",
    "#{a => [1, 2 | 3], \"k\" => <<\"v\"/utf8>>, 'Q' => {}}.\n",
    "[-1.5e-10, 16#FF, 2#1_0, $\\x{1F600}, $\\^A, $\\101, 'a\\'b'].\n",
    "\"ab\\n\" % c\n \"cd\" \"αβ\".\n",
    "<<1, 2, 3:5>>.\n",
    "<<\"é\", 1:4/little-unit:2, -1:16/signed, 1.5/float>>.\n",
    "fun 'm':f/2.\n",
    "[a|[b|[c|d]]].\n",
    "123456789012345678901234567890.\n",
    "{[], {}, #{}, <<>>, \"\", ''} % end\n.\n",
};

START_TEST(every_proper_prefix_is_incomplete_or_malformed) {
  ep_arena *a = ep_arena_new(NULL);
  for (size_t k = 0; k < sizeof valid_texts / sizeof valid_texts[0]; k++) {
    const char *text = valid_texts[k];
    size_t len = strlen(text);
    ep_term full, t;
    size_t pos = 0;
    ck_assert_int_eq(ep_parse_ex(a, text, len, &pos, &full, NULL, EP_PARSE_DOT | EP_PARSE_MORE), 0);
    for (size_t n = 0; n < len; n++) {
      /* a copy of exactly n bytes: ASan sees any read past the end */
      char *copy = malloc(n ? n : 1);
      memcpy(copy, text, n);
      pos = 0;
      ep_text_error e = {0};
      int r = ep_parse_ex(a, copy, n, &pos, &t, &e, EP_PARSE_DOT | EP_PARSE_MORE);
      ck_assert_msg(r == EP_EINCOMPLETE || r == EP_ESYNTAX, "text %zu prefix %zu: %s", k, n, ep_err_name(r));
      ck_assert_uint_eq(pos, 0);
      /* and without the flags: never a crash, and a success is a term */
      pos = 0;
      r = ep_parse_ex(a, copy, n, &pos, &t, &e, 0);
      ck_assert(r == 0 || r == EP_EINCOMPLETE || r == EP_ESYNTAX);
      free(copy);
    }
  }
  ep_arena_free(a);
}
END_TEST

START_TEST(streams_of_terms_parse_one_by_one) {
  ep_arena *a = ep_arena_new(NULL);
  const char *text = "a. {b, 1}.\n% comment\n[c].\n\"d\". 1.5.\n";
  size_t len = strlen(text), pos = 0;
  const char *want[] = {"a", "{b,1}", "[c]", "\"d\"", "1.5"};
  size_t k = 0;
  while (ep_parse_more(text, len, &pos)) {
    ep_term t;
    ck_assert_int_eq(ep_parse_ex(a, text, len, &pos, &t, NULL, EP_PARSE_DOT), 0);
    ck_assert_str_eq(ep_print_str(a, t), want[k++]);
  }
  ck_assert_uint_eq(k, 5);
  /* EP_PARSE_DOT: a term without its dot is an error */
  pos = 0;
  ep_term t;
  ep_text_error e;
  ck_assert_int_eq(ep_parse_ex(a, "a b.", 4, &pos, &t, &e, EP_PARSE_DOT), EP_ESYNTAX);
  ck_assert_uint_eq(e.column, 3);
  pos = 0;
  ck_assert_int_eq(ep_parse_ex(a, "a", 1, &pos, &t, &e, EP_PARSE_DOT), EP_EINCOMPLETE);
  /* EP_PARSE_MORE: "a." may still grow; "a.\n" may not */
  pos = 0;
  ck_assert_int_eq(ep_parse_ex(a, "a.", 2, &pos, &t, &e, EP_PARSE_MORE), EP_EINCOMPLETE);
  pos = 0;
  ck_assert_int_eq(ep_parse_ex(a, "a.\n", 3, &pos, &t, &e, EP_PARSE_MORE), 0);
  ck_assert_uint_eq(pos, 2);
  /* an error's line and column count from the start of the whole text */
  const char *two = "ok.\n{a,,b}.\n";
  pos = 0;
  ck_assert_int_eq(ep_parse_ex(a, two, strlen(two), &pos, &t, &e, EP_PARSE_DOT), 0);
  ck_assert_int_eq(ep_parse_ex(a, two, strlen(two), &pos, &t, &e, EP_PARSE_DOT), EP_ESYNTAX);
  ck_assert_uint_eq(e.line, 2);
  ck_assert_uint_eq(e.column, 4);
  ck_assert_uint_eq(e.offset, 7);
  ep_arena_free(a);
}
END_TEST

/* --- allocation failure --------------------------------------------------------------- */

/* After i allocations every later one fails: parse, then print the result. */
START_TEST(allocation_failure_at_every_step) {
  ep_failmem fm;
  ep_failmem_init(&fm);
  const char *text =
      "{[1,2|3], #{a => \"αβ\", b => <<1,2:3>>, c => 123456789012345678901234567890}, 'q', fun m:f/1, "
      "[x|[y|\"zz\"]], #{k => 1, k => 2, {1, \"s\"} => 3}}";
  int succeeded = 0;
  for (int i = 0; i < 200 && !succeeded; i++) {
    ep_failmem_fail_from(&fm, i + 1);
    ep_arena *a = ep_arena_new(&fm.mem);
    if (!a) continue;
    ep_term t;
    int r = ep_parse_str(a, text, &t, NULL);
    ck_assert_msg(r == 0 || r == EP_ENOMEM, "step %d: %s", i, ep_err_name(r));
    if (r == 0) {
      ep_buf b;
      ep_buf_init(&b, &fm.mem);
      for (int j = 0; j < 40; j++) {
        ep_failmem_fail_from(&fm, j + 1);
        b.len = 0, b.err = 0;
        int pr = ep_print(&b, t);
        ck_assert(pr == 0 || pr == EP_ENOMEM);
        if (pr == 0) break;
      }
      ep_buf_free(&b);
      succeeded = 1;
    }
    ep_arena_free(a);
  }
  ck_assert(succeeded);
}
END_TEST

/* --- printing is linear ---------------------------------------------------------------- */

START_TEST(big_binaries_print_in_linear_time) {
  ep_arena *a = ep_arena_new(NULL);
  size_t n = (size_t)16 << 20;
  uint8_t *d = malloc(n);
  for (size_t i = 0; i < n; i++) d[i] = (uint8_t)(i * 131 + (i >> 9));
  ep_term bin = ep_binary(a, d, n);
  ep_buf b;
  ep_buf_init(&b, NULL);
  clock_t c0 = clock();
  ck_assert_int_eq(ep_print(&b, bin), 0);
  double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
  ck_assert(b.len > 2 * n && b.len < 4 * n + 4);
  ck_assert(memcmp(b.data, "<<0,131,6,", 10) == 0);
  /* the text parses back to the same bytes */
  ep_term back;
  size_t pos = 0;
  ck_assert_int_eq(ep_parse(a, (const char *)b.data, b.len, &pos, &back, NULL), 0);
  ck_assert(ep_term_eq(bin, back));
  /* printable text and a long string */
  memset(d, 'x', n);
  b.len = 0;
  ck_assert_int_eq(ep_print(&b, ep_binary(a, d, n)), 0);
  ck_assert_uint_eq(b.len, n + 6);
  fprintf(stderr, "text: printed a 16 MiB binary as numbers in %.3f s\n", secs);
  ck_assert(secs < 20);
  ep_buf_free(&b);
  free(d);
  ep_arena_free(a);
}
END_TEST

int main(void) {
  Suite *s = suite_create("text");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, parse_vectors_print_back);
  tcase_add_test(tc, parsed_terms_have_the_expected_shape);
  tcase_add_test(tc, errors_name_line_and_column);
  tcase_add_test(tc, atoms_are_quoted_exactly_when_needed);
  tcase_add_test(tc, floats_print_in_the_shortest_exact_form);
  tcase_add_test(tc, other_kinds_print_in_their_usual_forms);
  tcase_add_test(tc, bignums_print_exactly_and_huge_ones_in_hex);
  tcase_add_test(tc, generated_terms_round_trip);
  tcase_add_test(tc, deep_nesting_is_refused_cleanly);
  tcase_add_test(tc, wide_binary_segments_are_fast);
  tcase_add_test(tc, many_similar_map_keys_parse_fast);
  tcase_add_test(tc, text_over_the_size_limit_is_refused);
  tcase_add_test(tc, every_proper_prefix_is_incomplete_or_malformed);
  tcase_add_test(tc, streams_of_terms_parse_one_by_one);
  tcase_add_test(tc, allocation_failure_at_every_step);
  tcase_add_test(tc, big_binaries_print_in_linear_time);
  tcase_add_test(tc, binary_literals_are_bounded_in_all);
  tcase_add_test(tc, a_short_text_whose_printout_is_over_the_limit);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
