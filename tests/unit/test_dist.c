/* Distribution frames: ticks, pass-through and dist-header frames, every
 * prefix "need more" with the right *need, fragments (in order, interleaved,
 * out of order, over the limits), and the writers. The atom cache: writer
 * to reader round trips (new entries then old refs, node names, long
 * atoms, 255 refs, slot collisions, terms past the walk, random terms),
 * gathered writes, allocation failures both ways, malformed headers, and
 * fragmented messages keeping their own refs. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_dflags.h"
#include "ep_dist.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_failmem.h"

static ep_arena *A;
static ep_term P1, P2;

static void setup(void) {
  A = ep_arena_new(NULL);
  P1 = ep_pid(A, "a@h", 1, 2, 3);
  P2 = ep_pid(A, "b@h", 4, 5, 6);
}
static void teardown(void) { ep_arena_free(A); }

static ep_dist_reader *reader(uint64_t flags) {
  ep_dist_reader *r;
  ck_assert_int_eq(ep_dist_reader_new(NULL, flags, NULL, &r), 0);
  return r;
}

START_TEST(tick_in_and_out) {
  ep_buf b = EP_BUF_INIT;
  ck_assert_int_eq(ep_dist_write_tick(&b), 0);
  ck_assert_uint_eq(b.len, 4);
  ck_assert_mem_eq(b.data, "\0\0\0\0", 4);
  ep_dist_reader *r = reader(EP_DFLAGS_OURS);
  ep_dist_msg m;
  size_t used, need = 0;
  for (size_t k = 0; k < 4; k++) {
    ck_assert_int_eq(ep_dist_read(r, A, b.data, k, &used, &need, &m), EP_EINCOMPLETE);
    ck_assert_uint_eq(used, 0);
    ck_assert_uint_eq(need, 4);
  }
  ck_assert_int_eq(ep_dist_read(r, A, b.data, 4, &used, &need, &m), 0);
  ck_assert_uint_eq(used, 4);
  ck_assert_int_eq(m.kind, EP_DIST_TICK);
  ep_dist_reader_free(r);
  ep_buf_free(&b);
}
END_TEST

/* Writes a frame, then reads it back from every prefix (need more, with
 * the exact total) and from the whole (one message, all consumed). */
static void check_roundtrip(uint64_t flags, ep_term ctl, ep_term pl) {
  ep_buf b = EP_BUF_INIT;
  ck_assert_int_eq(ep_dist_write_flags(&b, flags, ctl, pl), 0);
  ck_assert_uint_eq(ep_get32(b.data), b.len - 4);
  if (flags & EP_DFLAG_FRAGMENTS)
    ck_assert_mem_eq(b.data + 4, "\x83\x44\x00", 3);
  else
    ck_assert_int_eq(b.data[4], 112);
  ep_dist_reader *r = reader(flags);
  ep_dist_msg m;
  size_t used, need;
  /* input placed at the end of an exact-size heap block: ASan catches any
   * read past what we said is there */
  for (size_t k = 0; k < b.len; k++) {
    uint8_t *copy = malloc(k ? k : 1);
    memcpy(copy, b.data, k);
    need = 0;
    ck_assert_int_eq(ep_dist_read(r, A, copy, k, &used, &need, &m), EP_EINCOMPLETE);
    ck_assert_uint_eq(used, 0);
    ck_assert_uint_eq(need, k < 4 ? 4 : b.len);
    free(copy);
  }
  ck_assert_int_eq(ep_dist_read(r, A, b.data, b.len, &used, &need, &m), 0);
  ck_assert_uint_eq(used, b.len);
  ck_assert_int_eq(m.kind, EP_DIST_MESSAGE);
  ck_assert(ep_term_eq(m.control, ctl));
  if (ep_is_none(pl))
    ck_assert(ep_is_none(m.payload));
  else
    ck_assert(ep_term_eq(m.payload, pl));
  ep_dist_reader_free(r);
  ep_buf_free(&b);
}

START_TEST(pass_through_with_and_without_payload) {
  check_roundtrip(EP_DFLAGS_OURS, EP_TUPLE(A, ep_int(1), P1, P2), ep_none());
  check_roundtrip(EP_DFLAGS_OURS, EP_TUPLE(A, ep_int(22), P1, P2),
                  EP_TUPLE(A, ep_atom("hello"), ep_binary_str(A, "world"), EP_LIST(A, ep_int(1), ep_int(1000000))));
}
END_TEST

START_TEST(dist_header_with_and_without_payload) {
  check_roundtrip(EP_DFLAGS_OURS_FRAGMENTS, EP_TUPLE(A, ep_int(1), P1, P2), ep_none());
  check_roundtrip(EP_DFLAGS_OURS_FRAGMENTS, EP_TUPLE(A, ep_int(2), ep_atom(""), P2), ep_atom("msg"));
}
END_TEST

/* The pass-through byte layout, by hand: 112 131 {1,...} */
START_TEST(pass_through_bytes) {
  ep_buf b = EP_BUF_INIT;
  ck_assert_int_eq(ep_dist_write(&b, EP_TUPLE(A, ep_int(7)), ep_none()), 0);
  static const uint8_t want[] = {0, 0, 0, 6, 112, 131, 104, 1, 97, 7};
  ck_assert_uint_eq(b.len, sizeof want);
  ck_assert_mem_eq(b.data, want, sizeof want);
  /* the same as a dist-header frame: 131 68 0, then the body without 131 */
  b.len = 0;
  ck_assert_int_eq(ep_dist_write_flags(&b, EP_DFLAG_FRAGMENTS, EP_TUPLE(A, ep_int(7)), ep_none()), 0);
  static const uint8_t want2[] = {0, 0, 0, 7, 131, 68, 0, 104, 1, 97, 7};
  ck_assert_uint_eq(b.len, sizeof want2);
  ck_assert_mem_eq(b.data, want2, sizeof want2);
  ep_buf_free(&b);
}
END_TEST

START_TEST(writer_rejects_none_and_rolls_back) {
  ep_buf b = EP_BUF_INIT;
  ep_buf_put8(&b, 0xAA);
  ck_assert_int_eq(ep_dist_write(&b, ep_none(), ep_none()), EP_EINVAL);
  ck_assert_uint_eq(b.len, 1);
  ep_term bad = EP_TUPLE(A, ep_int(1));
  bad.v.items[0] = ep_none(); /* not encodable inside */
  ck_assert_int_ne(ep_dist_write(&b, bad, ep_none()), 0);
  ck_assert_uint_eq(b.len, 1);
  ep_buf_free(&b);
}
END_TEST

static size_t frame(uint8_t *out, const uint8_t *body, size_t n) {
  ep_put32(out, (uint32_t)n);
  memcpy(out + 4, body, n);
  return n + 4;
}

START_TEST(malformed_frames) {
  ep_dist_reader *r = reader(EP_DFLAGS_OURS);
  ep_dist_msg m;
  size_t used, need;
  uint8_t buf[256];
  struct {
    const char *what;
    uint8_t body[32];
    size_t n;
  } bad[] = {
      {"unknown first byte", {7, 131, 97, 1}, 4},
      {"131 without header tag", {131}, 1},
      {"131 unknown header", {131, 99, 0}, 3},
      {"112 and nothing", {112}, 1},
      {"112 bad version", {112, 130, 97, 1}, 4},
      {"112 truncated term", {112, 131, 104, 2, 97}, 5},
      {"112 three terms", {112, 131, 97, 1, 131, 97, 2, 131, 97, 3}, 10},
      {"112 trailing garbage", {112, 131, 97, 1, 131, 97, 2, 0}, 8},
      {"131 68 atom cache refs", {131, 68, 1, 0, 0}, 5},
      {"131 68 no terms", {131, 68, 0}, 3},
      {"131 68 short", {131, 68}, 2},
      {"131 69 without FRAGMENTS", {131, 69, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 97}, 20},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    size_t n = frame(buf, bad[k].body, bad[k].n);
    int rc = ep_dist_read(r, A, buf, n, &used, &need, &m);
    ck_assert_msg(rc != 0 && rc != EP_EINCOMPLETE, "%s: %d", bad[k].what, rc);
    ck_assert_uint_eq(used, 0);
  }
  ep_dist_reader_free(r);
}
END_TEST

START_TEST(frame_over_the_limit) {
  ep_dist_reader *r = reader(EP_DFLAGS_OURS);
  ep_dist_msg m;
  size_t used, need = 0;
  uint8_t big[4] = {0xff, 0xff, 0xff, 0xff};
  ck_assert_int_eq(ep_dist_read(r, A, big, 4, &used, &need, &m), EP_EFRAME);
  ep_dist_reader_set_limits(r, 100, 0, 0);
  uint8_t hdr[4] = {0, 0, 0, 101};
  ck_assert_int_eq(ep_dist_read(r, A, hdr, 4, &used, &need, &m), EP_EFRAME);
  hdr[3] = 100;
  ck_assert_int_eq(ep_dist_read(r, A, hdr, 4, &used, &need, &m), EP_EINCOMPLETE);
  ck_assert_uint_eq(need, 104);
  ep_dist_reader_free(r);
}
END_TEST

/* --- fragments ------------------------------------------------------------------------ */

/* Splits Control [Payload] (bodies, as OTP sends them with FRAGMENTS) into
 * nfrag frames for sequence seq; appends them to out. */
static void fragment(ep_buf *out, uint64_t seq, ep_term ctl, ep_term pl, size_t nfrag) {
  ep_buf body = EP_BUF_INIT;
  ck_assert_int_eq(ep_encode_body(&body, ctl), 0);
  if (!ep_is_none(pl)) ck_assert_int_eq(ep_encode_body(&body, pl), 0);
  size_t chunk = (body.len + nfrag - 1) / nfrag, off = 0;
  for (size_t f = nfrag; f >= 1; f--) {
    size_t n = body.len - off < chunk ? body.len - off : chunk;
    if (f == 1) n = body.len - off;
    bool first = f == nfrag;
    ep_buf_put32(out, (uint32_t)(n + (first ? 19 : 18)));
    ep_buf_put8(out, 131);
    ep_buf_put8(out, first ? 69 : 70);
    ep_buf_put64(out, seq);
    ep_buf_put64(out, f);
    if (first) ep_buf_put8(out, 0);
    ep_buf_append(out, body.data + off, n);
    off += n;
  }
  ep_buf_free(&body);
}

/* Reads every frame of buf; returns the number of messages, checks each. */
static int read_all(ep_dist_reader *r, const ep_buf *b, ep_dist_msg *msgs, int max, int *err) {
  size_t pos = 0;
  int n = 0;
  *err = 0;
  while (pos < b->len) {
    ep_dist_msg m;
    size_t used, need;
    int rc = ep_dist_read(r, A, b->data + pos, b->len - pos, &used, &need, &m);
    if (rc) {
      *err = rc;
      return n;
    }
    pos += used;
    if (m.kind == EP_DIST_MESSAGE && n < max) msgs[n++] = m;
  }
  return n;
}

START_TEST(fragments_in_order) {
  ep_term ctl = EP_TUPLE(A, ep_int(22), P1, P2);
  uint8_t blob[5000];
  for (size_t i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)i;
  ep_term pl = ep_binary(A, blob, sizeof blob);
  for (size_t nf = 1; nf <= 7; nf++) {
    ep_buf b = EP_BUF_INIT;
    fragment(&b, 0xABCDEF0123ULL, ctl, pl, nf);
    ep_dist_reader *r = reader(EP_DFLAGS_OURS_FRAGMENTS);
    ep_dist_msg msgs[4];
    int err;
    ck_assert_int_eq(read_all(r, &b, msgs, 4, &err), 1);
    ck_assert_int_eq(err, 0);
    ck_assert(ep_term_eq(msgs[0].control, ctl));
    ck_assert(ep_term_eq(msgs[0].payload, pl));
    ck_assert_uint_eq(ep_dist_reader_pending(r), 0);
    ep_dist_reader_free(r);
    ep_buf_free(&b);
  }
}
END_TEST

START_TEST(fragments_interleaved) {
  ep_term c1 = EP_TUPLE(A, ep_int(22), P1, P2), c2 = EP_TUPLE(A, ep_int(22), P2, P1);
  ep_term p1 = ep_string(A, "the first message, long enough to cut in pieces");
  ep_term p2 = ep_string(A, "and the second one, also cut in several pieces");
  ep_buf f1 = EP_BUF_INIT, f2 = EP_BUF_INIT, mixed = EP_BUF_INIT;
  fragment(&f1, 1, c1, p1, 4);
  fragment(&f2, 2, c2, p2, 3);
  /* interleave frame by frame: 1,2,1,2,1,2,1 */
  size_t o1 = 0, o2 = 0;
  while (o1 < f1.len || o2 < f2.len) {
    if (o1 < f1.len) {
      size_t n = 4 + ep_get32(f1.data + o1);
      ep_buf_append(&mixed, f1.data + o1, n);
      o1 += n;
    }
    if (o2 < f2.len) {
      size_t n = 4 + ep_get32(f2.data + o2);
      ep_buf_append(&mixed, f2.data + o2, n);
      o2 += n;
    }
  }
  /* and a whole message and a tick in the middle of it all */
  ep_dist_reader *r = reader(EP_DFLAGS_OURS_FRAGMENTS);
  ep_dist_msg msgs[4];
  int err;
  ck_assert_int_eq(read_all(r, &mixed, msgs, 4, &err), 2);
  ck_assert_int_eq(err, 0);
  /* sequence 2 has fewer fragments: it completes first */
  ck_assert(ep_term_eq(msgs[0].control, c2));
  ck_assert(ep_term_eq(msgs[0].payload, p2));
  ck_assert(ep_term_eq(msgs[1].control, c1));
  ck_assert(ep_term_eq(msgs[1].payload, p1));
  ep_dist_reader_free(r);
  ep_buf_free(&f1);
  ep_buf_free(&f2);
  ep_buf_free(&mixed);
}
END_TEST

/* Frame i of a fragmented message in buf (0-based). */
static const uint8_t *nth_frame(const ep_buf *b, int i, size_t *n) {
  size_t off = 0;
  for (int k = 0; k < i; k++) off += 4 + ep_get32(b->data + off);
  *n = 4 + ep_get32(b->data + off);
  return b->data + off;
}

START_TEST(fragments_out_of_order_and_unknown) {
  ep_term ctl = EP_TUPLE(A, ep_int(22), P1, P2), pl = ep_string(A, "0123456789abcdefghij");
  ep_buf b = EP_BUF_INIT;
  fragment(&b, 9, ctl, pl, 3);
  ep_dist_msg m;
  size_t used, need, n;
  const uint8_t *f;
  /* continuation of a sequence never opened */
  ep_dist_reader *r = reader(EP_DFLAGS_OURS_FRAGMENTS);
  f = nth_frame(&b, 1, &n);
  ck_assert_int_eq(ep_dist_read(r, A, f, n, &used, &need, &m), EP_EFRAGMENT);
  ep_dist_reader_free(r);
  /* skipping a fragment */
  r = reader(EP_DFLAGS_OURS_FRAGMENTS);
  f = nth_frame(&b, 0, &n);
  ck_assert_int_eq(ep_dist_read(r, A, f, n, &used, &need, &m), 0);
  ck_assert_int_eq(m.kind, EP_DIST_NONE);
  ck_assert_uint_eq(used, n);
  ck_assert_uint_eq(ep_dist_reader_pending(r), 1);
  f = nth_frame(&b, 2, &n);
  ck_assert_int_eq(ep_dist_read(r, A, f, n, &used, &need, &m), EP_EFRAGMENT);
  /* the same sequence opened twice */
  f = nth_frame(&b, 0, &n);
  ck_assert_int_eq(ep_dist_read(r, A, f, n, &used, &need, &m), EP_EFRAGMENT);
  ep_dist_reader_free(r); /* frees the half-received message */
  /* fragment id 0 */
  uint8_t z[32] = {0, 0, 0, 20, 131, 69, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 97};
  r = reader(EP_DFLAGS_OURS_FRAGMENTS);
  ck_assert_int_eq(ep_dist_read(r, A, z, 24, &used, &need, &m), EP_EFRAGMENT);
  ep_dist_reader_free(r);
  ep_buf_free(&b);
}
END_TEST

START_TEST(fragment_limits) {
  ep_term ctl = EP_TUPLE(A, ep_int(22), P1, P2);
  uint8_t blob[1000] = {0};
  ep_term pl = ep_binary(A, blob, sizeof blob);
  ep_dist_msg m;
  size_t used, need, n;
  /* too many open sequences */
  ep_dist_reader *r = reader(EP_DFLAGS_OURS_FRAGMENTS);
  ep_dist_reader_set_limits(r, 0, 0, 3);
  for (uint64_t s = 1; s <= 4; s++) {
    ep_buf b = EP_BUF_INIT;
    fragment(&b, s, ctl, pl, 2);
    const uint8_t *f = nth_frame(&b, 0, &n);
    ck_assert_int_eq(ep_dist_read(r, A, f, n, &used, &need, &m), s <= 3 ? 0 : EP_EFRAGMENT);
    ep_buf_free(&b);
  }
  ep_dist_reader_free(r);
  /* too many bytes held, across sequences */
  r = reader(EP_DFLAGS_OURS_FRAGMENTS);
  ep_dist_reader_set_limits(r, 0, 800, 0);
  ep_buf b1 = EP_BUF_INIT, b2 = EP_BUF_INIT;
  fragment(&b1, 1, ctl, pl, 2);
  fragment(&b2, 2, ctl, pl, 2);
  const uint8_t *f = nth_frame(&b1, 0, &n);
  ck_assert_int_eq(ep_dist_read(r, A, f, n, &used, &need, &m), 0);
  f = nth_frame(&b2, 0, &n);
  ck_assert_int_eq(ep_dist_read(r, A, f, n, &used, &need, &m), EP_EFRAGMENT);
  ep_dist_reader_free(r);
  /* one sequence growing past the limit */
  r = reader(EP_DFLAGS_OURS_FRAGMENTS);
  ep_dist_reader_set_limits(r, 0, 600, 0);
  f = nth_frame(&b1, 0, &n);
  ck_assert_int_eq(ep_dist_read(r, A, f, n, &used, &need, &m), 0);
  f = nth_frame(&b1, 1, &n);
  ck_assert_int_eq(ep_dist_read(r, A, f, n, &used, &need, &m), EP_EFRAGMENT);
  ep_dist_reader_free(r);
  ep_buf_free(&b1);
  ep_buf_free(&b2);
}
END_TEST

/* A complete reassembled message whose terms are broken is a decode error,
 * not a hang. */
START_TEST(fragments_with_garbage_inside) {
  uint8_t fr[64];
  ep_dist_msg m;
  size_t used, need;
  ep_dist_reader *r = reader(EP_DFLAGS_OURS_FRAGMENTS);
  uint8_t h[] = {131, 69, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 104, 9};
  size_t n = frame(fr, h, sizeof h);
  ck_assert_int_eq(ep_dist_read(r, A, fr, n, &used, &need, &m), 0);
  uint8_t c[] = {131, 70, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 97};
  n = frame(fr, c, sizeof c);
  int rc = ep_dist_read(r, A, fr, n, &used, &need, &m);
  ck_assert(rc != 0 && rc != EP_EINCOMPLETE);
  ck_assert_uint_eq(ep_dist_reader_pending(r), 0);
  ep_dist_reader_free(r);
}
END_TEST

/* ep_dist_write_ctrl: the whole path from a typed message to bytes and back. */
START_TEST(write_ctrl_roundtrip) {
  uint64_t sets[2] = {EP_DFLAGS_OURS, EP_DFLAGS_OURS_FRAGMENTS};
  for (int k = 0; k < 2; k++) {
    ep_ctrl c;
    memset(&c, 0, sizeof c);
    c.op = EP_CTRL_REG_SEND;
    c.from = P1;
    c.to = ep_atom("rex");
    c.msg = EP_TUPLE(A, P1, EP_TUPLE(A, ep_atom("call"), ep_atom("erlang"), ep_atom("node"), ep_nil(), ep_atom("user")));
    ep_buf b = EP_BUF_INIT;
    ck_assert_int_eq(ep_dist_write_ctrl(&b, &c, sets[k]), 0);
    ep_dist_reader *r = reader(sets[k]);
    ep_dist_msg m;
    size_t used, need;
    ck_assert_int_eq(ep_dist_read(r, A, b.data, b.len, &used, &need, &m), 0);
    ep_ctrl back;
    ck_assert_int_eq(ep_ctrl_parse(m.control, m.payload, &back), 0);
    ck_assert_int_eq(back.op, EP_CTRL_REG_SEND);
    ck_assert(ep_term_eq(back.msg, c.msg));
    ck_assert(ep_atom_eq(back.to, "rex"));
    ep_dist_reader_free(r);
    ep_buf_free(&b);
  }
}
END_TEST

/* Bytes from a random generator never crash the reader or the parser. */
START_TEST(random_bytes_never_crash) {
  ep_dist_reader *r = reader(EP_DFLAGS_OURS_FRAGMENTS);
  ep_dist_reader_set_limits(r, 1 << 16, 1 << 16, 8);
  unsigned s = 7;
  uint8_t buf[300];
  for (int it = 0; it < 20000; it++) {
    size_t n = 4 + it % 60;
    for (size_t k = 0; k < n; k++) {
      s = s * 1103515245u + 12345u;
      buf[k] = (uint8_t)(s >> 16);
    }
    ep_put32(buf, (uint32_t)(n - 4));
    /* bias towards real headers */
    if (it % 3 == 0) buf[4] = 112, buf[5] = 131;
    if (it % 3 == 1) buf[4] = 131, buf[5] = (uint8_t)(68 + it % 3);
    ep_dist_msg m;
    size_t used, need;
    if (ep_dist_read(r, A, buf, n, &used, &need, &m) == 0 && m.kind == EP_DIST_MESSAGE) {
      ep_ctrl c;
      (void)ep_ctrl_parse(m.control, m.payload, &c);
    }
    if (it % 1000 == 0) ep_arena_reset(A);
  }
  ep_dist_reader_free(r);
}
END_TEST

/* Allocation failure at the i-th allocation: reader, fragments, writer.
 * Never a crash or a leak (ASan), always EP_ENOMEM or success. */
START_TEST(allocation_failures) {
  ep_failmem fm;
  ep_failmem_init(&fm);
  ep_term ctl = EP_TUPLE(A, ep_int(22), P1, P2);
  uint8_t blob[9000] = {1};
  ep_term pl = ep_binary(A, blob, sizeof blob);
  ep_buf frags = EP_BUF_INIT;
  fragment(&frags, 3, ctl, pl, 5);
  int ok_runs = 0;
  for (long i = 1; i < 60; i++) {
    ep_failmem_fail_once(&fm, i);
    ep_dist_reader *r;
    if (ep_dist_reader_new(&fm.mem, EP_DFLAGS_OURS_FRAGMENTS, NULL, &r) != 0) continue;
    ep_arena *a = ep_arena_new(&fm.mem);
    if (!a) {
      ep_dist_reader_free(r);
      continue;
    }
    size_t pos = 0;
    int rc = 0, got = 0;
    while (pos < frags.len) {
      ep_dist_msg m;
      size_t used, need;
      rc = ep_dist_read(r, a, frags.data + pos, frags.len - pos, &used, &need, &m);
      if (rc) break;
      pos += used;
      got += m.kind == EP_DIST_MESSAGE;
    }
    ck_assert(rc == 0 || rc == EP_ENOMEM);
    if (rc == 0) {
      ck_assert_int_eq(got, 1);
      ok_runs++;
    }
    ep_arena_free(a);
    ep_dist_reader_free(r);
    /* the writer, with its scratch arena, fails at the same step */
    ep_failmem_fail_once(&fm, i);
    ep_buf out;
    ep_buf_init(&out, &fm.mem);
    ep_ctrl c;
    memset(&c, 0, sizeof c);
    c.op = EP_CTRL_SEND, c.from = P1, c.to = P2, c.msg = pl;
    rc = ep_dist_write_ctrl(&out, &c, EP_DFLAGS_OURS);
    ck_assert(rc == 0 || rc == EP_ENOMEM);
    ep_buf_free(&out);
  }
  ck_assert_int_gt(ok_runs, 0);
  ep_buf_free(&frags);
}
END_TEST

/* --- the atom cache (DIST_HDR_ATOM_CACHE) ------------------------------------------------ */

/* The writer's slot of an atom: FNV-1a % 2048, as ep_dist.c's ac_slot. A
 * test that relies on it says so; one that goes wrong when the writer
 * changes its hash fails on its precondition, not silently. */
static size_t ac_slot(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h % 2048;
}

/* Where a frame (Length:32 131 68 NumRefs ...) puts its control message:
 * the size of 131 68 NumRefs Flags Refs, read by a parser of our own. */
static size_t ac_hdr_len(const uint8_t *f) {
  ck_assert_mem_eq(f + 4, "\x83\x44", 2);
  size_t nr = f[6], p = 7;
  if (nr == 0) return 3;
  const uint8_t *fl = f + 7;
  bool longa = (fl[nr / 2] >> ((nr & 1) * 4)) & 1;
  p += nr / 2 + 1;
  for (size_t i = 0; i < nr; i++) {
    unsigned h = (fl[i / 2] >> ((i & 1) * 4)) & 0xF;
    p++;
    if (h & 8) {
      size_t len = longa ? ep_get16(f + p) : f[p];
      p += (longa ? 2 : 1) + len;
    }
  }
  return p - 4;
}

/* NewEntry bit of ref i of frame f. */
static bool ac_new(const uint8_t *f, size_t i) { return (f[7 + i / 2] >> ((i & 1) * 4)) & 8; }
static size_t ac_new_count(const uint8_t *f) {
  size_t k = 0;
  for (size_t i = 0; i < f[6]; i++) k += ac_new(f, i);
  return k;
}

static bool has_bytes(const uint8_t *h, size_t hn, const char *s) {
  size_t n = strlen(s);
  for (size_t i = 0; i + n <= hn; i++)
    if (memcmp(h + i, s, n) == 0) return true;
  return false;
}

/* Writes ctl/pl with w (node flags) into a fresh buffer *b (freed first). */
static void cwrite(ep_dist_writer *w, ep_buf *b, ep_term ctl, ep_term pl) {
  b->len = 0;
  ck_assert_int_eq(ep_dist_write_cached(w, b, NULL, EP_DFLAGS_NODE, ctl, pl), 0);
  ck_assert_uint_eq(ep_get32(b->data), b->len - 4);
}

/* Reads exactly one message frame of b and checks it is ctl/pl. */
static void cread(ep_dist_reader *r, const ep_buf *b, ep_term ctl, ep_term pl) {
  ep_dist_msg m;
  size_t used = 0, need = 0;
  ck_assert_int_eq(ep_dist_read(r, A, b->data, b->len, &used, &need, &m), 0);
  ck_assert_uint_eq(used, b->len);
  ck_assert_int_eq(m.kind, EP_DIST_MESSAGE);
  ck_assert(ep_term_eq(m.control, ctl));
  if (ep_is_none(pl))
    ck_assert(ep_is_none(m.payload));
  else
    ck_assert(ep_term_eq(m.payload, pl));
}

static ep_dist_writer *writer(void) {
  ep_dist_writer *w;
  ck_assert_int_eq(ep_dist_writer_new(NULL, &w), 0);
  return w;
}

/* A first frame makes an entry for each atom, a second identical one uses
 * only old refs: same NumRefs, no NewEntry bit, shorter by each atom's
 * Length byte and text; both decode to the originals. */
START_TEST(ac_new_then_old_entries) {
  const char *names[] = {"a@h", "b@h", "hello", "world", "foo", "bar"};
  for (size_t i = 0; i < 6; i++) /* precondition: six different slots */
    for (size_t j = i + 1; j < 6; j++)
      ck_assert_uint_ne(ac_slot(names[i], strlen(names[i])), ac_slot(names[j], strlen(names[j])));
  ep_term ctl = EP_TUPLE(A, ep_int(22), P1, P2);
  ep_term pl = EP_TUPLE(A, ep_atom("hello"), ep_atom("world"), EP_LIST(A, ep_atom("foo"), ep_atom("bar")),
                        ep_atom("hello"));
  ep_dist_writer *w = writer();
  ep_dist_reader *r = reader(EP_DFLAGS_NODE);
  ep_buf b1 = EP_BUF_INIT, b2 = EP_BUF_INIT;
  cwrite(w, &b1, ctl, pl);
  ck_assert_uint_eq(b1.data[6], 6);
  ck_assert_uint_eq(ac_new_count(b1.data), 6);
  /* the half-byte after the last ref: LongAtoms = 0 */
  ck_assert_uint_eq(b1.data[7 + 3] & 0x0F, 0);
  cread(r, &b1, ctl, pl);
  cwrite(w, &b2, ctl, pl);
  ck_assert_uint_eq(b2.data[6], 6);
  ck_assert_uint_eq(ac_new_count(b2.data), 0);
  size_t texts = 0;
  for (size_t i = 0; i < 6; i++) texts += 1 + strlen(names[i]);
  ck_assert_uint_eq(b1.len - b2.len, texts);
  /* no atom text left in the second frame: every atom is a 2-byte ref */
  for (size_t i = 0; i < 6; i++) ck_assert(!has_bytes(b2.data, b2.len, names[i]));
  /* the same slots, in the same order */
  for (size_t i = 0; i < 6; i++) ck_assert(ac_new(b1.data, i));
  cread(r, &b2, ctl, pl);
  ck_assert_uint_eq(ep_dist_writer_refs(w), 12);
  ck_assert_uint_eq(ep_dist_reader_refs(r), 12);
  /* a reader that missed the first frame cannot read the second */
  ep_dist_reader *late = reader(EP_DFLAGS_NODE);
  ep_dist_msg m;
  size_t used, need;
  ck_assert_int_eq(ep_dist_read(late, A, b2.data, b2.len, &used, &need, &m), EP_EFRAME);
  ep_dist_reader_free(late);
  /* without the flag the writer writes the plain frame */
  b1.len = 0;
  ck_assert_int_eq(ep_dist_write_cached(w, &b1, NULL, EP_DFLAGS_OURS_FRAGMENTS, ctl, pl), 0);
  ck_assert_uint_eq(b1.data[6], 0);
  ck_assert(has_bytes(b1.data, b1.len, "hello"));
  cread(r, &b1, ctl, pl);
  ck_assert_int_eq(ep_dist_write_cached(w, &b1, NULL, EP_DFLAGS_NODE, ep_none(), pl), EP_EINVAL);
  ep_buf_free(&b1);
  ep_buf_free(&b2);
  ep_dist_reader_free(r);
  ep_dist_writer_free(w);
}
END_TEST

/* Node names of pids, ports (both encodings), references, and the atoms
 * of an export go as refs; a second frame names none in full. */
START_TEST(ac_node_names) {
  uint32_t ids[3] = {1, 2, 3};
  ep_term ctl = EP_TUPLE(A, ep_int(22), ep_pid(A, "n1@host", 1, 2, 3), ep_pid(A, "n2@host", 4, 5, 6));
  ep_term pl = EP_TUPLE(A, ep_port(A, "n3@host", 5, 1), ep_port(A, "n4@host", 1ULL << 40, 2),
                        ep_ref(A, "n5@host", 7, 3, ids),
                        ep_export_fun(A, ep_atom("lists"), ep_atom("reverse"), 1),
                        EP_LIST(A, ep_atom("lists"), ep_atom("reverse")));
  const char *n7[] = {"n1@host", "n2@host", "n3@host", "n4@host", "n5@host", "lists", "reverse"};
  for (size_t i = 0; i < 7; i++) /* precondition: seven different slots */
    for (size_t j = i + 1; j < 7; j++)
      ck_assert_uint_ne(ac_slot(n7[i], strlen(n7[i])), ac_slot(n7[j], strlen(n7[j])));
  ep_dist_writer *w = writer();
  ep_dist_reader *r = reader(EP_DFLAGS_NODE);
  ep_buf b = EP_BUF_INIT;
  for (int round = 0; round < 3; round++) {
    cwrite(w, &b, ctl, pl);
    ck_assert_uint_eq(b.data[6], 7);
    ck_assert_uint_eq(ac_new_count(b.data), round == 0 ? 7 : 0);
    if (round)
      for (size_t i = 0; i < 7; i++) ck_assert_msg(!has_bytes(b.data, b.len, n7[i]), "%s", n7[i]);
    cread(r, &b, ctl, pl);
  }
  /* an export whose atoms the walk did not list: written in full */
  ep_term pl2 = ep_export_fun(A, ep_atom("erlang"), ep_atom("node"), 0);
  cwrite(w, &b, ctl, pl2);
  ck_assert_uint_eq(b.data[6], 2);
  ck_assert(has_bytes(b.data, b.len, "erlang"));
  cread(r, &b, ctl, pl2);
  ep_buf_free(&b);
  ep_dist_reader_free(r);
  ep_dist_writer_free(w);
}
END_TEST

/* An atom of more than 255 bytes (fewer than 256 characters) is written in
 * full every time; one of exactly 255 bytes is cached. */
START_TEST(ac_long_atoms) {
  char big[301], edge[256];
  for (int i = 0; i < 100; i++) memcpy(big + 3 * i, "\xe2\x82\xac", 3); /* 100 euro signs */
  big[300] = 0;
  memset(edge, 'e', 255);
  edge[255] = 0;
  ep_term ctl = EP_TUPLE(A, ep_atom(big), ep_atom(edge), ep_atom("short"));
  ep_dist_writer *w = writer();
  ep_dist_reader *r = reader(EP_DFLAGS_NODE);
  ep_buf b1 = EP_BUF_INIT, b2 = EP_BUF_INIT;
  cwrite(w, &b1, ctl, ep_atom(big));
  ck_assert_uint_eq(b1.data[6], 2);
  cread(r, &b1, ctl, ep_atom(big));
  cwrite(w, &b2, ctl, ep_atom(big));
  ck_assert_uint_eq(b2.data[6], 2);
  ck_assert_uint_eq(ac_new_count(b2.data), 0);
  ck_assert_uint_eq(b1.len - b2.len, 256 + 6);
  ck_assert(has_bytes(b2.data, b2.len, big));
  cread(r, &b2, ctl, ep_atom(big));
  ep_buf_free(&b1);
  ep_buf_free(&b2);
  ep_dist_reader_free(r);
  ep_dist_writer_free(w);
}
END_TEST

/* n atoms named "<prefix><k>" in distinct slots (none in used[]), texts in
 * the arena. */
static void distinct_atoms(ep_term *out, size_t n, const char *prefix, bool *used) {
  char name[32];
  for (size_t k = 0, i = 0; i < n; k++) {
    int len = snprintf(name, sizeof name, "%s%zu", prefix, k);
    size_t s = ac_slot(name, (size_t)len);
    if (used[s]) continue;
    used[s] = true;
    out[i++] = ep_atom_copy(A, name, (size_t)len);
  }
}

/* At most 255 refs a frame: 255 exactly (the last index, 254, used), and
 * 300 distinct atoms, of which the walk lists what its budget allows and
 * writes the rest in full; everything decodes. */
START_TEST(ac_many_atoms) {
  static bool used[2048];
  memset(used, 0, sizeof used);
  ep_term at[400];
  distinct_atoms(at, 400, "atom_", used);
  ep_dist_writer *w = writer();
  ep_dist_reader *r = reader(EP_DFLAGS_NODE);
  ep_buf b = EP_BUF_INIT;
  /* 254 in the control message and one payload: 255 refs */
  ep_term ctl = ep_tuple(A, 254, at), pl = at[254];
  for (int round = 0; round < 2; round++) {
    cwrite(w, &b, ctl, pl);
    ck_assert_uint_eq(b.data[6], 255);
    ck_assert_uint_eq(ac_new_count(b.data), round == 0 ? 255 : 0);
    ck_assert_uint_eq(b.data[7 + 127] >> 4, 0); /* LongAtoms in the high half of the last byte */
    cread(r, &b, ctl, pl);
  }
  /* 300 atoms in the control message, 100 more in the payload */
  ctl = ep_tuple(A, 300, at);
  pl = ep_list(A, 100, at + 300);
  for (int round = 0; round < 2; round++) {
    cwrite(w, &b, ctl, pl);
    ck_assert_uint_eq(b.data[6], 255);
    /* the first 255 were cached by the frames above */
    ck_assert_uint_eq(ac_new_count(b.data), 0);
    ck_assert(!has_bytes(b.data, b.len, "atom_0"));
    char nm[32];
    snprintf(nm, sizeof nm, "%.*s", (int)at[299].n, at[299].v.str);
    ck_assert(has_bytes(b.data, b.len, nm));
    snprintf(nm, sizeof nm, "%.*s", (int)at[399].n, at[399].v.str);
    ck_assert(has_bytes(b.data, b.len, nm));
    cread(r, &b, ctl, pl);
  }
  ep_buf_free(&b);
  ep_dist_reader_free(r);
  ep_dist_writer_free(w);
}
END_TEST

/* Two atoms with one slot: the first the walk meets is a ref, the other is
 * written in full; the slot changes hands between frames and the reader
 * follows. */
START_TEST(ac_slot_collision) {
  char names[3000][8];
  size_t owner[2048];
  memset(owner, 0xFF, sizeof owner);
  int x = -1, y = -1;
  for (int i = 0; i < 3000 && x < 0; i++) {
    int n = snprintf(names[i], sizeof names[i], "c%d", i);
    size_t s = ac_slot(names[i], (size_t)n);
    if (owner[s] != (size_t)-1) x = (int)owner[s], y = i;
    owner[s] = (size_t)i;
  }
  ck_assert_int_ge(x, 0);
  ep_term ax = ep_atom(names[x]), ay = ep_atom(names[y]);
  ep_dist_writer *w = writer();
  ep_dist_reader *r = reader(EP_DFLAGS_NODE);
  ep_buf b = EP_BUF_INIT;
  struct {
    ep_term ctl;
    int refs, fresh;
    const char *full; /* written in full */
  } steps[] = {
      {EP_TUPLE(A, ax, ay), 1, 1, names[y]},
      {EP_TUPLE(A, ax, ay), 1, 0, names[y]},
      {EP_TUPLE(A, ay, ax), 1, 1, names[x]}, /* y takes the slot */
      {EP_TUPLE(A, ay), 1, 0, NULL},
      {EP_TUPLE(A, ax), 1, 1, NULL}, /* and x takes it back */
      {EP_TUPLE(A, ay, ax, ay, ax), 1, 1, names[x]},
  };
  for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
    cwrite(w, &b, steps[k].ctl, ep_none());
    ck_assert_uint_eq(b.data[6], (unsigned)steps[k].refs);
    ck_assert_uint_eq(ac_new_count(b.data), (unsigned)steps[k].fresh);
    if (steps[k].full) ck_assert(has_bytes(b.data + 4 + ac_hdr_len(b.data), b.len - 4 - ac_hdr_len(b.data), steps[k].full));
    cread(r, &b, steps[k].ctl, ep_none());
  }
  ep_buf_free(&b);
  ep_dist_reader_free(r);
  ep_dist_writer_free(w);
}
END_TEST

/* Atoms deeper than the walk goes, or past its budget, are written in
 * full; everything decodes. */
START_TEST(ac_beyond_the_walk) {
  /* {d0, {d1, {d2, ... {d19}}}} */
  ep_term deep = EP_TUPLE(A, ep_atom("d19"));
  char nm[8];
  for (int i = 18; i >= 0; i--) {
    int n = snprintf(nm, sizeof nm, "d%d", i);
    deep = EP_TUPLE(A, ep_atom_copy(A, nm, (size_t)n), deep);
  }
  /* a list of 2000 atoms of 40 names */
  ep_term many[2000];
  for (int i = 0; i < 2000; i++) {
    int n = snprintf(nm, sizeof nm, "m%d", i % 40);
    many[i] = ep_atom_copy(A, nm, (size_t)n);
  }
  ep_term big = ep_list(A, 2000, many);
  ep_term ctl = EP_TUPLE(A, ep_int(2), ep_atom(""), P1);
  ep_dist_writer *w = writer();
  ep_dist_reader *r = reader(EP_DFLAGS_NODE);
  ep_buf b = EP_BUF_INIT;
  for (int round = 0; round < 2; round++) {
    cwrite(w, &b, ctl, deep);
    ck_assert_uint_gt(b.data[6], 1);
    ck_assert_uint_lt(b.data[6], 20); /* not all twenty */
    ck_assert(has_bytes(b.data + 4 + ac_hdr_len(b.data), b.len - 4 - ac_hdr_len(b.data), "d19"));
    cread(r, &b, ctl, deep);
    cwrite(w, &b, ctl, big);
    cread(r, &b, ctl, big);
    /* a list nested deeper than the walk: no ref for its atoms */
    ep_term nested = EP_TUPLE(A, EP_TUPLE(A, EP_TUPLE(A, EP_TUPLE(A, EP_TUPLE(A, EP_TUPLE(A, EP_TUPLE(A,
                     EP_TUPLE(A, EP_TUPLE(A, big)))))))));
    cwrite(w, &b, ctl, nested);
    cread(r, &b, ctl, nested);
  }
  ep_buf_free(&b);
  ep_dist_reader_free(r);
  ep_dist_writer_free(w);
}
END_TEST

/* Concatenation of g's segments over out (as test_gather's flatten). */
static void flatten_gather(const ep_buf *out, const ep_gather *g, ep_buf *flat) {
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

/* ep_dist_write_cached with a gather: the segments flatten to the bytes
 * of the same writes without one, frame after frame (new entries, then
 * old refs), large binaries by reference. */
START_TEST(ac_gather_same_bytes) {
  static uint8_t blob[5000];
  for (size_t i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)(i * 7);
  ep_term ctl = EP_TUPLE(A, ep_int(22), P1, P2);
  ep_term pls[3] = {
      EP_TUPLE(A, ep_atom("data"), ep_binary(A, blob, sizeof blob), ep_atom("more")),
      EP_TUPLE(A, ep_atom("data"), ep_binary(A, blob, 10), EP_LIST(A, ep_binary(A, blob, 3000), ep_atom("x"))),
      ep_atom("more"),
  };
  ep_dist_writer *w = writer(), *wg = writer();
  ep_buf plain = EP_BUF_INIT, out = EP_BUF_INIT, flat = EP_BUF_INIT;
  ep_seg segs[32];
  ep_gather g;
  ep_gather_init(&g, segs, 32, 1000, &out);
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 3; i++) {
      ck_assert_int_eq(ep_dist_write_cached(w, &plain, NULL, EP_DFLAGS_NODE, ctl, pls[i]), 0);
      ck_assert_int_eq(ep_dist_write_cached(wg, &out, &g, EP_DFLAGS_NODE, ctl, pls[i]), 0);
    }
  ck_assert_uint_eq(g.ext_bytes, 2 * (5000 + 3000));
  ck_assert_uint_eq(out.len + g.ext_bytes, plain.len);
  flatten_gather(&out, &g, &flat);
  ck_assert_uint_eq(flat.len, plain.len);
  ck_assert_mem_eq(flat.data, plain.data, plain.len);
  /* and it reads back */
  ep_dist_reader *r = reader(EP_DFLAGS_NODE);
  ep_dist_msg msgs[8];
  int err;
  ck_assert_int_eq(read_all(r, &flat, msgs, 8, &err), 6);
  ck_assert_int_eq(err, 0);
  for (int i = 0; i < 6; i++) ck_assert(ep_term_eq(msgs[i].payload, pls[i % 3]));
  ep_dist_reader_free(r);
  ep_buf_free(&plain);
  ep_buf_free(&out);
  ep_buf_free(&flat);
  ep_dist_writer_free(w);
  ep_dist_writer_free(wg);
}
END_TEST

/* Random terms whose atoms come from a small pool (with a pair in one
 * slot, a long atom, non-ASCII), all written by one writer and read in
 * order by one reader; the gathered writes flatten to the same bytes. */
static uint64_t ac_rng = 88172645463325252ULL;
static uint64_t ac_rnd(void) {
  ac_rng ^= ac_rng << 13;
  ac_rng ^= ac_rng >> 7;
  ac_rng ^= ac_rng << 17;
  return ac_rng;
}
static const char *POOL[24];
static char POOL_LONG[301];
static char POOL_COLL[2][8];
static void init_pool(void) {
  static const char *fixed[] = {"ok", "error", "true", "false", "undefined", "rex", "call", "gen_server",
                                "erlang", "node", "\xc3\xa9t\xc3\xa9", "\xe2\x82\xac", "a@h", "b@h", "",
                                "x", "y", "z", "nonode@nohost", "io_request"};
  for (int i = 0; i < 20; i++) POOL[i] = fixed[i];
  for (int i = 0; i < 100; i++) memcpy(POOL_LONG + 3 * i, "\xe2\x82\xac", 3);
  POOL_LONG[300] = 0;
  POOL[20] = POOL_LONG;
  size_t owner[2048];
  memset(owner, 0xFF, sizeof owner);
  char nm[3000][8];
  for (int i = 0; i < 3000; i++) {
    int n = snprintf(nm[i], sizeof nm[i], "c%d", i);
    size_t s = ac_slot(nm[i], (size_t)n);
    if (owner[s] != (size_t)-1) {
      strcpy(POOL_COLL[0], nm[owner[s]]);
      strcpy(POOL_COLL[1], nm[i]);
      break;
    }
    owner[s] = (size_t)i;
  }
  ck_assert_int_ne(POOL_COLL[0][0], 0);
  POOL[21] = POOL_COLL[0];
  POOL[22] = POOL_COLL[1];
  POOL[23] = "last";
}
static ep_term pool_atom(void) { return ep_atom(POOL[ac_rnd() % 24]); }
static ep_term ac_random_term(int depth) {
  unsigned k = (unsigned)(ac_rnd() % (depth > 4 ? 7 : 11));
  size_t n = (size_t)(ac_rnd() % 6);
  uint32_t ids[3] = {1, 2, 3};
  switch (k) {
    case 0: return ep_int((int64_t)(ac_rnd() % 1000));
    case 1:
    case 2: return pool_atom();
    case 3: return ep_pid(A, POOL[ac_rnd() % 24], 1, 2, 3);
    case 4: return ep_ref(A, "r@h", 1, 3, ids);
    case 5: return ep_port(A, (ac_rnd() & 1) ? "a@h" : "q@h", ac_rnd() % 2 ? 7 : 1ULL << 33, 1);
    case 6: {
      static const uint8_t bin[600] = {1, 2, 3};
      return ep_binary(A, bin, (size_t)(ac_rnd() % 600));
    }
    case 7:
    case 8: {
      ep_term *it;
      ep_term t = ep_tuple_new(A, n, &it);
      for (size_t i = 0; i < n; i++) it[i] = ac_random_term(depth + 1);
      return t;
    }
    case 9: {
      ep_term e[6];
      for (size_t i = 0; i < n; i++) e[i] = ac_random_term(depth + 1);
      return ep_list(A, n, e);
    }
    default: {
      ep_term kv[4] = {pool_atom(), ac_random_term(depth + 1), ep_int(1), ac_random_term(depth + 1)};
      return ep_map(A, 2, kv);
    }
  }
}

START_TEST(ac_random_terms) {
  init_pool();
  ep_dist_writer *w = writer(), *wg = writer();
  ep_dist_reader *r = reader(EP_DFLAGS_NODE);
  enum { N = 2000 };
  static ep_term ctls[N], pls[N];
  ep_buf all = EP_BUF_INIT, gout = EP_BUF_INIT, flat = EP_BUF_INIT;
  static ep_seg segs[4096];
  ep_gather g;
  ep_gather_init(&g, segs, 4096, 100, &gout);
  for (int i = 0; i < N; i++) {
    ctls[i] = EP_TUPLE(A, ep_int(22), ac_random_term(1), ac_random_term(1));
    pls[i] = ac_rnd() % 4 ? ac_random_term(0) : ep_none();
    size_t before = all.len;
    ck_assert_int_eq(ep_dist_write_cached(w, &all, NULL, EP_DFLAGS_NODE, ctls[i], pls[i]), 0);
    ck_assert_uint_eq(ep_get32(all.data + before), all.len - before - 4);
    if (g.n + 200 < g.cap) /* the gather: the same bytes, until its segments run short */
      ck_assert_int_eq(ep_dist_write_cached(wg, &gout, &g, EP_DFLAGS_NODE, ctls[i], pls[i]), 0);
  }
  flatten_gather(&gout, &g, &flat);
  ck_assert_uint_le(flat.len, all.len);
  ck_assert_uint_gt(flat.len, all.len / 4);
  ck_assert_mem_eq(flat.data, all.data, flat.len);
  size_t pos = 0;
  for (int i = 0; i < N; i++) {
    ep_dist_msg m;
    size_t used, need;
    ck_assert_int_eq(ep_dist_read(r, A, all.data + pos, all.len - pos, &used, &need, &m), 0);
    pos += used;
    ck_assert_int_eq(m.kind, EP_DIST_MESSAGE);
    ck_assert_msg(ep_term_eq(m.control, ctls[i]), "control %d", i);
    if (ep_is_none(pls[i]))
      ck_assert(ep_is_none(m.payload));
    else
      ck_assert_msg(ep_term_eq(m.payload, pls[i]), "payload %d", i);
  }
  ck_assert_uint_eq(pos, all.len);
  ck_assert_uint_eq(ep_dist_reader_refs(r), ep_dist_writer_refs(w));
  ck_assert_uint_gt(ep_dist_writer_refs(w), N);
  ep_buf_free(&all);
  ep_buf_free(&gout);
  ep_buf_free(&flat);
  ep_dist_reader_free(r);
  ep_dist_writer_free(w);
  ep_dist_writer_free(wg);
}
END_TEST

/* Turns a cached 131 68 frame f into a 131 69/70 sequence of nfrag frames
 * (the header's refs in the first), appended to out. */
static void to_frags(ep_buf *out, const uint8_t *f, uint64_t seq, size_t nfrag) {
  size_t hl = ac_hdr_len(f), flen = ep_get32(f);
  const uint8_t *refs = f + 6, *body = f + 4 + hl;
  size_t rn = hl - 2, bn = flen - hl, chunk = (bn + nfrag - 1) / nfrag, off = 0;
  for (size_t k = nfrag; k >= 1; k--) {
    size_t n = k == 1 ? bn - off : (bn - off < chunk ? bn - off : chunk);
    bool first = k == nfrag;
    ep_buf_put32(out, (uint32_t)(18 + n + (first ? rn : 0)));
    ep_buf_put8(out, 131);
    ep_buf_put8(out, first ? 69 : 70);
    ep_buf_put64(out, seq);
    ep_buf_put64(out, k);
    if (first) ep_buf_append(out, refs, rn);
    ep_buf_append(out, body + off, n);
    off += n;
  }
}

/* Allocation failure at every step of ep_dist_write_cached (with and
 * without a gather): EP_ENOMEM leaves out (and g) as they were and the
 * cache too: the next frames, read by a reader that saw only the frames
 * written, decode right. Never a leak. */
START_TEST(ac_writer_allocation_failures) {
  init_pool();
  ep_failmem fm;
  ep_failmem_init(&fm);
  static uint8_t blob[3000];
  ep_term cx = ep_atom(POOL_COLL[0]), cy = ep_atom(POOL_COLL[1]);
  ep_term ctl = EP_TUPLE(A, ep_int(22), P1, P2);
  ep_term pl1 = EP_TUPLE(A, ep_atom("hello"), ep_atom("world"), cx);
  ep_term pl2 = EP_TUPLE(A, ep_atom("new1"), cy, ep_atom("hello"), ep_binary(A, blob, sizeof blob),
                         ep_atom("new2"), ep_pid(A, "n9@h", 1, 2, 3));
  ep_term pl3 = EP_TUPLE(A, cx, ep_atom("new2"), ep_atom("new1"), cy, ep_atom("world"),
                         ep_pid(A, "n9@h", 1, 2, 3));
  for (int gathered = 0; gathered < 2; gathered++) {
    bool reached_end = false;
    for (long i = 1; i < 200 && !reached_end; i++) {
      ep_failmem_fail_once(&fm, 0);
      ep_dist_writer *w;
      ck_assert_int_eq(ep_dist_writer_new(&fm.mem, &w), 0);
      ep_buf out;
      ep_buf_init(&out, &fm.mem);
      ep_seg segs[16];
      ep_gather g;
      ep_gather_init(&g, segs, 16, 1000, &out);
      ep_gather *gp = gathered ? &g : NULL;
      ep_dist_reader *r = reader(EP_DFLAGS_NODE);
      ep_buf frame1 = EP_BUF_INIT, flat = EP_BUF_INIT;
      ck_assert_int_eq(ep_dist_write_cached(w, &out, gp, EP_DFLAGS_NODE, ctl, pl1), 0);
      size_t len0 = out.len;
      ep_gather g0 = g;
      ep_seg last0 = g.n ? segs[g.n - 1] : (ep_seg){0};
      ck_assert_int_eq(ep_buf_append(&frame1, out.data, out.len), 0);
      ep_failmem_fail_once(&fm, i);
      int rc = ep_dist_write_cached(w, &out, gp, EP_DFLAGS_NODE, ctl, pl2);
      reached_end = !ep_failmem_failed(&fm);
      ep_failmem_fail_once(&fm, 0);
      const ep_term *order[4];
      int n = 0;
      order[n++] = &pl1;
      if (rc) {
        ck_assert_int_eq(rc, EP_ENOMEM);
        ck_assert_uint_eq(out.len, len0);
        ck_assert_mem_eq(out.data, frame1.data, len0);
        ck_assert_uint_eq(g.n, g0.n);
        ck_assert_uint_eq(g.ext_bytes, g0.ext_bytes);
        ck_assert_uint_eq(g.mark, g0.mark);
        if (g.n) ck_assert_mem_eq(&segs[g.n - 1], &last0, sizeof last0);
        /* the buffer's own failure is sticky (ep_mem.h): clear it to go on */
        ck_assert(out.err == 0 || out.err == EP_ENOMEM);
        out.err = 0;
      } else {
        order[n++] = &pl2;
      }
      ck_assert_int_eq(ep_dist_write_cached(w, &out, gp, EP_DFLAGS_NODE, ctl, pl3), 0);
      order[n++] = &pl3;
      ck_assert_int_eq(ep_dist_write_cached(w, &out, gp, EP_DFLAGS_NODE, ctl, pl2), 0);
      order[n++] = &pl2;
      const ep_buf *src = &out;
      if (gathered) {
        flatten_gather(&out, &g, &flat);
        src = &flat;
      }
      ep_dist_msg msgs[4];
      int err;
      ck_assert_int_eq(read_all(r, src, msgs, 4, &err), n);
      ck_assert_int_eq(err, 0);
      for (int k = 0; k < n; k++) {
        ck_assert(ep_term_eq(msgs[k].control, ctl));
        ck_assert_msg(ep_term_eq(msgs[k].payload, *order[k]), "fail at %ld, message %d", i, k);
      }
      ep_dist_reader_free(r);
      ep_buf_free(&out);
      ep_buf_free(&frame1);
      ep_buf_free(&flat);
      ep_dist_writer_free(w);
      ck_assert_int_eq(fm.live, 0);
    }
    ck_assert(reached_end);
  }
  /* the writer itself */
  ep_failmem_fail_once(&fm, 1);
  ep_dist_writer *w = (ep_dist_writer *)&fm;
  ck_assert_int_eq(ep_dist_writer_new(&fm.mem, &w), EP_ENOMEM);
  ck_assert_ptr_null(w);
  ep_dist_writer_free(NULL);
  ck_assert_uint_eq(ep_dist_writer_refs(NULL), 0);
  ck_assert_uint_eq(ep_dist_reader_refs(NULL), 0);
}
END_TEST

/* Allocation failure at every step of a reader's life on frames with
 * refs (new entries, old refs, a slot changing atoms, a fragmented message
 * with its own refs, interleaved): EP_ENOMEM or the right messages, never
 * a leak; the same with every allocation from the i-th on failing. */
START_TEST(ac_reader_allocation_failures) {
  init_pool();
  ep_term cx = ep_atom(POOL_COLL[0]), cy = ep_atom(POOL_COLL[1]);
  ep_term ctl = EP_TUPLE(A, ep_int(22), P1, P2);
  ep_term pls[4] = {EP_TUPLE(A, ep_atom("hello"), cx), EP_TUPLE(A, cx, ep_atom("hello")),
                    EP_TUPLE(A, cy, ep_atom("world"), ep_atom("hello")), EP_TUPLE(A, ep_atom("frag"), cx)};
  ep_dist_writer *w = writer();
  ep_buf stream = EP_BUF_INIT, f = EP_BUF_INIT;
  for (int k = 0; k < 3; k++) {
    cwrite(w, &f, ctl, pls[k]);
    ep_buf_append(&stream, f.data, f.len);
  }
  cwrite(w, &f, ctl, pls[3]);
  to_frags(&stream, f.data, 77, 3);
  ep_failmem fm;
  ep_failmem_init(&fm);
  for (int from = 0; from < 2; from++) {
    bool reached_end = false;
    for (long i = 1; i < 200 && !reached_end; i++) {
      if (from)
        ep_failmem_fail_from(&fm, i);
      else
        ep_failmem_fail_once(&fm, i);
      ep_dist_reader *r = NULL;
      ep_arena *a = NULL;
      int rc = ep_dist_reader_new(&fm.mem, EP_DFLAGS_NODE, NULL, &r);
      if (!rc) {
        a = ep_arena_new(&fm.mem);
        if (!a) rc = EP_ENOMEM;
      }
      int got = 0;
      size_t pos = 0;
      while (!rc && pos < stream.len) {
        ep_dist_msg m;
        size_t used, need;
        rc = ep_dist_read(r, a, stream.data + pos, stream.len - pos, &used, &need, &m);
        if (rc) break;
        pos += used;
        if (m.kind == EP_DIST_MESSAGE) {
          ck_assert_int_lt(got, 4);
          ck_assert(ep_term_eq(m.control, ctl));
          ck_assert(ep_term_eq(m.payload, pls[got]));
          got++;
        }
      }
      reached_end = !ep_failmem_failed(&fm);
      ck_assert_msg(rc == 0 || rc == EP_ENOMEM, "fail at %ld: %d", i, rc);
      if (rc == 0) ck_assert_int_eq(got, 4);
      if (reached_end) ck_assert_int_eq(rc, 0);
      ep_arena_free(a);
      ep_dist_reader_free(r);
      ck_assert_int_eq(fm.live, 0);
    }
    ck_assert(reached_end);
  }
  ep_buf_free(&stream);
  ep_buf_free(&f);
  ep_dist_writer_free(w);
}
END_TEST

/* Hand-made headers: what the reader refuses (with which error) and the
 * edge cases it takes. A fresh reader for each. */
START_TEST(ac_malformed_headers) {
  struct {
    const char *what;
    uint8_t body[40];
    size_t n;
    int want;
    const char *atom; /* with want 0: the control message */
  } cases[] = {
      {"slot named twice, both new", {131, 68, 2, 0x88, 0x00, 5, 1, 'a', 5, 1, 'b', 82, 0}, 13, EP_EFRAME, NULL},
      {"slot named twice, new then old", {131, 68, 2, 0x08, 0x00, 5, 1, 'a', 5, 82, 0}, 11, EP_EFRAME, NULL},
      {"slot named twice, old then new", {131, 68, 2, 0x80, 0x00, 5, 5, 1, 'a', 82, 0}, 11, EP_EFRAME, NULL},
      {"same index, other segment", {131, 68, 2, 0x98, 0x00, 5, 1, 'a', 5, 1, 'b', 82, 1}, 13, 0, "b"},
      {"segment 7, index 255", {131, 68, 1, 0x0F, 255, 2, 'h', 'i', 82, 0}, 10, 0, "hi"},
      {"old ref to a slot never filled", {131, 68, 1, 0x00, 7, 82, 0}, 7, EP_EFRAME, NULL},
      {"old ref, segment 3", {131, 68, 1, 0x03, 0, 82, 0}, 7, EP_EFRAME, NULL},
      {"not UTF-8", {131, 68, 1, 0x08, 1, 1, 0xFF, 82, 0}, 9, EP_EUTF8, NULL},
      {"overlong UTF-8", {131, 68, 1, 0x08, 1, 2, 0xC0, 0x80, 82, 0}, 10, EP_EUTF8, NULL},
      {"UTF-8 cut short", {131, 68, 1, 0x08, 1, 2, 0xE2, 0x82, 82, 0}, 10, EP_EUTF8, NULL},
      {"UTF-8 text", {131, 68, 1, 0x08, 1, 3, 0xE2, 0x82, 0xAC, 82, 0}, 11, 0, "\xe2\x82\xac"},
      {"empty atom", {131, 68, 1, 0x08, 1, 0, 82, 0}, 8, 0, ""},
      {"index past NumRefs", {131, 68, 1, 0x08, 1, 1, 'a', 82, 1}, 9, EP_EBADTERM, NULL},
      {"index past NumRefs in the payload", {131, 68, 1, 0x08, 1, 1, 'a', 82, 0, 82, 1}, 11, EP_EBADTERM, NULL},
      {"index past NumRefs in a pid", {131, 68, 1, 0x08, 1, 1, 'a', 88, 82, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
       22, EP_EBADTERM, NULL},
      {"ATOM_CACHE_REF without refs", {131, 68, 0, 82, 0}, 5, EP_EBADTAG, NULL},
      {"ATOM_CACHE_REF cut", {131, 68, 1, 0x08, 1, 1, 'a', 82}, 8, EP_EFRAME, NULL},
      {"LongAtoms, one ref", {131, 68, 1, 0x18, 1, 0, 1, 'a', 82, 0}, 10, 0, "a"},
      {"LongAtoms, two refs", {131, 68, 2, 0x88, 0x01, 1, 0, 1, 'a', 2, 0, 2, 'b', 'c', 82, 1}, 16, 0, "bc"},
      {"LongAtoms unused bits", {131, 68, 1, 0xE8, 1, 1, 'a', 82, 0}, 9, 0, "a"},
      {"no flags byte", {131, 68, 1}, 3, EP_EFRAME, NULL},
      {"no ref byte", {131, 68, 1, 0x08}, 4, EP_EFRAME, NULL},
      {"no length byte", {131, 68, 1, 0x08, 1}, 5, EP_EFRAME, NULL},
      {"text cut", {131, 68, 1, 0x08, 1, 3, 'a', 'b'}, 8, EP_EFRAME, NULL},
      {"long length cut", {131, 68, 1, 0x18, 1, 0}, 6, EP_EFRAME, NULL},
      {"refs and no control", {131, 68, 1, 0x08, 1, 1, 'a'}, 7, EP_EFRAME, NULL},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    ep_dist_reader *r = reader(EP_DFLAGS_NODE);
    uint8_t buf[64];
    size_t n = frame(buf, cases[k].body, cases[k].n);
    ep_dist_msg m;
    size_t used = 0, need;
    int rc = ep_dist_read(r, A, buf, n, &used, &need, &m);
    ck_assert_msg(rc == cases[k].want, "%s: %s", cases[k].what, ep_err_name(rc));
    if (!rc) {
      ck_assert_uint_eq(used, n);
      ck_assert_msg(ep_atom_eq(m.control, cases[k].atom), "%s", cases[k].what);
    }
    ep_dist_reader_free(r);
    /* without the flag negotiated, any refs are malformed */
    if (cases[k].body[2]) {
      r = reader(EP_DFLAGS_OURS_FRAGMENTS);
      ck_assert_int_eq(ep_dist_read(r, A, buf, n, &used, &need, &m), EP_EFRAME);
      ep_dist_reader_free(r);
    }
  }
}
END_TEST

/* Texts with LongAtoms: 255 characters pass (in 255 or in 300 bytes), 256
 * are EP_EATOMLEN; every cut of a header is EP_EFRAME; a 131 69 header
 * with refs needs the flag too. */
START_TEST(ac_long_texts_and_cuts) {
  static uint8_t body[400];
  for (int chars = 255; chars <= 256; chars++) {
    size_t n = 0;
    body[n++] = 131, body[n++] = 68, body[n++] = 1, body[n++] = 0x18, body[n++] = 3;
    ep_put16(body + n, (uint16_t)chars), n += 2;
    memset(body + n, 'a', (size_t)chars), n += (size_t)chars;
    body[n++] = 82, body[n++] = 0;
    ep_buf b = EP_BUF_INIT;
    ep_buf_put32(&b, (uint32_t)n);
    ep_buf_append(&b, body, n);
    ep_dist_reader *r = reader(EP_DFLAGS_NODE);
    ep_dist_msg m;
    size_t used, need;
    int rc = ep_dist_read(r, A, b.data, b.len, &used, &need, &m);
    if (chars == 255) {
      ck_assert_int_eq(rc, 0);
      ck_assert_uint_eq(m.control.n, 255);
    } else {
      ck_assert_int_eq(rc, EP_EATOMLEN);
    }
    ep_dist_reader_free(r);
    ep_buf_free(&b);
  }
  /* 100 characters in 300 bytes, with LongAtoms */
  {
    size_t n = 0;
    body[n++] = 131, body[n++] = 68, body[n++] = 1, body[n++] = 0x18, body[n++] = 3;
    ep_put16(body + n, 300), n += 2;
    for (int i = 0; i < 100; i++) memcpy(body + n, "\xe2\x82\xac", 3), n += 3;
    body[n++] = 82, body[n++] = 0;
    ep_buf b = EP_BUF_INIT;
    ep_buf_put32(&b, (uint32_t)n);
    ep_buf_append(&b, body, n);
    ep_dist_reader *r = reader(EP_DFLAGS_NODE);
    ep_dist_msg m;
    size_t used, need;
    ck_assert_int_eq(ep_dist_read(r, A, b.data, b.len, &used, &need, &m), 0);
    ck_assert_uint_eq(m.control.n, 300);
    ep_dist_reader_free(r);
    ep_buf_free(&b);
  }
  /* every cut of a header (a shorter but complete frame) */
  static const uint8_t good[] = {131, 68, 2, 0x88, 0x01, 1, 0, 2, 'o', 'k', 2, 0, 3, 'a', 'b', 'c',
                                 104, 2, 82, 0, 82, 1};
  for (size_t k = 2; k <= sizeof good; k++) {
    uint8_t buf[64];
    size_t n = frame(buf, good, k);
    ep_dist_reader *r = reader(EP_DFLAGS_NODE);
    ep_dist_msg m;
    size_t used, need;
    int rc = ep_dist_read(r, A, buf, n, &used, &need, &m);
    if (k == sizeof good) {
      ck_assert_int_eq(rc, 0);
      ck_assert(ep_term_eq(m.control, EP_TUPLE(A, ep_atom("ok"), ep_atom("abc"))));
    } else {
      ck_assert_msg(rc == EP_EFRAME, "cut at %zu: %s", k, ep_err_name(rc));
    }
    ep_dist_reader_free(r);
  }
  /* 131 69 with refs: only with the flag */
  ep_dist_writer *w = writer();
  ep_buf f = EP_BUF_INIT, frags = EP_BUF_INIT;
  ep_term pl = EP_TUPLE(A, ep_atom("hello"), ep_atom("world"));
  cwrite(w, &f, EP_TUPLE(A, ep_int(22), P1, P2), pl);
  to_frags(&frags, f.data, 5, 2);
  ep_dist_reader *r = reader(EP_DFLAGS_OURS_FRAGMENTS);
  ep_dist_msg msgs[2];
  int err;
  ck_assert_int_eq(read_all(r, &frags, msgs, 2, &err), 0);
  ck_assert_int_eq(err, EP_EFRAME);
  ep_dist_reader_free(r);
  r = reader(EP_DFLAGS_NODE);
  ck_assert_int_eq(read_all(r, &frags, msgs, 2, &err), 1);
  ck_assert_int_eq(err, 0);
  ck_assert(ep_term_eq(msgs[0].payload, pl));
  ep_dist_reader_free(r);
  ep_buf_free(&f);
  ep_buf_free(&frags);
  ep_dist_writer_free(w);
}
END_TEST

/* A fragmented message keeps the refs of its first fragment: a 131 68
 * frame that puts other atoms in the same slots before the sequence ends
 * changes nothing for it; a single-fragment 131 69 with refs reads too. */
START_TEST(ac_fragments_keep_their_refs) {
  ep_term ctl = EP_TUPLE(A, ep_int(22), P1, P2);
  ep_term pl = EP_TUPLE(A, ep_atom("hello"), ep_atom("world"), ep_string(A, "a long enough tail to cut"),
                        ep_atom("foo"));
  ep_dist_writer *w = writer();
  ep_buf f = EP_BUF_INIT, frags = EP_BUF_INIT, single = EP_BUF_INIT;
  cwrite(w, &f, ctl, pl);
  size_t nr = f.data[6];
  ck_assert_uint_eq(nr, 5);
  to_frags(&frags, f.data, 9, 3);
  to_frags(&single, f.data, 10, 1);
  /* the same slots, other atoms: 131 68 NumRefs Flags Refs, control = ref 0 */
  ep_buf over = EP_BUF_INIT;
  ep_buf_put32(&over, 0);
  ep_buf_put8(&over, 131), ep_buf_put8(&over, 68), ep_buf_put8(&over, (uint8_t)nr);
  for (size_t i = 0; i < nr / 2 + 1; i++) ep_buf_put8(&over, (uint8_t)(f.data[7 + i] | (i < nr / 2 ? 0x88 : 0x08)));
  over.data[over.len - 1] &= (nr & 1) ? 0x0F : 0x00; /* the last byte: the half-byte after the refs is 0 */
  size_t p = 7 + nr / 2 + 1;
  for (size_t i = 0; i < nr; i++) {
    ep_buf_put8(&over, f.data[p]); /* the same InternalIndex */
    char t[4] = {'z', (char)('0' + i), 'z', 0};
    ep_buf_put8(&over, 3);
    ep_buf_append(&over, t, 3);
    p += 1 + (ac_new(f.data, i) ? 1 + f.data[p + 1] : 0);
  }
  ep_buf_put8(&over, 82), ep_buf_put8(&over, 0);
  ep_put32(over.data, (uint32_t)(over.len - 4));
  ep_dist_reader *r = reader(EP_DFLAGS_NODE);
  ep_dist_msg m;
  size_t used, need, fn;
  /* the first fragment */
  const uint8_t *fr = nth_frame(&frags, 0, &fn);
  ck_assert_int_eq(ep_dist_read(r, A, fr, fn, &used, &need, &m), 0);
  ck_assert_int_eq(m.kind, EP_DIST_NONE);
  ck_assert_uint_eq(ep_dist_reader_pending(r), 1);
  /* the 131 68 frame that replaces every slot */
  ck_assert_int_eq(ep_dist_read(r, A, over.data, over.len, &used, &need, &m), 0);
  ck_assert_int_eq(m.kind, EP_DIST_MESSAGE);
  ck_assert(ep_atom_eq(m.control, "z0z"));
  /* the rest of the sequence: its own atoms */
  fr = nth_frame(&frags, 1, &fn);
  ck_assert_int_eq(ep_dist_read(r, A, fr, fn, &used, &need, &m), 0);
  fr = nth_frame(&frags, 2, &fn);
  ck_assert_int_eq(ep_dist_read(r, A, fr, fn, &used, &need, &m), 0);
  ck_assert_int_eq(m.kind, EP_DIST_MESSAGE);
  ck_assert(ep_term_eq(m.control, ctl));
  ck_assert(ep_term_eq(m.payload, pl));
  ck_assert_uint_eq(ep_dist_reader_pending(r), 0);
  /* the single fragment, old refs now naming z0z..: read against them */
  ep_dist_reader_free(r);
  r = reader(EP_DFLAGS_NODE);
  ck_assert_int_eq(ep_dist_read(r, A, single.data, single.len, &used, &need, &m), 0);
  ck_assert_uint_eq(used, single.len);
  ck_assert_int_eq(m.kind, EP_DIST_MESSAGE);
  ck_assert(ep_term_eq(m.payload, pl));
  /* a sequence left open is freed with the reader (ASan: no leak) */
  fr = nth_frame(&frags, 0, &fn);
  ck_assert_int_eq(ep_dist_read(r, A, fr, fn, &used, &need, &m), 0);
  ck_assert_uint_eq(ep_dist_reader_pending(r), 1);
  ep_dist_reader_free(r);
  ep_buf_free(&f);
  ep_buf_free(&frags);
  ep_buf_free(&single);
  ep_buf_free(&over);
  ep_dist_writer_free(w);
}
END_TEST

Suite *dist_suite(void) {
  Suite *s = suite_create("dist");
  TCase *tc = tcase_create("frames");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, tick_in_and_out);
  tcase_add_test(tc, pass_through_with_and_without_payload);
  tcase_add_test(tc, dist_header_with_and_without_payload);
  tcase_add_test(tc, pass_through_bytes);
  tcase_add_test(tc, writer_rejects_none_and_rolls_back);
  tcase_add_test(tc, malformed_frames);
  tcase_add_test(tc, frame_over_the_limit);
  tcase_add_test(tc, fragments_in_order);
  tcase_add_test(tc, fragments_interleaved);
  tcase_add_test(tc, fragments_out_of_order_and_unknown);
  tcase_add_test(tc, fragment_limits);
  tcase_add_test(tc, fragments_with_garbage_inside);
  tcase_add_test(tc, write_ctrl_roundtrip);
  tcase_add_test(tc, random_bytes_never_crash);
  tcase_add_test(tc, allocation_failures);
  suite_add_tcase(s, tc);
  tc = tcase_create("atom cache");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, ac_new_then_old_entries);
  tcase_add_test(tc, ac_node_names);
  tcase_add_test(tc, ac_long_atoms);
  tcase_add_test(tc, ac_many_atoms);
  tcase_add_test(tc, ac_slot_collision);
  tcase_add_test(tc, ac_beyond_the_walk);
  tcase_add_test(tc, ac_gather_same_bytes);
  tcase_add_test(tc, ac_random_terms);
  tcase_add_test(tc, ac_writer_allocation_failures);
  tcase_add_test(tc, ac_reader_allocation_failures);
  tcase_add_test(tc, ac_malformed_headers);
  tcase_add_test(tc, ac_long_texts_and_cuts);
  tcase_add_test(tc, ac_fragments_keep_their_refs);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return ep_check_run(dist_suite(), CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
