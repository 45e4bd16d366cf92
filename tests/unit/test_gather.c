/* Gathered encoding (ep_encode_gather, ep_dist_write_gather): the segments,
 * concatenated, are byte for byte what the copying encoder and frame
 * writers produce, for binaries below, at and above the threshold, bit
 * binaries, nesting (tuples, lists, improper tails, maps, a fun's free
 * variables, whose size field must count the referenced bytes), several
 * large binaries, frames with and without FRAGMENTS, frames gathered in a
 * row; large binaries really are referenced (pointers into the term, not
 * copies); the segment limit falls back to copying; errors and allocation
 * failures leave the buffer and the gather as they were. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_dflags.h"
#include "ep_dist.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_failmem.h"

static ep_arena *A;
static uint8_t BLOB[70000];

static void setup(void) {
  A = ep_arena_new(NULL);
  for (size_t i = 0; i < sizeof BLOB; i++) BLOB[i] = (uint8_t)(i * 31 + 7);
}
static void teardown(void) { ep_arena_free(A); }

/* A binary pointing at BLOB + off (not copied: the test checks the
 * references point there). */
static ep_term bin_at(size_t off, size_t n) {
  ep_term t = ep_none();
  t.type = EP_T_BINARY;
  t.n = (uint32_t)n;
  t.v.bytes = BLOB + off;
  return t;
}
static ep_term bits_at(size_t off, size_t n, unsigned last_bits) {
  ep_term t = bin_at(off, n);
  t.type = EP_T_BITSTR;
  t.aux = (uint8_t)last_bits;
  return t;
}

/* Concatenation of g's segments over out. */
static void flatten(const ep_buf *out, const ep_gather *g, ep_buf *flat) {
  for (size_t i = 0; i < g->n; i++) {
    const ep_seg *s = &g->segs[i];
    if (s->ext) {
      ck_assert_int_eq(ep_buf_append(flat, s->ext, s->len), 0);
    } else {
      ck_assert_uint_le(s->off + s->len, out->len);
      ck_assert_int_eq(ep_buf_append(flat, out->data + s->off, s->len), 0);
    }
  }
}

/* g's segments over out make exactly the bytes of want. */
static void check_flat(const ep_buf *out, const ep_gather *g, const ep_buf *want) {
  ep_buf flat = EP_BUF_INIT;
  flatten(out, g, &flat);
  ck_assert_uint_eq(flat.len, want->len);
  ck_assert_mem_eq(flat.data, want->data, want->len);
  ep_buf_free(&flat);
}

/* Gathers t with threshold min and cap segments, checks identity with
 * ep_encode and the segment rules; returns the bytes referenced. */
static size_t check_term(ep_term t, size_t min, size_t cap) {
  ep_buf want = EP_BUF_INIT, out = EP_BUF_INIT;
  ck_assert_int_eq(ep_encode(&want, t), 0);
  ep_seg segs[64];
  ck_assert_uint_le(cap, 64);
  ep_gather g;
  /* something already in out is not part of the gather */
  ck_assert_int_eq(ep_buf_append(&out, "pre", 3), 0);
  ep_gather_init(&g, segs, cap, min, &out);
  ck_assert_int_eq(ep_encode_gather(&out, &g, t), 0);
  ck_assert_uint_le(g.n, cap);
  ck_assert_uint_ge(g.n, 1);
  ck_assert_uint_eq(g.mark, out.len);
  ck_assert_uint_eq(out.len - 3 + g.ext_bytes, want.len);
  size_t ext = 0;
  for (size_t i = 0; i < g.n; i++) {
    if (!segs[i].ext) continue;
    ext += segs[i].len;
    ck_assert_uint_ge(segs[i].len, min ? min : 1);
    /* a reference into the term, never a copy */
    ck_assert(segs[i].ext >= BLOB && segs[i].ext + segs[i].len <= BLOB + sizeof BLOB);
  }
  /* no two buffer segments in a row: they are merged */
  for (size_t i = 0; i + 1 < g.n; i++) ck_assert(segs[i].ext || segs[i + 1].ext);
  ck_assert_uint_eq(ext, g.ext_bytes);
  ck_assert(!segs[0].ext && segs[0].off == 3);
  check_flat(&out, &g, &want);
  ep_buf_free(&want);
  ep_buf_free(&out);
  return ext;
}

START_TEST(binaries_around_the_threshold) {
  const size_t min = 1000;
  size_t sizes[] = {0, 1, 999, 1000, 1001, 65536, 69999};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    ck_assert_uint_eq(check_term(bin_at(1, n), min, 16), n >= min ? n : 0);
    ck_assert_uint_eq(check_term(EP_TUPLE(A, ep_atom("x"), bin_at(0, n), ep_int(5)), min, 16), n >= min ? n : 0);
    /* min 0 counts as 1: an empty binary is never a reference */
    ck_assert_uint_eq(check_term(bin_at(0, n), 0, 16), n);
  }
}
END_TEST

START_TEST(bit_binaries) {
  const size_t min = 100;
  for (unsigned bits = 1; bits <= 8; bits++) {
    size_t sizes[] = {1, 2, 99, 100, 101, 102, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      size_t n = sizes[i];
      /* the last byte is masked on the wire: only n - 1 bytes go by
       * reference (all n for 8 bits, which is a plain binary) */
      size_t refl = bits == 8 ? n : n - 1;
      ck_assert_uint_eq(check_term(bits_at(3, n, bits), min, 16), refl >= min ? refl : 0);
      ck_assert_uint_eq(check_term(EP_LIST(A, bits_at(0, n, bits), bin_at(7, n)), min, 16),
                        (refl >= min ? refl : 0) + (n >= min ? n : 0));
    }
  }
}
END_TEST

START_TEST(nested_and_several) {
  const size_t min = 4096;
  ep_term big1 = bin_at(0, 5000), big2 = bin_at(100, 65536), small = bin_at(5, 10);
  ep_term terms[] = {
      EP_TUPLE(A, big1, big2, small, big1),
      EP_LIST(A, ep_atom("a"), EP_TUPLE(A, big1, EP_LIST(A, big2)), small),
      ep_list_improper(A, 2, (ep_term[]){ep_int(1), big1}, big2), /* a binary as an improper tail */
      EP_MAP(A, ep_atom("k"), big1, big2, ep_atom("v"), ep_atom("s"), small),
      EP_TUPLE(A, ep_string(A, "text"), ep_float(1.5), ep_pid(A, "n@h", 1, 2, 3), big1, ep_int(-70000),
               ep_uint64(A, UINT64_MAX), bits_at(9, 4097, 3), ep_atom("end")),
      EP_TUPLE(A, EP_TUPLE(A, EP_TUPLE(A, EP_TUPLE(A, big2)))),
  };
  size_t want[] = {5000 * 2 + 65536, 5000 + 65536, 5000 + 65536, 5000 + 65536, 5000 + 4096, 65536};
  for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
    ck_assert_uint_eq(check_term(terms[i], min, 32), want[i]);
    ck_assert_uint_eq(check_term(terms[i], SIZE_MAX, 32), 0); /* threshold above all: plain */
  }
}
END_TEST

/* A fun's size field counts everything after it, free variables included:
 * referenced bytes must be counted though they are not in the buffer. */
START_TEST(fun_free_variables) {
  ep_fun *f = ep_arena_alloc(A, sizeof *f);
  memset(f, 0, sizeof *f);
  f->arity = 1;
  memset(f->uniq, 0xab, sizeof f->uniq);
  f->index = 3;
  f->module = ep_atom("m");
  f->old_index = ep_int(3);
  f->old_uniq = ep_int(12345);
  f->pid = ep_pid(A, "n@h", 1, 2, 3);
  ep_term *fv = ep_arena_alloc(A, 3 * sizeof *fv);
  fv[0] = bin_at(0, 3000);
  fv[1] = EP_TUPLE(A, bin_at(1, 9000), ep_int(1));
  fv[2] = bin_at(2, 10);
  f->num_free = 3;
  f->free_vars = fv;
  ep_term fun = ep_none();
  fun.type = EP_T_FUN;
  fun.v.fun = f;
  ck_assert_uint_eq(check_term(fun, 1000, 16), 12000);
  ck_assert_uint_eq(check_term(EP_TUPLE(A, bin_at(3, 2000), fun, bin_at(4, 2000)), 1000, 16), 16000);
  /* a fun inside a fun's free variables */
  ep_fun *outer = ep_arena_alloc(A, sizeof *outer);
  *outer = *f;
  ep_term *ofv = ep_arena_alloc(A, 2 * sizeof *ofv);
  ofv[0] = fun;
  ofv[1] = bin_at(5, 1500);
  outer->num_free = 2;
  outer->free_vars = ofv;
  ep_term ofun = fun;
  ofun.v.fun = outer;
  ck_assert_uint_eq(check_term(ofun, 1000, 16), 13500);
}
END_TEST

/* With too few segments, the binaries that do not fit are copied: the
 * output stays right whatever cap is. */
START_TEST(segment_limit_falls_back_to_copying) {
  ep_term items[10];
  for (int i = 0; i < 10; i++) items[i] = bin_at((size_t)i, 2000);
  ep_term t = ep_tuple(A, 10, items);
  for (size_t cap = 1; cap <= 25; cap++) {
    /* each reference takes 2 segments and leaves 1 for the tail */
    size_t refs = cap >= 3 ? (cap - 1) / 2 : 0;
    if (refs > 10) refs = 10;
    ck_assert_uint_eq(check_term(t, 1000, cap), refs * 2000);
  }
  /* back-to-back binaries (a list of them) are the worst case */
  ep_term l = ep_list(A, 10, items);
  for (size_t cap = 1; cap <= 25; cap++) check_term(l, 1000, cap);
  /* cap 0: nothing can be described */
  ep_seg s[1];
  ep_gather g;
  ep_buf out = EP_BUF_INIT;
  ep_gather_init(&g, s, 0, 1000, &out);
  ck_assert_int_eq(ep_encode_gather(&out, &g, t), EP_EINVAL);
  ck_assert_uint_eq(out.len, 0);
  ck_assert_int_eq(ep_encode_gather(&out, NULL, t), EP_EINVAL);
  ck_assert_int_eq(ep_dist_write_gather(&out, NULL, 0, ep_atom("c"), t), EP_EINVAL);
  ep_buf_free(&out);
}
END_TEST

/* Several encodings into one gather: the segments cover all of them, with
 * the caller's own bytes in between. */
START_TEST(several_calls_into_one_gather) {
  ep_buf want = EP_BUF_INIT, out = EP_BUF_INIT;
  ep_seg segs[16];
  ep_gather g;
  ep_gather_init(&g, segs, 16, 100, &out);
  ep_term a = EP_TUPLE(A, bin_at(0, 500), ep_int(1)), b = bin_at(10, 700);
  ck_assert_int_eq(ep_encode_gather(&out, &g, a), 0);
  ck_assert_int_eq(ep_buf_append(&out, "between", 7), 0);
  ck_assert_int_eq(ep_encode_body_gather(&out, &g, b), 0);
  ck_assert_int_eq(ep_encode(&want, a), 0);
  ck_assert_int_eq(ep_buf_append(&want, "between", 7), 0);
  ck_assert_int_eq(ep_encode_body(&want, b), 0);
  check_flat(&out, &g, &want);
  ck_assert_uint_eq(g.ext_bytes, 1200);
  ep_buf_free(&want);
  ep_buf_free(&out);
}
END_TEST

/* Frames: the same bytes as ep_dist_write_flags, with and without
 * FRAGMENTS, with and without a payload, several frames in a row. */
START_TEST(frames_match_the_copying_writer) {
  uint64_t flagsets[] = {0, EP_DFLAG_FRAGMENTS, EP_DFLAGS_OURS};
  ep_term pid = ep_pid(A, "n@h", 1, 2, 3);
  ep_term ctl = EP_TUPLE(A, ep_int(6), pid, ep_atom(""), ep_atom("sink"));
  ep_term payloads[] = {ep_none(), bin_at(0, 69999), EP_TUPLE(A, bin_at(0, 20000), bin_at(1, 30000), ep_int(1)),
                        bin_at(0, 10), EP_LIST(A, bits_at(2, 20000, 5))};
  for (size_t f = 0; f < 3; f++) {
    ep_buf want = EP_BUF_INIT, out = EP_BUF_INIT, flat = EP_BUF_INIT;
    ep_seg segs[32];
    ep_gather g;
    ep_gather_init(&g, segs, 32, 4096, &out);
    size_t ext = 0;
    for (size_t p = 0; p < sizeof payloads / sizeof payloads[0]; p++) {
      ck_assert_int_eq(ep_dist_write_flags(&want, flagsets[f], ctl, payloads[p]), 0);
      ck_assert_int_eq(ep_dist_write_gather(&out, &g, flagsets[f], ctl, payloads[p]), 0);
      ck_assert_uint_eq(out.len + g.ext_bytes, want.len);
      /* a large binary as the control term itself goes by reference too */
      ck_assert_int_eq(ep_dist_write_flags(&want, flagsets[f], EP_TUPLE(A, ep_int(2), bin_at(3, 5000)), payloads[p]),
                       0);
      ck_assert_int_eq(
          ep_dist_write_gather(&out, &g, flagsets[f], EP_TUPLE(A, ep_int(2), bin_at(3, 5000)), payloads[p]), 0);
    }
    ck_assert_int_eq(ep_dist_write_tick(&want), 0);
    ck_assert_int_eq(ep_dist_write_tick(&out), 0);
    ck_assert_int_eq(ep_dist_write_gather(&out, &g, flagsets[f], ep_atom("x"), ep_none()), 0); /* covers the tick */
    ck_assert_int_eq(ep_dist_write_flags(&want, flagsets[f], ep_atom("x"), ep_none()), 0);
    ext = g.ext_bytes;
    ck_assert_uint_eq(ext, 5 * 5000 + 2 * (69999 + 50000 + 19999)); /* payloads go twice */
    ck_assert_uint_le(g.n, 32);
    flatten(&out, &g, &flat);
    ck_assert_uint_eq(flat.len, want.len);
    ck_assert_mem_eq(flat.data, want.data, want.len);
    /* the copying reader reads the gathered stream back */
    ep_dist_reader *r;
    ck_assert_int_eq(ep_dist_reader_new(NULL, flagsets[f], NULL, &r), 0);
    size_t pos = 0, msgs = 0;
    while (pos < flat.len) {
      ep_dist_msg m;
      size_t used, need;
      ck_assert_int_eq(ep_dist_read(r, A, flat.data + pos, flat.len - pos, &used, &need, &m), 0);
      pos += used;
      msgs += m.kind == EP_DIST_MESSAGE;
    }
    ck_assert_uint_eq(msgs, 2 * 5 + 1);
    ep_dist_reader_free(r);
    ep_buf_free(&want);
    ep_buf_free(&out);
    ep_buf_free(&flat);
  }
}
END_TEST

/* A frame with many large binaries and few segments: the header, the
 * referenced binaries that fit and the copied rest still make the frame. */
START_TEST(frames_with_few_segments) {
  ep_term items[9];
  for (int i = 0; i < 9; i++) items[i] = bin_at((size_t)i * 10, 5000 + (size_t)i);
  ep_term pl = EP_TUPLE(A, ep_list(A, 9, items), ep_tuple(A, 9, items));
  ep_term ctl = EP_TUPLE(A, ep_int(2), ep_atom(""), ep_pid(A, "n@h", 1, 2, 3));
  uint64_t flagsets[] = {0, EP_DFLAG_FRAGMENTS};
  for (size_t f = 0; f < 2; f++)
    for (size_t cap = 1; cap <= 40; cap++) {
      ep_buf want = EP_BUF_INIT, out = EP_BUF_INIT;
      ep_seg segs[40];
      ep_gather g;
      ep_gather_init(&g, segs, cap, 4096, &out);
      ck_assert_int_eq(ep_dist_write_flags(&want, flagsets[f], ctl, pl), 0);
      ck_assert_int_eq(ep_dist_write_gather(&out, &g, flagsets[f], ctl, pl), 0);
      ck_assert_uint_le(g.n, cap);
      size_t refs = cap >= 3 ? (cap - 1) / 2 : 0;
      ck_assert_int_eq(g.ext_bytes > 0, refs > 0);
      check_flat(&out, &g, &want);
      ep_buf_free(&want);
      ep_buf_free(&out);
    }
}
END_TEST

static void assert_gather_eq(const ep_gather *a, const ep_seg *asegs, const ep_gather *b) {
  ck_assert_uint_eq(a->n, b->n);
  ck_assert_uint_eq(a->mark, b->mark);
  ck_assert_uint_eq(a->ext_bytes, b->ext_bytes);
  for (size_t i = 0; i < a->n; i++) {
    ck_assert_ptr_eq(asegs[i].ext, b->segs[i].ext);
    ck_assert_uint_eq(asegs[i].off, b->segs[i].off);
    ck_assert_uint_eq(asegs[i].len, b->segs[i].len);
  }
}

/* A term that cannot be encoded, after a large binary was referenced and
 * the last segment was extended: out and g are as before the call. */
START_TEST(errors_roll_back) {
  ep_buf out = EP_BUF_INIT;
  ep_seg segs[16];
  ep_gather g;
  ep_gather_init(&g, segs, 16, 100, &out);
  ck_assert_int_eq(ep_encode_gather(&out, &g, EP_TUPLE(A, ep_int(1), bin_at(0, 200))), 0);
  ck_assert_int_eq(ep_buf_append(&out, "x", 1), 0);
  ck_assert_int_eq(ep_encode_gather(&out, &g, ep_int(7)), 0); /* last segment is the buffer now */
  ep_gather saved = g;
  ep_seg ssegs[16];
  memcpy(ssegs, segs, sizeof segs);
  size_t len = out.len;
  ep_term bad = EP_TUPLE(A, ep_int(1), bin_at(0, 300), ep_float(0.0));
  bad.v.items[2].v.f = INFINITY; /* not encodable, after the reference */
  ck_assert_int_eq(ep_encode_gather(&out, &g, bad), EP_EINVAL);
  ck_assert_uint_eq(out.len, len);
  assert_gather_eq(&saved, ssegs, &g);
  ck_assert_int_eq(ep_dist_write_gather(&out, &g, EP_DFLAG_FRAGMENTS, ep_atom("c"), bad), EP_EINVAL);
  ck_assert_uint_eq(out.len, len);
  assert_gather_eq(&saved, ssegs, &g);
  ck_assert_int_eq(ep_dist_write_gather(&out, &g, 0, ep_none(), bin_at(0, 300)), EP_EINVAL);
  ck_assert_uint_eq(out.len, len);
  assert_gather_eq(&saved, ssegs, &g);
  /* and it goes on from there */
  ck_assert_int_eq(ep_encode_gather(&out, &g, bin_at(0, 300)), 0);
  ck_assert_uint_eq(g.ext_bytes, 500);
  ep_buf_free(&out);
}
END_TEST

/* Allocation failure at the i-th allocation (the buffer growing, the
 * encoder's stack for a deep term): EP_ENOMEM with nothing changed, or
 * the right bytes. */
START_TEST(allocation_failures) {
  ep_failmem fm;
  ep_failmem_init(&fm);
  ep_term deep = bin_at(0, 5000);
  for (int i = 0; i < 100; i++) deep = EP_LIST(A, deep, ep_atom("pad_pad_pad_pad"), bin_at(1, 10));
  ep_buf want = EP_BUF_INIT;
  ck_assert_int_eq(ep_dist_write_flags(&want, EP_DFLAG_FRAGMENTS, ep_atom("c"), deep), 0);
  int ok = 0;
  for (long i = 1; i < 40; i++) {
    ep_failmem_fail_once(&fm, i);
    ep_buf out;
    ep_buf_init(&out, &fm.mem);
    ep_seg segs[8];
    ep_gather g;
    ep_gather_init(&g, segs, 8, 1000, &out);
    int r = ep_dist_write_gather(&out, &g, EP_DFLAG_FRAGMENTS, ep_atom("c"), deep);
    ck_assert(r == 0 || r == EP_ENOMEM);
    if (r == 0) {
      check_flat(&out, &g, &want);
      ok++;
    } else {
      ck_assert_uint_eq(out.len, 0);
      ck_assert_uint_eq(g.n, 0);
      ck_assert_uint_eq(g.ext_bytes, 0);
    }
    ep_buf_free(&out);
  }
  ck_assert_int_gt(ok, 0);
  ep_buf_free(&want);
}
END_TEST

/* Random terms of every shape with random thresholds and caps: always the
 * bytes of ep_encode. */
static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static ep_term random_term(int depth) {
  unsigned k = (unsigned)(rnd() % (depth > 3 ? 6 : 10));
  size_t n = (size_t)(rnd() % 6);
  switch (k) {
    case 0:
      return ep_int((int64_t)(rnd() % 100000) - 50000);
    case 1:
      return ep_atom("atom");
    case 2: {
      size_t len = (size_t)(rnd() % 3 == 0 ? rnd() % 3000 : rnd() % 40);
      return bin_at((size_t)(rnd() % 60000), len);
    }
    case 3: {
      size_t len = 1 + (size_t)(rnd() % 2500);
      return bits_at((size_t)(rnd() % 60000), len, 1 + (unsigned)(rnd() % 8));
    }
    case 4:
      return ep_string(A, "abc");
    case 5:
      return ep_nil();
    case 6: {
      ep_term *it;
      ep_term t = ep_tuple_new(A, n, &it);
      for (size_t i = 0; i < n; i++) it[i] = random_term(depth + 1);
      return t;
    }
    case 7: {
      ep_term e[6];
      if (rnd() % 2 == 0) {
        for (size_t i = 0; i < n; i++) e[i] = random_term(depth + 1);
        return ep_list(A, n, e);
      }
      n = n ? n : 1;
      for (size_t i = 0; i < n; i++) e[i] = random_term(depth + 1);
      return ep_list_improper(A, n, e, random_term(depth + 1));
    }
    case 8: {
      ep_term kv[12];
      for (size_t i = 0; i < 2 * n; i++) kv[i] = i % 2 ? random_term(depth + 1) : ep_int((int64_t)i);
      return ep_map(A, n, kv);
    }
    default:
      return EP_LIST(A, ep_int(1), ep_int(2), ep_int(300)); /* not a byte list */
  }
}

START_TEST(random_terms) {
  for (int it = 0; it < 3000; it++) {
    ep_term t = random_term(0);
    size_t min = (size_t)(rnd() % 3000);
    size_t cap = 1 + (size_t)(rnd() % 20);
    check_term(t, min, cap);
    if (it % 100 == 0) ep_arena_reset(A);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("gather");
  TCase *tc = tcase_create("gather");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, binaries_around_the_threshold);
  tcase_add_test(tc, bit_binaries);
  tcase_add_test(tc, nested_and_several);
  tcase_add_test(tc, fun_free_variables);
  tcase_add_test(tc, segment_limit_falls_back_to_copying);
  tcase_add_test(tc, several_calls_into_one_gather);
  tcase_add_test(tc, frames_match_the_copying_writer);
  tcase_add_test(tc, frames_with_few_segments);
  tcase_add_test(tc, errors_roll_back);
  tcase_add_test(tc, allocation_failures);
  tcase_add_test(tc, random_terms);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
