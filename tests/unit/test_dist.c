/* Distribution frames: ticks, pass-through and dist-header frames, every
 * prefix "need more" with the right *need, fragments (in order, interleaved,
 * out of order, over the limits), and the writers. */
#include <check.h>
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
  return s;
}

int main(void) {
  return ep_check_run(dist_suite(), CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
