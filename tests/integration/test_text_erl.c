/* The printer and the parser against a real erl.
 *
 * An erl writes a corpus (edge values of every kind with a literal syntax,
 * unicode atoms and strings, then random terms from a fixed seed) as
 * term_to_binary, and the same terms as io_lib:format("~tp.~n") and
 * ("~w.~n") text. We decode every term (ep_decode), print it with ep_print
 * into a file, one "Term." per line; a second erl file:consult's our file
 * and compares each term =:= with its original. And our parser reads erl's
 * ~tp and ~w texts back to terms ep_term_eq to the decoded ones. Pids, refs,
 * ports and local funs, which have no literal syntax, are checked for their
 * documented printed forms. No distribution: erl runs with -noshell only.
 * The same runs with OTP 27 and 29 when their Debian roots exist
 * (scripts/otp-roots.sh), and say "skipped" otherwise.
 *
 * Export funs get ASCII names only: erl's own ~p writes fun M:F/A with
 * non-ASCII names as UTF-8 bytes taken for characters (erlang:fun_to_list
 * in OTP 25), which no parser reads back to the same fun. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_otproot.h"
#include "ep_testenv.h"
#include "ep_text.h"

/* The corpus module, written to the test's HOME and compiled there. */
static const char corpus_erl[] =
    "-module(eptext_corpus).\n"
    "-export([write/1, check/1]).\n"
    "fixed() ->\n"
    "  [ok, 'Error', '', 'and', 'maybe', 'else', 'case', 'a b', 'it\\'s', 'a@b', '@', 'é', 'αβγ',\n"
    "   '\\x{1F600}', '\\n', '\\\\', '\\x{7f}', '\\x{85}', 'ñandú', 'Ärger', '_', 'a.b',\n"
    "   0, 1, -1, 255, 256, 2147483647, -2147483648, 9223372036854775807, -9223372036854775808,\n"
    "   9223372036854775808, 18446744073709551616, -18446744073709551616, 1 bsl 1000,\n"
    "   -(1 bsl 999) + 7, (1 bsl 300000) - 1, -(1 bsl 270000),\n"
    "   0.0, -0.0, 0.1, 1.0e23, 5.0e-324, 1.7976931348623157e308, -1.5, 100.0, 1.0e15, 1.0e16,\n"
    "   2.2250738585072014e-308, 0.30000000000000004, 123456.0, 1.0e-5, 1.0e4,\n"
    "   [], \"\", \"abc\", \"a\\nb\\\"c\\\\\", \"héllo\", \"αβγ\", [0,1,2], [127,128,159,160],\n"
    "   [16#D7FF, 16#E000, 16#FFFD, 16#10000, 16#10FFFF], [16#FFFE], [16#FFFF], \"\\e\\v\\b\\f\\r\\t\",\n"
    "   [a|b], [1,2|3], [[]], [$a|<<\"b\">>], [\"ab\"|\"cd\"],\n"
    "   <<>>, <<\"abc\">>, <<\"é\"/utf8>>, <<\"é\">>, <<1,2,3>>, <<255>>, <<1:1>>, <<1,2,3:5>>,\n"
    "   <<0:7>>, <<\"αβ\"/utf8, 0>>, <<\"a\\nb\">>, <<\"\\\"\\\\\">>, <<16#C3>>, <<\"\\x{7f}\">>,\n"
    "   {}, {a}, {a, {b, {c}}}, #{}, #{a => 1}, #{1 => a, 1.0 => b, \"k\" => [v], {t} => #{}},\n"
    "   fun lists:seq/2, fun 'Elixir.Foo':'bar baz'/0, fun erlang:'+'/2,\n"
    "   list_to_binary(lists:duplicate(1000, $x)), lists:seq(1, 300), lists:duplicate(70000, $a),\n"
    "   lists:foldl(fun(_, A) -> [A] end, [], lists:seq(1, 2000)),\n"
    "   lists:foldl(fun(_, A) -> {A} end, x, lists:seq(1, 2000))].\n"
    "rnd_char() ->\n"
    "  case rand:uniform(6) of\n"
    "    1 -> rand:uniform(128) - 1;\n"
    "    2 -> 16#9F + rand:uniform(100);\n"
    "    3 -> 16#3B0 + rand:uniform(40);\n"
    "    4 -> 16#1F5FF + rand:uniform(80);\n"
    "    5 -> 31 + rand:uniform(95);\n"
    "    6 -> C = rand:uniform(16#10FFFF), if C >= 16#D800, C =< 16#DFFF -> $s; true -> C end\n"
    "  end.\n"
    "rnd_float() ->\n"
    "  case rand:uniform(3) of\n"
    "    1 -> B = rand:uniform(1 bsl 64) - 1,\n"
    "         case <<B:64>> of <<F/float>> -> F; _ -> rand:uniform() end;\n"
    "    2 -> (rand:uniform() - 0.5) * math:pow(10, rand:uniform(40) - 20);\n"
    "    3 -> float(rand:uniform(100000))\n"
    "  end.\n"
    "rnd_atom() ->\n"
    "  case rand:uniform(3) of\n"
    "    1 -> lists:nth(rand:uniform(8), [ok, 'and', 'fun', 'Up', '', 'maybe', 'a-b', 'x@y']);\n"
    "    _ -> list_to_atom([rnd_char() || _ <- lists:seq(1, rand:uniform(8) - 1)])\n"
    "  end.\n"
    "rnd_scalar() ->\n"
    "  case rand:uniform(12) of\n"
    "    1 -> rand:uniform(1000) - 500;\n"
    "    2 -> rand:uniform(1 bsl 200) - (1 bsl 199);\n"
    "    3 -> rnd_float();\n"
    "    4 -> rnd_atom();\n"
    "    5 -> [rand:uniform(300) - 1 || _ <- lists:seq(1, rand:uniform(6))];\n"
    "    6 -> [rnd_char() || _ <- lists:seq(1, rand:uniform(6))];\n"
    "    7 -> rand:bytes(rand:uniform(10) - 1);\n"
    "    8 -> N = rand:uniform(7), <<(rand:bytes(rand:uniform(3) - 1))/binary, (rand:uniform(1 bsl N) - 1):N>>;\n"
    "    9 -> unicode:characters_to_binary([rnd_char() || _ <- lists:seq(1, rand:uniform(5))]);\n"
    "    10 -> A = fun() -> lists:nth(rand:uniform(5), [m, 'and', 'Up', '', 'a b']) end,\n"
    "          erlang:make_fun(A(), A(), rand:uniform(256) - 1);\n"
    "    11 -> [];\n"
    "    12 -> rand:uniform(16#10FFFF)\n"
    "  end.\n"
    "rnd_term(0) -> rnd_scalar();\n"
    "rnd_term(D) ->\n"
    "  L = fun() -> [rnd_term(D - 1) || _ <- lists:seq(1, rand:uniform(5) - 1)] end,\n"
    "  case rand:uniform(6) of\n"
    "    1 -> list_to_tuple(L());\n"
    "    2 -> L();\n"
    "    3 -> case rnd_scalar() of T when is_list(T) -> [rnd_term(D - 1) | x]; T -> [rnd_term(D - 1) | T] end;\n"
    "    4 -> maps:from_list([{rnd_term(D - 1), rnd_term(D - 1)} || _ <- lists:seq(1, rand:uniform(4) - 1)]);\n"
    "    _ -> rnd_scalar()\n"
    "  end.\n"
    "terms() ->\n"
    "  rand:seed(exsss, {17, 42, 4711}),\n"
    "  fixed() ++ [rnd_term(4) || _ <- lists:seq(1, 1500)].\n"
    "write(Dir) ->\n"
    "  Terms = terms(),\n"
    "  ok = file:write_file(Dir ++ \"/each.etf\", [term_to_binary(T) || T <- Terms]),\n"
    "  ok = file:write_file(Dir ++ \"/p.txt\",\n"
    "    unicode:characters_to_binary([io_lib:format(\"~tp.~n\", [T]) || T <- Terms])),\n"
    "  ok = file:write_file(Dir ++ \"/w.txt\",\n"
    "    unicode:characters_to_binary([io_lib:format(\"~w.~n\", [T]) || T <- Terms])),\n"
    "  Others = [self(), make_ref(), hd(erlang:ports()), fun(X) -> X end],\n"
    "  ok = file:write_file(Dir ++ \"/others.etf\", [term_to_binary(T) || T <- Others]),\n"
    "  io:format(\"~p ~s~n\", [length(Terms), io_lib:format(\"~p\", [Others])]).\n"
    "check(Dir) ->\n"
    "  Orig = terms(),\n"
    "  case file:consult(Dir ++ \"/ours.txt\") of\n"
    "    {ok, Ours} when length(Ours) =:= length(Orig) ->\n"
    "      Bad = [{I, A, B} || {I, A, B} <- lists:zip3(lists:seq(1, length(Orig)), Orig, Ours), A =/= B],\n"
    "      case Bad of\n"
    "        [] -> io:format(\"ok ~p~n\", [length(Ours)]);\n"
    "        _ -> io:format(\"mismatch ~P~n\", [Bad, 40])\n"
    "      end;\n"
    "    {ok, Ours} -> io:format(\"count ~p of ~p~n\", [length(Ours), length(Orig)]);\n"
    "    Err -> io:format(\"consult ~p~n\", [Err])\n"
    "  end.\n";

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  if (b) b[n] = 0;
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void spit(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

/* Newer OTP releases live in Debian roots (scripts/otp-roots.sh); their erl
 * runs as `chroot ROOT erl`, working in a directory made inside the root.
 * NULL: the system's erl. */
static const char *otp_root;

/* Runs eptext_corpus:FN(DIR) in a fresh non-distributed erl; dir is the
 * path as erl sees it. */
static char *run_corpus(const char *dir, const char *fn) {
  char exprs[2048];
  snprintf(exprs, sizeof exprs,
           "{ok, _} = compile:file(\"%s/eptext_corpus.erl\", [{outdir, \"%s\"}]),"
           " code:add_patha(\"%s\"), eptext_corpus:%s(\"%s\"), halt().",
           dir, dir, dir, fn, dir);
  const char *sys[] = {"erl", "-noshell", "-noinput", "-eval", exprs, NULL};
  const char *chr[] = {"chroot", otp_root, "erl", "-noshell", "-noinput", "-eval", exprs, NULL};
  char *out = NULL, *err = NULL;
  int st = ep_testenv_run(otp_root ? chr : sys, NULL, 0, &out, NULL, &err, 240000);
  ck_assert_msg(st == 0, "erl %s failed (%d): %s %s", fn, st, out ? out : "", err ? err : "");
  free(err);
  return out;
}

/* Decodes every term of path into a (count in *n). */
static ep_term *decode_all(ep_arena *a, const char *path, size_t *n) {
  size_t len, pos = 0, cap = 4096;
  char *data = slurp(path, &len);
  ck_assert_ptr_nonnull(data);
  ep_term *terms = malloc(cap * sizeof *terms);
  *n = 0;
  while (pos < len) {
    if (*n == cap) terms = realloc(terms, (cap *= 2) * sizeof *terms);
    int r = ep_decode(a, (const uint8_t *)data, len, &pos, &terms[*n], NULL);
    ck_assert_msg(r == 0, "%s: term %zu: %s at byte %zu", path, *n, ep_err_name(r), pos);
    (*n)++;
  }
  free(data);
  return terms;
}

/* The whole round trip with one erl (otp_root: NULL or a Debian root). */
static void round_trip(void) {
  ep_testenv *env = ep_testenv_new();
  /* home: where we read and write; dir: the same directory as erl sees it */
  char home[600], dir[600], bin[600];
  snprintf(dir, sizeof dir, "%s", ep_testenv_home(env));
  if (otp_root) {
    /* the env's HOME mirrored in the root (its mirrors of HOMEs that are
     * gone are swept by the next ep_otproot_enter) */
    ck_assert_int_eq(ep_otproot_enter(env, otp_root, bin, sizeof bin), 0);
    snprintf(home, sizeof home, "%s%s", otp_root, dir);
  } else {
    snprintf(home, sizeof home, "%s", dir);
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/eptext_corpus.erl", home);
  spit(path, corpus_erl, strlen(corpus_erl));
  char *out = run_corpus(dir, "write");
  char *erl_others = strdup(out); /* "N [Pid,Ref,Port,Fun]" as erl prints them */
  long expected = strtol(out, NULL, 10);
  ck_assert_int_gt(expected, 1000);

  ep_arena *a = ep_arena_new(NULL);
  size_t n;
  snprintf(path, sizeof path, "%s/each.etf", home);
  ep_term *terms = decode_all(a, path, &n);
  ck_assert_uint_eq(n, (size_t)expected);

  /* 1. we print, erl consults and compares =:= */
  ep_buf text = EP_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    size_t before = text.len;
    ck_assert_int_eq(ep_print(&text, terms[i]), 0);
    /* and our own parser agrees with our printer */
    ep_term back;
    size_t pos = before;
    ep_text_error e = {0};
    int r = ep_parse(a, (const char *)text.data, text.len, &pos, &back, &e);
    ck_assert_msg(r == 0, "term %zu: our text does not parse: %s at column %u", i, e.message, e.column);
    ck_assert_msg(ep_term_eq(back, terms[i]), "term %zu: our parse of our text differs", i);
    ep_buf_append(&text, ".\n", 2);
  }
  snprintf(path, sizeof path, "%s/ours.txt", home);
  spit(path, text.data, text.len);
  free(out);
  out = run_corpus(dir, "check");
  ck_assert_msg(strncmp(out, "ok ", 3) == 0, "erl's verdict on our text: %s", out);
  ck_assert_int_eq(strtol(out + 3, NULL, 10), expected);
  free(out);

  /* 2. erl prints (~tp and ~w), we parse and compare with the decoded terms */
  static const char *const texts[] = {"p.txt", "w.txt"};
  for (int k = 0; k < 2; k++) {
    snprintf(path, sizeof path, "%s/%s", home, texts[k]);
    size_t len, pos = 0, i = 0;
    char *src = slurp(path, &len);
    ck_assert_ptr_nonnull(src);
    while (ep_parse_more(src, len, &pos)) {
      ep_term t;
      ep_text_error e = {0};
      int r = ep_parse_ex(a, src, len, &pos, &t, &e, EP_PARSE_DOT);
      ck_assert_msg(r == 0, "%s: term %zu: %s at %u:%u", texts[k], i, e.message, e.line, e.column);
      ck_assert_uint_lt(i, n);
      ck_assert_msg(ep_term_eq(t, terms[i]), "%s: term %zu differs: ours %.300s erl's %.300s", texts[k], i,
                    ep_print_str(a, t), ep_print_str(a, terms[i]));
      i++;
    }
    ck_assert_uint_eq(i, n);
    free(src);
  }

  /* 3. kinds without a literal syntax print in their documented forms */
  snprintf(path, sizeof path, "%s/others.etf", home);
  size_t no;
  ep_term *others = decode_all(a, path, &no);
  ck_assert_uint_eq(no, 4);
  const char *pid = ep_print_str(a, others[0]);
  ck_assert_msg(strncmp(pid, "<nonode@nohost.", 15) == 0 && pid[strlen(pid) - 1] == '>', "pid %s", pid);
  const char *ref = ep_print_str(a, others[1]);
  ck_assert_msg(strncmp(ref, "#Ref<nonode@nohost.", 19) == 0, "ref %s", ref);
  const char *port = ep_print_str(a, others[2]);
  ck_assert_msg(strncmp(port, "#Port<nonode@nohost.", 20) == 0, "port %s", port);
  const char *fun = ep_print_str(a, others[3]);
  ck_assert_msg(strncmp(fun, "#Fun<eptext_corpus.", 19) == 0, "fun %s", fun);
  /* the same numbers as erl's own forms: #Fun<M.I.U> exactly, the ref's and
   * the pid's numbers after erl's node index */
  ck_assert_msg(strstr(erl_others, fun) != NULL, "ours %s, erl's %s", fun, erl_others);
  const char *erl_ref = strstr(erl_others, "#Ref<0.");
  ck_assert_ptr_nonnull(erl_ref);
  ck_assert_msg(strncmp(erl_ref + 7, ref + 19, strlen(ref + 19)) == 0, "ours %s, erl's %s", ref, erl_others);
  const char *erl_pid = strstr(erl_others, "[<0.");
  ck_assert_ptr_nonnull(erl_pid);
  ck_assert_msg(strncmp(erl_pid + 4, pid + 15, strlen(pid + 15)) == 0, "ours %s, erl's %s", pid, erl_others);
  free(erl_others);
  free(terms);
  free(others);
  ep_buf_free(&text);
  ep_arena_free(a);
  ep_testenv_free(env);
  if (otp_root) ep_otproot_leave(otp_root, dir);
}

START_TEST(round_trip_with_the_system_erl) {
  otp_root = NULL;
  round_trip();
}
END_TEST

/* OTP 27 made maybe/else keywords and 0.0 =/= -0.0; OTP 29 is the newest. */
START_TEST(round_trip_with_newer_otp) {
  char root[512], why[1024];
  if (!ep_otproot_available(&ep_otp_releases[1 + _i], root, sizeof root, why, sizeof why)) {
    printf("text_erl: %s: skipped\n", why);
    return;
  }
  otp_root = root;
  round_trip();
  otp_root = NULL;
}
END_TEST

int main(void) {
  Suite *s = suite_create("text_erl");
  TCase *tc = tcase_create("erl");
  tcase_set_timeout(tc, 480);
  tcase_add_test(tc, round_trip_with_the_system_erl);
  tcase_add_loop_test(tc, round_trip_with_newer_otp, 0, 2);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
