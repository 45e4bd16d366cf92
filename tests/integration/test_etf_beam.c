/* The term codec against the real BEAM.
 *
 * A distributed erl (private epmd, so pids, ports and refs carry a real node
 * name and a 32-bit creation) runs tests/integration/etf_corpus.erl and
 * writes term_to_binary(T, [{minor_version, 2}]) and the compressed form of
 * every corpus term (edge values of every tag, then 3000 random terms from a
 * fixed seed). We decode each, re-encode it and require the very same bytes,
 * decode the BEAM's compressed form and require the same term, then write
 * our own plain and compressed encodings; a second erl binary_to_term's
 * every one of ours and compares it =:= with the original. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_testenv.h"

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void put_rec(ep_buf *b, const ep_buf *term) {
  ep_buf_put32(b, (uint32_t)term->len);
  ep_buf_append(b, term->data, term->len);
}

START_TEST(beam_corpus_round_trips_byte_for_byte) {
  ep_testenv *env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  const char *home = ep_testenv_home(env);
  const char *src = getenv("EP_SOURCE_DIR");
  ck_assert_msg(src != NULL, "EP_SOURCE_DIR not set (run through ctest)");
  char exprs[4096], orig[1024], ours[1024];
  snprintf(orig, sizeof orig, "%s/orig.etf", home);
  snprintf(ours, sizeof ours, "%s/ours.etf", home);
  snprintf(exprs, sizeof exprs,
           "{ok, _} = compile:file(\"%s/tests/integration/etf_corpus.erl\", [{outdir, \"%s\"}]),"
           " code:add_patha(\"%s\"), etf_corpus:emit(\"%s\"), halt().",
           src, home, home, orig);
  const char *argv[] = {"erl", "-sname", "etfcorpus", "-noshell", "-noinput", "-eval", exprs, NULL};
  char *out = NULL, *err = NULL;
  int st = ep_testenv_run(argv, NULL, 0, &out, NULL, &err, 180000);
  ck_assert_msg(st == 0, "emit failed (%d): %s %s", st, out ? out : "", err ? err : "");
  free(out);
  free(err);

  size_t len;
  uint8_t *data = slurp(orig, &len);
  ck_assert_ptr_nonnull(data);
  ep_buf mine = EP_BUF_INIT;
  ep_arena *a = ep_arena_new(NULL);
  size_t pos = 0, count = 0, differ = 0, zsame = 0, zours = 0;
  while (pos < len) {
    ck_assert_uint_ge(len - pos, 4);
    size_t pl = ep_get32(data + pos);
    const uint8_t *plain = data + pos + 4;
    ck_assert_uint_ge(len - pos - 4, pl + 4);
    size_t cl = ep_get32(plain + pl);
    const uint8_t *comp = plain + pl + 4;
    pos += 8 + pl + cl;
    ck_assert_uint_le(pos, len);

    ep_term t, tc;
    size_t p = 0;
    int r = ep_decode(a, plain, pl, &p, &t, NULL);
    ck_assert_msg(r == 0, "record %zu: %s at %zu", count, ep_err_name(r), p);
    ck_assert_uint_eq(p, pl);
    p = 0;
    r = ep_decode(a, comp, cl, &p, &tc, NULL);
    ck_assert_msg(r == 0 && p == cl, "record %zu (compressed): %s", count, ep_err_name(r));
    ck_assert_msg(ep_term_eq(t, tc), "record %zu: compressed form decodes differently", count);

    ep_buf enc = EP_BUF_INIT, zenc = EP_BUF_INIT;
    ck_assert_int_eq(ep_encode(&enc, t), 0);
    if (enc.len != pl || memcmp(enc.data, plain, pl) != 0) {
      size_t k = 0;
      while (k < pl && k < enc.len && enc.data[k] == plain[k]) k++;
      if (differ < 5)
        fprintf(stderr, "record %zu: re-encoding differs at byte %zu (beam %zu bytes, ours %zu)\n", count, k, pl,
                enc.len);
      differ++;
    }
    ck_assert_int_eq(ep_encode_compressed(&zenc, t, -1), 0);
    if (zenc.len == cl && memcmp(zenc.data, comp, cl) == 0) zsame++;
    if (zenc.data[1] == 80) zours++;
    put_rec(&mine, &enc);
    put_rec(&mine, &zenc);
    ep_buf_free(&enc);
    ep_buf_free(&zenc);
    ep_arena_reset(a);
    count++;
  }
  fprintf(stderr, "etf corpus: %zu terms, %zu re-encodings differ, %zu compressed (%zu byte-identical to the BEAM's)\n",
          count, differ, zours, zsame);
  ck_assert_uint_gt(count, 3000);
  ck_assert_uint_eq(differ, 0);
  ck_assert_int_eq(mine.err, 0);
  FILE *f = fopen(ours, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(mine.data, 1, mine.len, f), mine.len);
  fclose(f);
  ep_buf_free(&mine);
  ep_arena_free(a);
  free(data);

  /* Ours, back into the BEAM. */
  snprintf(exprs, sizeof exprs, "code:add_patha(\"%s\"), etf_corpus:check(\"%s\", \"%s\").", home, orig, ours);
  out = NULL;
  st = ep_testenv_erl_eval(exprs, &out, NULL, 180000);
  ck_assert_msg(st == 0, "check failed (%d): %s", st, out ? out : "");
  ck_assert_ptr_nonnull(strstr(out, "mismatches 0"));
  free(out);
  ep_testenv_free(env);
}
END_TEST

/* ep_term_cmp against the BEAM's own order: erl sorts the corpus (edge
 * values and 3000 random terms: numbers of every size, atoms, refs, funs,
 * ports, pids, tuples, maps, lists, bitstrings) with lists:sort; every
 * adjacent pair must compare <= 0 with ours. */
START_TEST(term_order_agrees_with_the_beam) {
  ep_testenv *env = ep_testenv_new();
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  const char *home = ep_testenv_home(env);
  const char *src = getenv("EP_SOURCE_DIR");
  ck_assert_msg(src != NULL, "EP_SOURCE_DIR not set (run through ctest)");
  char exprs[4096], path[1024];
  snprintf(path, sizeof path, "%s/sorted.etf", home);
  snprintf(exprs, sizeof exprs,
           "{ok, _} = compile:file(\"%s/tests/integration/etf_corpus.erl\", [{outdir, \"%s\"}]),"
           " code:add_patha(\"%s\"), etf_corpus:emit_sorted(\"%s\"), halt().",
           src, home, home, path);
  const char *argv[] = {"erl", "-sname", "etfsort", "-noshell", "-noinput", "-eval", exprs, NULL};
  char *out = NULL, *err = NULL;
  int st = ep_testenv_run(argv, NULL, 0, &out, NULL, &err, 180000);
  ck_assert_msg(st == 0, "emit_sorted failed (%d): %s %s", st, out ? out : "", err ? err : "");
  free(out);
  free(err);
  size_t len;
  uint8_t *data = slurp(path, &len);
  ck_assert_ptr_nonnull(data);
  ep_arena *a = ep_arena_new(NULL);
  ep_term t;
  size_t pos = 0;
  ck_assert_int_eq(ep_decode(a, data, len, &pos, &t, NULL), 0);
  ptrdiff_t n = ep_list_len(t);
  ck_assert_int_gt(n, 3000);
  size_t bad = 0;
  for (ptrdiff_t i = 0; i + 1 < n; i++) {
    ep_term x = ep_list_at(t, (size_t)i), y = ep_list_at(t, (size_t)i + 1);
    if (ep_term_cmp(x, y) > 0) {
      if (bad < 5) fprintf(stderr, "order: #%td (type %d) sorts after #%td (type %d) for us\n", i, x.type, i + 1, y.type);
      bad++;
    }
    /* and the reverse comparison agrees */
    ck_assert_int_eq((ep_term_cmp(x, y) > 0) - (ep_term_cmp(x, y) < 0), -((ep_term_cmp(y, x) > 0) - (ep_term_cmp(y, x) < 0)));
  }
  ck_assert_uint_eq(bad, 0);
  ep_arena_free(a);
  free(data);
  ep_testenv_free(env);
}
END_TEST

int main(void) {
  Suite *s = suite_create("etf_beam");
  TCase *tc = tcase_create("beam");
  tcase_set_timeout(tc, 400);
  tcase_add_test(tc, beam_corpus_round_trips_byte_for_byte);
  tcase_add_test(tc, term_order_agrees_with_the_beam);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
