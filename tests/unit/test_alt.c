/* Alternative control connections: TCP frames, standard_io nibble frames,
 * the messages. Vectors were taken from OTP 25's peer.erl
 * (encode_port_data(term_to_binary(T)) printed as bytes). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ep_alt.h"
#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_failmem.h"

/* term_to_binary({started, nonode@nohost}) */
static const uint8_t started_etf[] = {131, 104, 2,   119, 7,   's', 't', 'a', 'r', 't', 'e',
                                      'd', 119, 13,  'n', 'o', 'n', 'o', 'd', 'e', '@', 'n',
                                      'o', 'h', 'o', 's', 't'};

START_TEST(crc_known_answer) {
  /* erlang:crc32(<<"123456789">>) =:= 16#CBF43926 */
  ck_assert_uint_eq(ep_alt_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
}
END_TEST

START_TEST(nibble_vector) {
  /* encode_port_data(<<16#0F>>): Size 1, byte 0F, crc32(<<15>>) */
  ep_buf b;
  ep_buf_init(&b, NULL);
  uint8_t one = 0x0F;
  ck_assert_int_eq(ep_alt_stdio_encode_etf(&b, &one, 1), 0);
  ck_assert_uint_eq(b.len, 2 * (4 + 1 + 4));
  /* size 00 00 00 01 */
  for (int i = 0; i < 7; i++) ck_assert_uint_eq(b.data[i], 0xC3);
  ck_assert_uint_eq(b.data[7], 0xC7);
  /* the byte 0x0F: 11000011 11111111 */
  ck_assert_uint_eq(b.data[8], 0xC3);
  ck_assert_uint_eq(b.data[9], 0xFF);
  for (size_t i = 0; i < b.len; i++) ck_assert_uint_eq(b.data[i] & 0xC3, 0xC3);
  ep_buf_free(&b);
}
END_TEST

START_TEST(tcp_roundtrip_and_prefixes) {
  ep_arena *a = ep_arena_new(NULL);
  ep_buf b;
  ep_buf_init(&b, NULL);
  ep_term t = ep_alt_call(a, 7, ep_atom("lists"), ep_atom("seq"), EP_LIST(a, ep_int(1), ep_int(3)));
  ck_assert_int_eq(ep_alt_tcp_encode(&b, t), 0);
  ck_assert_uint_eq(ep_get32(b.data), b.len - 4);
  for (size_t cut = 0; cut < b.len; cut++) {
    /* every proper prefix is "need more", on a guard-paged copy */
    long pg = sysconf(_SC_PAGESIZE);
    uint8_t *m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(m + pg, (size_t)pg, PROT_NONE);
    uint8_t *p = m + pg - cut;
    memcpy(p, b.data, cut);
    size_t pos = 0, n;
    const uint8_t *pl;
    ck_assert_int_eq(ep_alt_tcp_decode(p, cut, &pos, &pl, &n, 0), EP_EINCOMPLETE);
    ck_assert_uint_eq(pos, 0);
    munmap(m, (size_t)pg * 2);
  }
  size_t pos = 0, n;
  const uint8_t *pl;
  ck_assert_int_eq(ep_alt_tcp_decode(b.data, b.len, &pos, &pl, &n, 0), 0);
  ck_assert_uint_eq(pos, b.len);
  ep_term back;
  size_t p2 = 0;
  ck_assert_int_eq(ep_decode(a, pl, n, &p2, &back, NULL), 0);
  ck_assert(ep_term_eq(back, t));
  ep_alt_msg m;
  ck_assert_int_eq(ep_alt_parse(back, &m), 0);
  ck_assert_int_eq(m.kind, EP_ALT_CALL);
  ck_assert_uint_eq(m.seq, 7);
  ep_buf_free(&b);
  ep_arena_free(a);
}
END_TEST

START_TEST(tcp_limits) {
  uint8_t hdr[4] = {0xFF, 0xFF, 0xFF, 0xFF};
  size_t pos = 0, n;
  const uint8_t *pl;
  /* a hostile length fails before any payload arrives */
  ck_assert_int_eq(ep_alt_tcp_decode(hdr, 4, &pos, &pl, &n, 0), EP_ETOOBIG);
  uint8_t small[6] = {0, 0, 0, 2, 131, 106};
  ck_assert_int_eq(ep_alt_tcp_decode(small, 6, &pos, &pl, &n, 1), EP_ETOOBIG);
  uint8_t zero[4] = {0, 0, 0, 0};
  ck_assert_int_eq(ep_alt_tcp_decode(zero, 4, &pos, &pl, &n, 0), EP_EALTFRAME);
}
END_TEST

START_TEST(stdio_text_and_frames_interleaved) {
  ep_buf enc, text;
  ep_buf_init(&enc, NULL);
  ep_buf_init(&text, NULL);
  ep_buf_append(&enc, "hello\n", 6);
  ck_assert_int_eq(ep_alt_stdio_encode_etf(&enc, started_etf, sizeof started_etf), 0);
  /* console text in the middle of a frame (another writer on the same fd) */
  size_t mid = 6 + 20;
  ep_buf in;
  ep_buf_init(&in, NULL);
  ep_buf_append(&in, enc.data, mid);
  ep_buf_append(&in, "XY", 2);
  ep_buf_append(&in, enc.data + mid, enc.len - mid);
  ep_buf_append(&in, "bye", 3);
  ep_alt_stdio_dec d;
  ep_alt_stdio_dec_init(&d, NULL, 0);
  size_t pos = 0, n = 0;
  const uint8_t *pl = NULL;
  ck_assert_int_eq(ep_alt_stdio_decode(&d, in.data, in.len, &pos, &text, &pl, &n), 0);
  ck_assert_uint_eq(n, sizeof started_etf);
  ck_assert_mem_eq(pl, started_etf, n);
  ck_assert_int_eq(ep_alt_stdio_decode(&d, in.data, in.len, &pos, &text, &pl, &n), EP_EINCOMPLETE);
  ck_assert_uint_eq(text.len, 11);
  ck_assert_mem_eq(text.data, "hello\nXYbye", 11);
  ck_assert_int_eq(ep_alt_stdio_dec_partial(&d), 0);
  ep_alt_stdio_dec_free(&d);
  ep_buf_free(&in);
  ep_buf_free(&enc);
  ep_buf_free(&text);
}
END_TEST

START_TEST(stdio_every_split_point) {
  ep_buf enc;
  ep_buf_init(&enc, NULL);
  ck_assert_int_eq(ep_alt_stdio_encode_etf(&enc, started_etf, sizeof started_etf), 0);
  for (size_t cut = 0; cut < enc.len; cut++) {
    ep_alt_stdio_dec d;
    ep_alt_stdio_dec_init(&d, NULL, 0);
    size_t pos = 0, n;
    const uint8_t *pl;
    ck_assert_int_eq(ep_alt_stdio_decode(&d, enc.data, cut, &pos, NULL, &pl, &n), EP_EINCOMPLETE);
    ck_assert_uint_eq(pos, cut);
    ck_assert_int_eq(ep_alt_stdio_dec_partial(&d), cut > 0);
    /* resumes with the rest */
    ck_assert_int_eq(ep_alt_stdio_decode(&d, enc.data, enc.len, &pos, NULL, &pl, &n), 0);
    ck_assert_mem_eq(pl, started_etf, sizeof started_etf);
    ep_alt_stdio_dec_free(&d);
  }
  ep_buf_free(&enc);
}
END_TEST

START_TEST(stdio_crc_mismatch_and_garbage) {
  ep_buf enc;
  ep_buf_init(&enc, NULL);
  ck_assert_int_eq(ep_alt_stdio_encode_etf(&enc, started_etf, sizeof started_etf), 0);
  /* flip one payload nibble: still a nibble character, wrong CRC */
  enc.data[8 + 5] ^= 0x04;
  ep_alt_stdio_dec d;
  ep_alt_stdio_dec_init(&d, NULL, 0);
  size_t pos = 0, n;
  const uint8_t *pl;
  ck_assert_int_eq(ep_alt_stdio_decode(&d, enc.data, enc.len, &pos, NULL, &pl, &n), EP_ECRC);
  /* sticky */
  ck_assert_int_eq(ep_alt_stdio_decode(&d, enc.data, enc.len, &pos, NULL, &pl, &n), EP_ECRC);
  ep_alt_stdio_dec_free(&d);
  /* a size over the limit is refused as soon as the size is read */
  uint8_t big[8];
  for (int i = 0; i < 8; i++) big[i] = 0xFF; /* FFFFFFFF */
  ep_alt_stdio_dec_init(&d, NULL, 1024);
  pos = 0;
  ck_assert_int_eq(ep_alt_stdio_decode(&d, big, 8, &pos, NULL, &pl, &n), EP_ETOOBIG);
  ep_alt_stdio_dec_free(&d);
  /* size zero */
  uint8_t zero[8];
  for (int i = 0; i < 8; i++) zero[i] = 0xC3;
  ep_alt_stdio_dec_init(&d, NULL, 0);
  pos = 0;
  ck_assert_int_eq(ep_alt_stdio_decode(&d, zero, 8, &pos, NULL, &pl, &n), EP_EALTFRAME);
  ep_alt_stdio_dec_free(&d);
  ep_buf_free(&enc);
}
END_TEST

START_TEST(parse_replies) {
  ep_arena *a = ep_arena_new(NULL);
  ep_alt_msg m;
  ep_term ok = EP_TUPLE(a, ep_atom("reply"), ep_int(3), ep_atom("ok"), ep_int(42));
  ck_assert_int_eq(ep_alt_parse(ok, &m), 0);
  ck_assert_int_eq(m.kind, EP_ALT_REPLY);
  ck_assert_int_eq(m.cls, EP_ALT_OK);
  ck_assert_int_eq(m.a.v.i, 42);
  ep_term err = EP_TUPLE(a, ep_atom("reply"), ep_int(4), ep_atom("error"),
                         EP_TUPLE(a, ep_atom("badarg"), EP_LIST(a, ep_atom("frame"))));
  ck_assert_int_eq(ep_alt_parse(err, &m), 0);
  ck_assert_int_eq(m.cls, EP_ALT_ERROR);
  ck_assert(ep_atom_eq(m.a, "badarg"));
  ck_assert_int_eq(ep_list_len(m.b), 1);
  ep_term crash = EP_TUPLE(a, ep_atom("reply"), ep_int(5), ep_atom("crash"), ep_atom("killed"));
  ck_assert_int_eq(ep_alt_parse(crash, &m), 0);
  ck_assert_int_eq(m.cls, EP_ALT_CRASH);
  ck_assert(ep_atom_eq(m.a, "killed"));
  ck_assert_str_eq(ep_alt_class_name(EP_ALT_THROW), "throw");
  /* wrong class, negative seq, unknown tag, not a tuple */
  ck_assert_int_eq(ep_alt_parse(EP_TUPLE(a, ep_atom("reply"), ep_int(1), ep_atom("bad"), ep_nil()), &m),
                   EP_EALTFRAME);
  ck_assert_int_eq(ep_alt_parse(EP_TUPLE(a, ep_atom("reply"), ep_int(-1), ep_atom("ok"), ep_nil()), &m),
                   EP_EALTFRAME);
  ck_assert_int_eq(ep_alt_parse(EP_TUPLE(a, ep_atom("what"), ep_nil()), &m), EP_EALTFRAME);
  ck_assert_int_eq(ep_alt_parse(ep_int(1), &m), EP_EALTFRAME);
  ep_term io = EP_TUPLE(a, ep_atom("io_request"), ep_pid(a, "nonode@nohost", 80, 0, 0), ep_atom("r"),
                        EP_TUPLE(a, ep_atom("put_chars"), ep_atom("unicode"), ep_binary_str(a, "x")));
  ck_assert_int_eq(ep_alt_parse(io, &m), 0);
  ck_assert_int_eq(m.kind, EP_ALT_IO_REQUEST);
  ep_term st = EP_TUPLE(a, ep_atom("started"), ep_atom("nonode@nohost"));
  ck_assert_int_eq(ep_alt_parse(st, &m), 0);
  ck_assert_int_eq(m.kind, EP_ALT_STARTED);
  ep_term msg = ep_alt_message(a, ep_atom("user"), ep_atom("hi"));
  ck_assert_int_eq(ep_alt_parse(msg, &m), 0);
  ck_assert_int_eq(m.kind, EP_ALT_MESSAGE);
  ck_assert_int_eq(ep_alt_parse(ep_alt_cast(a, ep_atom("init"), ep_atom("stop"), ep_nil()), &m), 0);
  ck_assert_int_eq(m.kind, EP_ALT_CAST);
  ck_assert_int_eq(ep_alt_parse(ep_alt_io_reply(a, ep_atom("x"), ep_atom("y"), ep_atom("ok")), &m), 0);
  ck_assert_int_eq(m.kind, EP_ALT_IO_REPLY);
  ep_arena_free(a);
}
END_TEST

START_TEST(stdio_encode_term_roundtrip) {
  ep_arena *a = ep_arena_new(NULL);
  ep_buf b;
  ep_buf_init(&b, NULL);
  ep_term t = ep_alt_cast(a, ep_atom("init"), ep_atom("stop"), ep_nil());
  ck_assert_int_eq(ep_alt_stdio_encode(&b, t), 0);
  ep_alt_stdio_dec d;
  ep_alt_stdio_dec_init(&d, NULL, 0);
  size_t pos = 0, n;
  const uint8_t *pl;
  ck_assert_int_eq(ep_alt_stdio_decode(&d, b.data, b.len, &pos, NULL, &pl, &n), 0);
  ep_term back;
  size_t p2 = 0;
  ck_assert_int_eq(ep_decode(a, pl, n, &p2, &back, NULL), 0);
  ck_assert(ep_term_eq(back, t));
  ep_alt_stdio_dec_free(&d);
  ck_assert_int_eq(ep_alt_stdio_encode(&b, ep_none()), EP_EINVAL);
  ep_buf_free(&b);
  ep_arena_free(a);
}
END_TEST

/* Nibble characters for bytes p[0..n) (no size, no CRC). */
static void put_nibble_chars(ep_buf *b, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    ep_buf_put8(b, (uint8_t)(0xC3 | (p[i] >> 4) << 2));
    ep_buf_put8(b, (uint8_t)(0xC3 | (p[i] & 0xF) << 2));
  }
}

/* A header that claims a big frame, then a trickle: the frame buffer grows
 * with the bytes that arrived, never to the claimed size at once (a peer or
 * garbage on the pipe must not make us allocate the limit for 4 bytes). */
START_TEST(stdio_memory_follows_data_not_claim) {
  const uint32_t claim = 100u << 20; /* 100 MiB, under the default limit */
  uint8_t hdr[4];
  ep_put32(hdr, claim);
  ep_buf in;
  ep_buf_init(&in, NULL);
  put_nibble_chars(&in, hdr, 4);
  uint8_t few[3] = {131, 104, 2};
  put_nibble_chars(&in, few, 3);
  ep_alt_stdio_dec d;
  ep_alt_stdio_dec_init(&d, NULL, 0);
  size_t pos = 0, n;
  const uint8_t *pl;
  ck_assert_int_eq(ep_alt_stdio_decode(&d, in.data, in.len, &pos, NULL, &pl, &n), EP_EINCOMPLETE);
  ck_assert_uint_eq(d.frame.len, 3);
  ck_assert_uint_le(d.frame.cap, 64 << 10);
  /* 1 MiB more: the buffer stays within twice what arrived */
  ep_buf more;
  ep_buf_init(&more, NULL);
  uint8_t *chunk = calloc(1, 1 << 20);
  put_nibble_chars(&more, chunk, 1 << 20);
  pos = 0;
  ck_assert_int_eq(ep_alt_stdio_decode(&d, more.data, more.len, &pos, NULL, &pl, &n), EP_EINCOMPLETE);
  ck_assert_uint_eq(d.frame.len, 3 + (1 << 20));
  ck_assert_uint_le(d.frame.cap, 2 * d.frame.len + (64 << 10));
  ep_alt_stdio_dec_free(&d);
  free(chunk);
  ep_buf_free(&more);
  ep_buf_free(&in);
}
END_TEST

/* A frame of an odd size, fed in uneven pieces with console text inside:
 * the buffer never exceeds the declared size, the frame comes out whole,
 * and a big buffer is not kept once the next frame starts. */
START_TEST(stdio_growth_capped_and_released) {
  enum { N = 300001 };
  uint8_t *etf = malloc(N);
  for (size_t i = 0; i < N; i++) etf[i] = (uint8_t)(i * 7 + 1);
  etf[0] = 131;
  ep_buf enc, text;
  ep_buf_init(&enc, NULL);
  ep_buf_init(&text, NULL);
  ck_assert_int_eq(ep_alt_stdio_encode_etf(&enc, etf, N), 0);
  ck_assert_int_eq(ep_alt_stdio_encode_etf(&enc, started_etf, sizeof started_etf), 0);
  ep_alt_stdio_dec d;
  ep_alt_stdio_dec_init(&d, NULL, 0);
  size_t pos = 0, n = 0, end = 0, step = 1, frames = 0;
  const uint8_t *pl = NULL;
  while (pos < enc.len) {
    end = end + step < enc.len ? end + step : enc.len;
    step = step * 3 + 1; /* odd and even split points, split pairs too */
    if (step > 100000) step = 777;
    for (;;) {
      int rc = ep_alt_stdio_decode(&d, enc.data, end, &pos, &text, &pl, &n);
      if (rc == EP_EINCOMPLETE) break;
      ck_assert_int_eq(rc, 0);
      if (frames++ == 0) {
        ck_assert_uint_eq(n, N);
        ck_assert_mem_eq(pl, etf, N);
        ck_assert_uint_le(d.frame.cap, N);
      } else {
        ck_assert_uint_eq(n, sizeof started_etf);
        ck_assert_mem_eq(pl, started_etf, n);
        ck_assert_uint_le(d.frame.cap, 64 << 10);
      }
    }
  }
  ck_assert_uint_eq(frames, 2);
  ck_assert_uint_eq(text.len, 0);
  ep_alt_stdio_dec_free(&d);
  ep_buf_free(&enc);
  ep_buf_free(&text);
  free(etf);
}
END_TEST

/* Every allocation from the i-th on fails (i = 1: all of them). */
START_TEST(allocation_failure_at_every_step) {
  ep_failmem fm;
  ep_failmem_init(&fm);
  for (long i = 1; i <= 40; i++) {
    ep_failmem_fail_from(&fm, i);
    ep_buf enc;
    ep_buf_init(&enc, &fm.mem);
    int rc = ep_alt_stdio_encode_etf(&enc, started_etf, sizeof started_etf);
    ck_assert(rc == 0 || rc == EP_ENOMEM);
    if (rc == 0) {
      ep_alt_stdio_dec d;
      ep_alt_stdio_dec_init(&d, &fm.mem, 0);
      ep_buf text;
      ep_buf_init(&text, &fm.mem);
      uint8_t in[600];
      memcpy(in, "txt", 3);
      memcpy(in + 3, enc.data, enc.len);
      size_t pos = 0, n;
      const uint8_t *pl;
      int r2 = ep_alt_stdio_decode(&d, in, enc.len + 3, &pos, &text, &pl, &n);
      ck_assert(r2 == 0 || r2 == EP_ENOMEM);
      if (r2 == EP_ENOMEM) /* sticky */
        ck_assert_int_eq(ep_alt_stdio_decode(&d, in, enc.len + 3, &pos, &text, &pl, &n), EP_ENOMEM);
      ep_alt_stdio_dec_free(&d);
      ep_buf_free(&text);
    }
    ep_buf_free(&enc);
    ck_assert_int_eq(fm.live, 0); /* nothing leaked on any path */
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("alt");
  TCase *tc = tcase_create("framing");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, crc_known_answer);
  tcase_add_test(tc, nibble_vector);
  tcase_add_test(tc, tcp_roundtrip_and_prefixes);
  tcase_add_test(tc, tcp_limits);
  tcase_add_test(tc, stdio_text_and_frames_interleaved);
  tcase_add_test(tc, stdio_every_split_point);
  tcase_add_test(tc, stdio_crc_mismatch_and_garbage);
  tcase_add_test(tc, parse_replies);
  tcase_add_test(tc, stdio_encode_term_roundtrip);
  tcase_add_test(tc, allocation_failure_at_every_step);
  tcase_add_test(tc, stdio_memory_follows_data_not_claim);
  tcase_add_test(tc, stdio_growth_capped_and_released);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
