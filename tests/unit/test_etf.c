/* External term format codec: known answers for every tag, every proper
 * prefix is "need more", over-reads hit a guard page, allocation failure at
 * every step, hostile input (depth, lengths, zip bombs, atoms, bignums), and
 * the term operations (order, copy) the codec's users rely on. No erl here:
 * the BEAM itself is in tests/integration/test_etf_beam.c. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_failmem.h"
#include "ep_term.h"

/* --- vectors ---------------------------------------------------------------- */

typedef struct {
  const char *name;
  bool canonical; /* our encoder gives back exactly these bytes */
  size_t len;
  const uint8_t *bytes;
} vec;

#define V(name, canon, ...) \
  {name, canon, sizeof((const uint8_t[]){__VA_ARGS__}), (const uint8_t[]){__VA_ARGS__}}

#define NODE3 119, 3, 'a', '@', 'b'
#define LNODE3 100, 0, 3, 'a', '@', 'b'

/* fun(Y) -> X + Y end with X = 5, from OTP 25 (module etfq, nonode@nohost) */
#define FUN_BYTES                                                                                        \
  131, 112, 0, 0, 0, 72, 1, 51, 66, 133, 194, 241, 63, 173, 248, 165, 36, 40, 217, 14, 71, 179, 23, 0, 0, \
      0, 0, 0, 0, 0, 1, 119, 4, 101, 116, 102, 113, 97, 0, 98, 1, 154, 20, 46, 88, 119, 13, 110, 111, 110, \
      111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 97, 5

static const vec vectors[] = {
    V("small_int_0", true, 131, 97, 0),
    V("small_int_255", true, 131, 97, 255),
    V("int_256", true, 131, 98, 0, 0, 1, 0),
    V("int_-1", true, 131, 98, 255, 255, 255, 255),
    V("int_2^31-1", true, 131, 98, 0x7f, 0xff, 0xff, 0xff),
    V("int_-2^31", true, 131, 98, 0x80, 0, 0, 0),
    V("big_2^31", true, 131, 110, 4, 0, 0, 0, 0, 128),
    V("big_2^63", true, 131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 128),
    V("big_-2^63", true, 131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128),
    V("big_-2^63-1", true, 131, 110, 8, 1, 1, 0, 0, 0, 0, 0, 0, 128),
    V("big_2^64", true, 131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
    V("big_leading_zeros", false, 131, 110, 3, 0, 1, 0, 0),
    V("float_1", true, 131, 70, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0),
    V("float_-0", true, 131, 70, 0x80, 0, 0, 0, 0, 0, 0, 0),
    V("float_min_denormal", true, 131, 70, 0, 0, 0, 0, 0, 0, 0, 1),
    V("float_ext", false, 131, 99, '1', '.', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0',
      '0', '0', '0', '0', '0', '0', '0', 'e', '+', '0', '0', 0, 0, 0, 0, 0),
    V("atom_ok", true, 131, 119, 2, 'o', 'k'),
    V("atom_empty", true, 131, 119, 0),
    V("atom_utf8", true, 131, 119, 3, 'h', 0xc3, 0xa9),
    V("atom_utf8_long_tag", false, 131, 118, 0, 2, 'o', 'k'),
    V("atom_latin1", false, 131, 100, 0, 2, 'h', 0xe9),
    V("small_atom_latin1", false, 131, 115, 1, 'a'),
    V("nil", true, 131, 106),
    V("string", true, 131, 107, 0, 3, 1, 2, 3),
    V("string_empty", false, 131, 107, 0, 0),
    V("list_improper", true, 131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3),
    V("list_non_byte", true, 131, 108, 0, 0, 0, 3, 97, 1, 97, 2, 98, 0, 0, 1, 44, 106),
    V("list_empty_header", false, 131, 108, 0, 0, 0, 0, 106),
    V("list_tail_list", false, 131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 98, 0, 0, 1, 44, 106),
    V("list_tail_string", false, 131, 108, 0, 0, 0, 1, 98, 0, 0, 1, 44, 107, 0, 2, 'a', 'b'),
    V("list_tail_chain", false, 131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 0, 108, 0, 0, 0, 1, 97, 2, 97, 3),
    V("list_nested", true, 131, 108, 0, 0, 0, 1, 108, 0, 0, 0, 1, 106, 106, 106),
    V("tuple_empty", true, 131, 104, 0),
    V("tuple_2", true, 131, 104, 2, 97, 1, 119, 2, 'o', 'k'),
    V("tuple_large_tag_small", false, 131, 105, 0, 0, 0, 1, 106),
    V("map_empty", true, 131, 116, 0, 0, 0, 0),
    V("map_1", true, 131, 116, 0, 0, 0, 1, 97, 1, 97, 2),
    V("map_nested", true, 131, 116, 0, 0, 0, 1, 116, 0, 0, 0, 0, 104, 1, 106),
    V("binary", true, 131, 109, 0, 0, 0, 3, 1, 2, 3),
    V("binary_empty", true, 131, 109, 0, 0, 0, 0),
    V("bitstring", true, 131, 77, 0, 0, 0, 1, 3, 32),
    V("bitstring_full_byte", false, 131, 77, 0, 0, 0, 2, 8, 1, 2),
    V("bitstring_empty", false, 131, 77, 0, 0, 0, 0, 0),
    V("new_pid", true, 131, 88, NODE3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3),
    V("pid_ext", false, 131, 103, LNODE3, 0, 0, 0, 1, 0, 0, 0, 2, 3),
    V("new_port", true, 131, 89, NODE3, 0, 0, 0, 1, 0, 0, 0, 3),
    V("v4_port", true, 131, 120, NODE3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3),
    V("v4_port_small", false, 131, 120, NODE3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 3),
    V("port_ext", false, 131, 102, LNODE3, 0, 0, 0, 1, 3),
    V("newer_ref", true, 131, 90, 0, 3, NODE3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3),
    V("new_ref", false, 131, 114, 0, 2, LNODE3, 1, 0, 0, 0, 1, 0, 0, 0, 2),
    V("ref_ext", false, 131, 101, LNODE3, 0, 0, 0, 7, 1),
    V("export", true, 131, 113, 119, 5, 'l', 'i', 's', 't', 's', 119, 3, 'm', 'a', 'p', 97, 2),
    V("new_fun", true, FUN_BYTES),
    V("compressed", false, 131, 80, 0, 0, 0, 23, 120, 156, 203, 102, 16, 97, 192, 2, 0, 11, 88, 0, 128),
    V("nested_mix", true, 131, 104, 3, 116, 0, 0, 0, 1, 119, 1, 'k', 108, 0, 0, 0, 1, 109, 0, 0, 0, 1, 'x',
      106, 107, 0, 2, 'h', 'i', 70, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18),
};
#define NVEC (sizeof vectors / sizeof vectors[0])

static int decode_all(ep_arena *a, const uint8_t *b, size_t n, ep_term *t, size_t *pos) {
  *pos = 0;
  return ep_decode(a, b, n, pos, t, NULL);
}

/* --- known answers ---------------------------------------------------------- */

START_TEST(every_vector_decodes_and_reencodes) {
  for (size_t i = 0; i < NVEC; i++) {
    const vec *v = &vectors[i];
    ep_arena *a = ep_arena_new(NULL);
    ep_term t;
    size_t pos;
    int r = decode_all(a, v->bytes, v->len, &t, &pos);
    ck_assert_msg(r == 0, "%s: %s", v->name, ep_err_name(r));
    ck_assert_msg(pos == v->len, "%s: pos %zu of %zu", v->name, pos, v->len);
    ep_buf b = EP_BUF_INIT;
    ck_assert_int_eq(ep_encode(&b, t), 0);
    ck_assert_int_eq(b.len, ep_encoded_size(t) + 1);
    if (v->canonical) {
      ck_assert_msg(b.len == v->len && memcmp(b.data, v->bytes, v->len) == 0, "%s: re-encoding differs", v->name);
    }
    /* whatever we wrote decodes to the same term */
    ep_term t2;
    ck_assert_int_eq(decode_all(a, b.data, b.len, &t2, &pos), 0);
    ck_assert_msg(ep_term_eq(t, t2), "%s: second decode differs", v->name);
    ck_assert_int_eq(ep_term_cmp(t, t2), 0);
    ep_term c = ep_term_copy(a, t);
    ck_assert(ep_term_eq(c, t));
    ep_buf_free(&b);
    ep_arena_free(a);
  }
}
END_TEST

static ep_term dec1(ep_arena *a, const vec *v) {
  ep_term t;
  size_t pos;
  ck_assert_int_eq(decode_all(a, v->bytes, v->len, &t, &pos), 0);
  return t;
}

static const vec *find_vec(const char *name) {
  for (size_t i = 0; i < NVEC; i++)
    if (strcmp(vectors[i].name, name) == 0) return &vectors[i];
  ck_abort_msg("no vector %s", name);
  return NULL;
}

START_TEST(decoded_values_are_right) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t = dec1(a, find_vec("int_-1"));
  ck_assert(t.type == EP_T_INT && t.v.i == -1);
  t = dec1(a, find_vec("big_-2^63"));
  ck_assert(t.type == EP_T_INT && t.v.i == INT64_MIN);
  t = dec1(a, find_vec("big_2^63"));
  ck_assert(t.type == EP_T_BIG && t.n == 8 && t.aux == 0 && t.v.bytes[7] == 128);
  t = dec1(a, find_vec("big_leading_zeros"));
  ck_assert(t.type == EP_T_INT && t.v.i == 1);
  t = dec1(a, find_vec("float_-0"));
  ck_assert(t.type == EP_T_FLOAT && t.v.f == 0.0 && signbit(t.v.f));
  t = dec1(a, find_vec("float_ext"));
  ck_assert(t.type == EP_T_FLOAT && t.v.f == 1.0);
  t = dec1(a, find_vec("atom_latin1"));
  ck_assert(ep_atom_eq(t, "h\xc3\xa9"));
  ck_assert(ep_term_eq(t, dec1(a, find_vec("atom_utf8"))));
  ck_assert(ep_atom_eq(dec1(a, find_vec("atom_utf8_long_tag")), "ok"));
  ck_assert(ep_atom_eq(dec1(a, find_vec("small_atom_latin1")), "a"));
  t = dec1(a, find_vec("string"));
  ck_assert(t.type == EP_T_STRING && t.n == 3);
  ck_assert(ep_term_eq(t, EP_LIST(a, ep_int(1), ep_int(2), ep_int(3))));
  ck_assert_int_eq(dec1(a, find_vec("string_empty")).type, EP_T_NIL);
  ck_assert_int_eq(dec1(a, find_vec("list_empty_header")).type, EP_T_NIL);
  t = dec1(a, find_vec("list_improper"));
  ck_assert(ep_term_eq(t, ep_list_improper(a, 2, (ep_term[]){ep_int(1), ep_int(2)}, ep_int(3))));
  /* a list in a list's tail is merged, as the BEAM does */
  t = dec1(a, find_vec("list_tail_list"));
  ck_assert(t.type == EP_T_LIST && t.n == 2);
  ck_assert(ep_term_eq(t, EP_LIST(a, ep_int(1), ep_int(300))));
  t = dec1(a, find_vec("list_tail_string"));
  ck_assert(ep_term_eq(t, EP_LIST(a, ep_int(300), ep_int('a'), ep_int('b'))));
  t = dec1(a, find_vec("list_tail_chain"));
  ck_assert(ep_term_eq(t, ep_list_improper(a, 2, (ep_term[]){ep_int(1), ep_int(2)}, ep_int(3))));
  ep_buf lb = EP_BUF_INIT;
  ck_assert_int_eq(ep_encode(&lb, t), 0);
  ck_assert_int_eq(lb.len, 12);
  ck_assert_mem_eq(lb.data, ((uint8_t[]){131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3}), 12);
  ep_buf_free(&lb);
  t = dec1(a, find_vec("tuple_2"));
  ck_assert(ep_term_eq(t, EP_TUPLE(a, ep_int(1), ep_atom("ok"))));
  t = dec1(a, find_vec("map_1"));
  ck_assert(ep_term_eq(ep_map_get(t, ep_int(1)), ep_int(2)));
  t = dec1(a, find_vec("bitstring"));
  ck_assert(t.type == EP_T_BITSTR && t.aux == 3 && t.n == 1 && t.v.bytes[0] == 32);
  ck_assert_int_eq(dec1(a, find_vec("bitstring_full_byte")).type, EP_T_BINARY);
  t = dec1(a, find_vec("bitstring_empty"));
  ck_assert(t.type == EP_T_BINARY && t.n == 0);
  t = dec1(a, find_vec("pid_ext"));
  ck_assert(ep_term_eq(t, ep_pid(a, "a@b", 1, 2, 3)));
  ck_assert(ep_term_eq(dec1(a, find_vec("new_pid")), ep_pid(a, "a@b", 1, 2, 3)));
  ck_assert(ep_term_eq(dec1(a, find_vec("port_ext")), ep_port(a, "a@b", 1, 3)));
  ck_assert(ep_term_eq(dec1(a, find_vec("v4_port")), ep_port(a, "a@b", (uint64_t)1 << 32, 3)));
  ck_assert(ep_term_eq(dec1(a, find_vec("newer_ref")), ep_ref(a, "a@b", 1, 3, (uint32_t[]){1, 2, 3})));
  ck_assert(ep_term_eq(dec1(a, find_vec("new_ref")), ep_ref(a, "a@b", 1, 2, (uint32_t[]){1, 2})));
  ck_assert(ep_term_eq(dec1(a, find_vec("ref_ext")), ep_ref(a, "a@b", 1, 1, (uint32_t[]){7})));
  t = dec1(a, find_vec("export"));
  ck_assert(t.type == EP_T_EXPORT && ep_atom_eq(t.v.exp->function, "map") && t.v.exp->arity == 2);
  t = dec1(a, find_vec("new_fun"));
  ck_assert(t.type == EP_T_FUN && t.v.fun->arity == 1 && t.v.fun->num_free == 1);
  ck_assert(ep_atom_eq(t.v.fun->module, "etfq"));
  ck_assert(ep_term_eq(t.v.fun->free_vars[0], ep_int(5)));
  ck_assert_int_eq(t.v.fun->pid.type, EP_T_PID);
  t = dec1(a, find_vec("compressed"));
  ck_assert(t.type == EP_T_STRING && t.n == 20);
  ep_arena_free(a);
}
END_TEST

START_TEST(built_terms_encode_like_the_beam) {
  ep_arena *a = ep_arena_new(NULL);
  ep_buf b = EP_BUF_INIT;
  /* lists of bytes become STRING_EXT; [1,2,300] does not */
  ck_assert_int_eq(ep_encode(&b, EP_LIST(a, ep_int(1), ep_int(2), ep_int(3))), 0);
  ck_assert_mem_eq(b.data, ((uint8_t[]){131, 107, 0, 3, 1, 2, 3}), 7);
  b.len = 0;
  ck_assert_int_eq(ep_encode(&b, ep_int(INT64_MIN)), 0);
  ck_assert_mem_eq(b.data, ((uint8_t[]){131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128}), 12);
  b.len = 0;
  ck_assert_int_eq(ep_encode(&b, ep_uint64(a, UINT64_MAX)), 0);
  ck_assert_mem_eq(b.data, ((uint8_t[]){131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 255}), 12);
  /* an unnormalised bignum goes out as the integer it is */
  b.len = 0;
  ep_term big = {0};
  big.type = EP_T_BIG;
  big.n = 3;
  big.v.bytes = (const uint8_t[]){5, 0, 0};
  ck_assert_int_eq(ep_encode(&b, big), 0);
  ck_assert_mem_eq(b.data, ((uint8_t[]){131, 97, 5}), 3);
  /* a byte list longer than 65535 becomes a LIST_EXT of small integers */
  size_t n = 70000;
  char *txt = malloc(n + 1);
  memset(txt, 'a', n);
  txt[n] = 0;
  ep_term s = ep_string(a, txt);
  ck_assert_int_eq(s.type, EP_T_LIST);
  b.len = 0;
  ck_assert_int_eq(ep_encode(&b, s), 0);
  ck_assert_int_eq(b.len, 1 + 5 + 2 * n + 1);
  ck_assert_mem_eq(b.data, ((uint8_t[]){131, 108, 0, 1, 0x11, 0x70, 97, 'a'}), 8);
  free(txt);
  /* a long atom takes ATOM_UTF8 */
  char at[300];
  memset(at, 'x', 255);
  at[255] = 0;
  b.len = 0;
  ck_assert_int_eq(ep_encode(&b, ep_atom(at)), 0);
  ck_assert_int_eq(b.data[1], 119);
  /* 256 bytes (128 two-byte characters) */
  for (int i = 0; i < 128; i++) at[2 * i] = (char)0xc3, at[2 * i + 1] = (char)0xa9;
  at[256] = 0;
  b.len = 0;
  ck_assert_int_eq(ep_encode(&b, ep_atom(at)), 0);
  ck_assert_mem_eq(b.data, ((uint8_t[]){131, 118, 1, 0}), 4);
  /* not encodable */
  ck_assert_int_eq(ep_encode(&b, ep_none()), EP_EINVAL);
  ck_assert_int_eq(ep_encode(&b, EP_TUPLE(a, ep_atom("x"), ep_float(NAN))), EP_EINVAL);
  ck_assert_int_eq(ep_encoded_size(ep_float(INFINITY)), 0);
  ep_term fn = ep_export_fun(a, ep_atom("m"), ep_atom("f"), 300);
  ck_assert_int_eq(ep_encode(&b, fn), EP_EINVAL);
  ep_buf_free(&b);
  ep_arena_free(a);
}
END_TEST

START_TEST(compressed_round_trip_and_fallback) {
  ep_arena *a = ep_arena_new(NULL);
  ep_buf b = EP_BUF_INIT;
  /* 20 zeros compress exactly as OTP 25's term_to_binary(L, [compressed]) */
  ep_term zeros[20];
  for (int i = 0; i < 20; i++) zeros[i] = ep_int(0);
  ck_assert_int_eq(ep_encode_compressed(&b, ep_list(a, 20, zeros), -1), 0);
  const vec *v = find_vec("compressed");
  ck_assert_int_eq(b.len, v->len);
  ck_assert_mem_eq(b.data, v->bytes, v->len);
  /* 14 zeros: OTP keeps it plain; 15: compressed although one byte longer */
  b.len = 0;
  ck_assert_int_eq(ep_encode_compressed(&b, ep_list(a, 14, zeros), -1), 0);
  ck_assert_int_eq(b.data[1], 107);
  b.len = 0;
  ck_assert_int_eq(ep_encode_compressed(&b, ep_list(a, 15, zeros), -1), 0);
  ck_assert_mem_eq(b.data, ((uint8_t[]){131, 80, 0, 0, 0, 18, 120, 156, 203, 102, 224, 103, 64, 5, 0, 8, 136, 0, 123}),
                   19);
  /* level 0: plain */
  b.len = 0;
  ck_assert_int_eq(ep_encode_compressed(&b, ep_list(a, 20, zeros), 0), 0);
  ck_assert_int_eq(b.data[1], 107);
  /* a big compressible term round-trips */
  uint8_t *blob = calloc(1, 100000);
  ep_term t = EP_TUPLE(a, ep_atom("data"), ep_binary(a, blob, 100000));
  b.len = 0;
  ck_assert_int_eq(ep_encode_compressed(&b, t, 9), 0);
  ck_assert_int_eq(b.data[1], 80);
  ck_assert_int_lt(b.len, 1000);
  ep_term back;
  size_t pos = 0;
  ck_assert_int_eq(ep_decode(a, b.data, b.len, &pos, &back, NULL), 0);
  ck_assert_int_eq(pos, b.len);
  ck_assert(ep_term_eq(back, t));
  /* every prefix of it needs more */
  for (size_t k = 0; k < b.len; k++) {
    pos = 0;
    ck_assert_int_eq(ep_decode(a, b.data, k, &pos, &back, NULL), EP_EINCOMPLETE);
    ck_assert_int_eq(pos, 0);
  }
  free(blob);
  ck_assert_int_eq(ep_encode_compressed(&b, t, 10), EP_EINVAL);
  ep_buf_free(&b);
  ep_arena_free(a);
}
END_TEST

/* --- prefixes and guard pages ----------------------------------------------- */

START_TEST(every_proper_prefix_needs_more) {
  for (size_t i = 0; i < NVEC; i++) {
    const vec *v = &vectors[i];
    ep_arena *a = ep_arena_new(NULL);
    for (size_t k = 0; k < v->len; k++) {
      ep_term t;
      size_t pos = 0;
      int r = ep_decode(a, v->bytes, k, &pos, &t, NULL);
      ck_assert_msg(r == EP_EINCOMPLETE, "%s: prefix %zu gives %s", v->name, k, ep_err_name(r));
      ck_assert_int_eq(pos, 0);
      if (k >= 1) {
        pos = 1;
        r = v->bytes[1] == 80 ? EP_EINCOMPLETE : ep_decode_body(a, v->bytes, k, &pos, &t, NULL);
        ck_assert_msg(r == EP_EINCOMPLETE, "%s: body prefix %zu gives %s", v->name, k, ep_err_name(r));
      }
    }
    ep_arena_free(a);
  }
}
END_TEST

START_TEST(no_read_past_the_end) {
  long pg = sysconf(_SC_PAGESIZE);
  uint8_t *map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ck_assert(map != MAP_FAILED);
  ck_assert_int_eq(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
  for (size_t i = 0; i < NVEC; i++) {
    const vec *v = &vectors[i];
    ep_arena *a = ep_arena_new(NULL);
    for (size_t k = 0; k <= v->len; k++) {
      uint8_t *p = map + pg - k;
      memcpy(p, v->bytes, k);
      ep_term t;
      size_t pos = 0;
      int r = ep_decode(a, p, k, &pos, &t, NULL);
      ck_assert_int_eq(r, k == v->len ? 0 : EP_EINCOMPLETE);
      /* and a corrupted last byte never reads further either */
      if (k) {
        p[k - 1] ^= 0xA5;
        pos = 0;
        (void)ep_decode(a, p, k, &pos, &t, NULL);
      }
    }
    ep_arena_free(a);
  }
  munmap(map, (size_t)pg * 2);
}
END_TEST

/* --- allocation failure ------------------------------------------------------- */

START_TEST(allocation_failure_at_every_step) {
  ep_failmem fm;
  ep_failmem_init(&fm);
  /* a term that needs several arena chunks and a grown decoder stack */
  ep_arena *ref = ep_arena_new(NULL);
  ep_buf src = EP_BUF_INIT;
  ep_term deep = ep_nil();
  for (int i = 0; i < 200; i++) deep = EP_LIST(ref, deep, ep_binary(ref, "0123456789abcdef0123456789", 26));
  ep_term big = EP_TUPLE(ref, deep, ep_atom("x"), EP_MAP(ref, ep_int(1), ep_float(2.5)));
  ck_assert_int_eq(ep_encode(&src, big), 0);
  ep_buf zsrc = EP_BUF_INIT;
  ck_assert_int_eq(ep_encode_compressed(&zsrc, big, 6), 0);
  ck_assert_int_eq(zsrc.data[1], 80);
  const struct {
    const uint8_t *b;
    size_t n;
  } inputs[] = {{src.data, src.len}, {zsrc.data, zsrc.len}};
  for (size_t in = 0; in < 2; in++) {
    bool succeeded = false;
    for (long i = 1; i < 100000 && !succeeded; i++) {
      ep_failmem_fail_once(&fm, i);
      ep_arena *a = ep_arena_new(&fm.mem);
      if (a) {
        ep_term t;
        size_t pos = 0;
        int r = ep_decode(a, inputs[in].b, inputs[in].n, &pos, &t, NULL);
        ck_assert_msg(r == 0 || r == EP_ENOMEM, "fail_at %ld: %s", i, ep_err_name(r));
        if (r == 0) {
          ck_assert(ep_term_eq(t, big));
          succeeded = !ep_failmem_failed(&fm);
        }
        ep_arena_free(a);
      }
      ck_assert_int_eq(fm.live, 0);
    }
    ck_assert(succeeded);
  }
  /* encoding (plain and compressed) and copying under failure */
  for (int which = 0; which < 3; which++) {
    bool succeeded = false;
    for (long i = 1; i < 100000 && !succeeded; i++) {
      ep_failmem_fail_once(&fm, i);
      if (which < 2) {
        ep_buf b;
        ep_buf_init(&b, &fm.mem);
        int r = which ? ep_encode_compressed(&b, big, 6) : ep_encode(&b, big);
        ck_assert(r == 0 || r == EP_ENOMEM);
        if (r == 0) {
          ck_assert_int_eq(b.len, which ? zsrc.len : src.len);
          succeeded = !ep_failmem_failed(&fm);
        }
        ep_buf_free(&b);
      } else {
        ep_arena *a = ep_arena_new(&fm.mem);
        if (a) {
          ep_term c = ep_term_copy(a, big);
          if (!ep_is_none(c)) {
            ck_assert(ep_term_eq(c, big));
            succeeded = !ep_failmem_failed(&fm);
          }
          ep_arena_free(a);
        }
      }
      ck_assert_int_eq(fm.live, 0);
    }
    ck_assert(succeeded);
  }
  ep_buf_free(&src);
  ep_buf_free(&zsrc);
  ep_arena_free(ref);
}
END_TEST

/* --- hostile input -------------------------------------------------------------- */

static int dec(const uint8_t *b, size_t n, const ep_limits *lim, size_t *pos_out) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t;
  size_t pos = 0;
  int r = ep_decode(a, b, n, &pos, &t, lim);
  if (pos_out) *pos_out = pos;
  ep_arena_free(a);
  return r;
}
#define DEC(lim, ...) dec((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), lim, NULL)

START_TEST(a_million_deep_list) {
  size_t depth = 1000000, n = 1 + 5 * depth + 1 + depth;
  uint8_t *b = malloc(n), *p = b;
  *p++ = 131;
  for (size_t i = 0; i < depth; i++) *p++ = 108, *p++ = 0, *p++ = 0, *p++ = 0, *p++ = 1;
  *p++ = 106;
  for (size_t i = 0; i < depth; i++) *p++ = 106;
  size_t pos;
  ck_assert_int_eq(dec(b, n, NULL, &pos), EP_EDEPTH);
  ck_assert_int_eq(pos, 1 + 5 * (size_t)EP_LIMIT_DEPTH); /* the list that was one too deep */
  /* raised limit: decoded on the heap stack, and every walker copes */
  ep_limits lim = {0};
  lim.depth = depth + 1;
  ep_arena *a = ep_arena_new(NULL);
  ep_term t;
  pos = 0;
  ck_assert_int_eq(ep_decode(a, b, n, &pos, &t, &lim), 0);
  ck_assert_int_eq(pos, n);
  size_t d = 0;
  for (ep_term c = t; c.type == EP_T_LIST; c = c.v.items[0]) d++;
  ck_assert_int_eq(d, depth);
  ep_buf out = EP_BUF_INIT;
  ck_assert_int_eq(ep_encode(&out, t), 0);
  ck_assert_int_eq(out.len, n);
  ck_assert(memcmp(out.data, b, n) == 0);
  ep_term c = ep_term_copy(a, t);
  ck_assert(ep_term_eq(c, t));
  ck_assert_int_eq(ep_term_cmp(c, t), 0);
  ep_buf_free(&out);
  ep_arena_free(a);
  free(b);
}
END_TEST

START_TEST(huge_declared_lengths) {
  ck_assert_int_eq(DEC(NULL, 131, 108, 255, 255, 255, 255, 106), EP_ETOOBIG);
  ck_assert_int_eq(DEC(NULL, 131, 116, 255, 255, 255, 255), EP_ETOOBIG);
  ck_assert_int_eq(DEC(NULL, 131, 105, 255, 255, 255, 255), EP_ETOOBIG);
  ck_assert_int_eq(DEC(NULL, 131, 109, 255, 255, 255, 255, 1), EP_ETOOBIG);
  ck_assert_int_eq(DEC(NULL, 131, 77, 255, 255, 255, 255, 1, 1), EP_ETOOBIG);
  /* within the limit but not arrived: need more, nothing allocated for it */
  ck_assert_int_eq(DEC(NULL, 131, 108, 0, 255, 255, 255, 106), EP_EINCOMPLETE);
  ck_assert_int_eq(DEC(NULL, 131, 109, 0, 0, 1, 0, 1, 2, 3), EP_EINCOMPLETE);
  ep_limits lim = {0};
  lim.term_size = 16;
  ck_assert_int_eq(DEC(&lim, 131, 109, 0, 0, 0, 20, 1, 2, 3), EP_ETOOBIG);
  ck_assert_int_eq(DEC(&lim, 131, 109, 0, 0, 0, 3, 1, 2, 3), 0);
  /* a fun whose size field lies */
  ck_assert_int_eq(DEC(NULL, 131, 112, 0, 0, 0, 3), EP_EBADTERM);
}
END_TEST

START_TEST(zip_bombs_and_bad_streams) {
  /* refused from the header alone */
  ck_assert_int_eq(DEC(NULL, 131, 80, 255, 255, 255, 255, 120, 156), EP_EINFLATE);
  ep_limits lim = {0};
  lim.inflated_size = 1000;
  ck_assert_int_eq(DEC(&lim, 131, 80, 0, 0, 3, 233, 120, 156), EP_EINFLATE);
  /* the real stream of 20 zeros (23 bytes) under a lying header */
  ck_assert_int_eq(DEC(NULL, 131, 80, 0, 0, 0, 24, 120, 156, 203, 102, 16, 97, 192, 2, 0, 11, 88, 0, 128),
                   EP_EZLIB);
  ck_assert_int_eq(DEC(NULL, 131, 80, 0, 0, 0, 22, 120, 156, 203, 102, 16, 97, 192, 2, 0, 11, 88, 0, 128),
                   EP_EZLIB);
  /* corrupt stream, bad checksum */
  ck_assert_int_eq(DEC(NULL, 131, 80, 0, 0, 0, 23, 121, 156, 203, 102, 16, 97, 192, 2, 0, 11, 88, 0, 128),
                   EP_EZLIB);
  ck_assert_int_eq(DEC(NULL, 131, 80, 0, 0, 0, 23, 120, 156, 203, 102, 16, 97, 192, 2, 0, 11, 88, 0, 129),
                   EP_EZLIB);
  ck_assert_int_eq(DEC(NULL, 131, 80, 0, 0, 0, 0, 120, 156), EP_EBADTERM);
  /* a compressed body with a term that ends early (junk inside) */
  uint8_t body[] = {106, 106};
  uint8_t z[64];
  uLongf zl = sizeof z;
  ck_assert_int_eq(compress(z, &zl, body, 2), Z_OK);
  uint8_t in[80] = {131, 80, 0, 0, 0, 2};
  memcpy(in + 6, z, zl);
  ck_assert_int_eq(dec(in, 6 + zl, NULL, NULL), EP_EBADTERM);
  /* a real bomb: 10 MiB of zeros in ~10 KiB, header honest, limit lower */
  size_t big = 10u << 20;
  uint8_t *zeros = calloc(1, big);
  uLongf bl = compressBound(big);
  uint8_t *zb = malloc(bl + 6);
  ck_assert_int_eq(compress(zb + 6, &bl, zeros, big), Z_OK);
  zb[0] = 131, zb[1] = 80;
  ep_put32(zb + 2, (uint32_t)big);
  lim.inflated_size = 1u << 20;
  ck_assert_int_eq(dec(zb, bl + 6, &lim, NULL), EP_EINFLATE);
  free(zeros);
  free(zb);
}
END_TEST

START_TEST(atoms_bignums_and_bad_tags) {
  uint8_t b[1100];
  b[0] = 131, b[1] = 119, b[2] = 255;
  memset(b + 3, 'a', 255);
  ck_assert_int_eq(dec(b, 258, NULL, NULL), 0);
  b[1] = 118, b[2] = 1, b[3] = 0;
  memset(b + 4, 'a', 256);
  ck_assert_int_eq(dec(b, 260, NULL, NULL), EP_EATOMLEN);
  /* 256 two-byte characters: 512 bytes, within 4 * 255 bytes but too many characters */
  for (int i = 0; i < 256; i++) b[4 + 2 * i] = 0xc3, b[5 + 2 * i] = 0xa9;
  b[2] = 2, b[3] = 0;
  ck_assert_int_eq(dec(b, 516, NULL, NULL), EP_EATOMLEN);
  b[2] = 4, b[3] = 0; /* 1024 bytes: refused before they arrive */
  ck_assert_int_eq(dec(b, 4, NULL, NULL), EP_EATOMLEN);
  b[1] = 100, b[2] = 1, b[3] = 0; /* Latin-1, 256 characters */
  memset(b + 4, 'a', 256);
  ck_assert_int_eq(dec(b, 260, NULL, NULL), EP_EATOMLEN);
  ep_limits lim = {0};
  lim.atom_chars = 3;
  ck_assert_int_eq(DEC(&lim, 131, 119, 4, 'a', 'b', 'c', 'd'), EP_EATOMLEN);
  ck_assert_int_eq(DEC(&lim, 131, 119, 3, 'a', 'b', 'c'), 0);
  /* invalid UTF-8: stray continuation, overlong, surrogate, truncated */
  ck_assert_int_eq(DEC(NULL, 131, 119, 1, 0x80), EP_EUTF8);
  ck_assert_int_eq(DEC(NULL, 131, 119, 2, 0xc0, 0xaf), EP_EUTF8);
  ck_assert_int_eq(DEC(NULL, 131, 119, 3, 0xed, 0xa0, 0x80), EP_EUTF8);
  ck_assert_int_eq(DEC(NULL, 131, 119, 2, 'a', 0xe2), EP_EUTF8);
  ck_assert_int_eq(DEC(NULL, 131, 88, 97, 1), EP_EATOMTYPE); /* pid node not an atom */
  /* bignums */
  ck_assert_int_eq(DEC(NULL, 131, 111, 255, 255, 255, 255, 0), EP_EBIGNUM);
  lim = (ep_limits){0};
  lim.bignum_bytes = 8;
  ck_assert_int_eq(DEC(&lim, 131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), EP_EBIGNUM);
  /* tags */
  size_t pos;
  ck_assert_int_eq(dec((const uint8_t[]){131, 104, 2, 97, 1, 121, 0}, 7, NULL, &pos), EP_ELOCAL);
  ck_assert_int_eq(pos, 5);
  ck_assert_int_eq(dec((const uint8_t[]){131, 104, 1, 255}, 4, NULL, &pos), EP_EBADTAG);
  ck_assert_int_eq(pos, 3);
  ck_assert_int_eq(DEC(NULL, 131, 82, 0), EP_EBADTAG); /* ATOM_CACHE_REF outside a dist header */
  ck_assert_int_eq(DEC(NULL, 130, 106), EP_EVERSION);
  ck_assert_int_eq(DEC(NULL, 130), EP_EVERSION);
  ck_assert_int_eq(DEC(NULL, 131, 70, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0), EP_EBADFLOAT);
  ck_assert_int_eq(DEC(NULL, 131, 70, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1), EP_EBADFLOAT);
  ck_assert_int_eq(DEC(NULL, 131, 77, 0, 0, 0, 1, 9, 0), EP_EBITS);
  ck_assert_int_eq(DEC(NULL, 131, 77, 0, 0, 0, 1, 0, 0), EP_EBITS);
  ck_assert_int_eq(DEC(NULL, 131, 77, 0, 0, 0, 0, 8), EP_EBITS);
  ck_assert_int_eq(DEC(NULL, 131, 90, 0, 0, 119, 1, 'a', 0, 0, 0, 1), EP_EBADTERM);
  ck_assert_int_eq(DEC(NULL, 131, 90, 0, 6, 119, 1, 'a', 0, 0, 0, 1), EP_EBADTERM);
  ck_assert_int_eq(DEC(NULL, 131, 113, 119, 1, 'm', 119, 1, 'f', 98, 0, 0, 0, 1), EP_EBADTERM);
  ep_arena *a = ep_arena_new(NULL);
  ep_term t;
  ck_assert_int_eq(ep_decode(NULL, (const uint8_t[]){131, 106}, 2, &pos, &t, NULL), EP_EINVAL);
  pos = 3;
  ck_assert_int_eq(ep_decode(a, (const uint8_t[]){131, 106}, 2, &pos, &t, NULL), EP_EINVAL);
  ep_arena_free(a);
}
END_TEST

START_TEST(fun_size_must_match) {
  uint8_t f[] = {FUN_BYTES};
  /* size one too small: the free variable runs past the fun's end */
  f[5]--;
  ck_assert_int_eq(dec(f, sizeof f, NULL, NULL), EP_EBADTERM);
  f[5] += 2;
  ck_assert_int_eq(dec(f, sizeof f, NULL, NULL), EP_EINCOMPLETE);
  uint8_t g[sizeof f + 1];
  memcpy(g, f, sizeof f);
  g[sizeof f] = 106; /* now the byte exists but is not the fun's */
  ck_assert_int_eq(dec(g, sizeof g, NULL, NULL), EP_EBADTERM);
  /* module that is not an atom */
  uint8_t h[] = {FUN_BYTES};
  h[31] = 97;
  ck_assert_int_eq(dec(h, sizeof h, NULL, NULL), EP_EATOMTYPE);
}
END_TEST

START_TEST(trailing_bytes_and_positions) {
  const uint8_t two[] = {131, 97, 1, 131, 104, 1, 106, 0xEE};
  ep_arena *a = ep_arena_new(NULL);
  ep_term t;
  size_t pos = 0;
  ck_assert_int_eq(ep_decode(a, two, sizeof two, &pos, &t, NULL), 0);
  ck_assert_int_eq(pos, 3);
  ck_assert_int_eq(ep_decode(a, two, sizeof two, &pos, &t, NULL), 0);
  ck_assert_int_eq(pos, 7);
  ck_assert(ep_is_record(EP_TUPLE(a, ep_nil()), "x", 1) == false);
  ck_assert_int_eq(t.type, EP_T_TUPLE);
  ck_assert_int_eq(ep_decode(a, two, sizeof two, &pos, &t, NULL), EP_EVERSION);
  ck_assert_int_eq(pos, 7);
  /* body decoding from an offset */
  pos = 4;
  ck_assert_int_eq(ep_decode_body(a, two, sizeof two, &pos, &t, NULL), 0);
  ck_assert_int_eq(pos, 7);
  /* error position points at the offending byte */
  pos = 0;
  ck_assert_int_eq(ep_decode(a, (const uint8_t[]){131, 108, 0, 0, 0, 2, 97, 1, 200, 106}, 10, &pos, &t, NULL),
                   EP_EBADTAG);
  ck_assert_int_eq(pos, 8);
  ep_arena_free(a);
}
END_TEST

/* --- order and copy ---------------------------------------------------------------- */

START_TEST(standard_order) {
  ep_arena *a = ep_arena_new(NULL);
  uint8_t two64[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
  ep_term ordered[] = {
      ep_float(-1e300),
      ep_big(a, true, two64, 9),
      ep_int(INT64_MIN),
      ep_int(-1),
      ep_float(-0.5),
      ep_int(0),
      ep_float(0.5),
      ep_int(1),
      ep_float(1.5),
      ep_int(INT64_MAX),
      ep_float(1.8446744073709552e19 / 2 * 1.5),
      ep_big(a, false, two64, 9),
      ep_float(1e300),
      ep_atom("a"),
      ep_atom("ab"),
      ep_atom("b"),
      ep_ref(a, "a@b", 1, 3, (uint32_t[]){1, 2, 3}),
      dec1(a, find_vec("new_fun")),
      ep_export_fun(a, ep_atom("m"), ep_atom("f"), 1),
      ep_port(a, "a@b", 1, 1),
      ep_pid(a, "a@b", 1, 0, 1),
      ep_pid(a, "a@b", 2, 0, 1),
      EP_TUPLE(a, ep_int(9)),
      EP_TUPLE(a, ep_int(1), ep_int(1)),
      EP_MAP(a, ep_atom("z"), ep_int(1)),
      EP_MAP(a, ep_int(1), ep_int(1), ep_int(2), ep_int(1)),
      EP_MAP(a, ep_int(2), ep_int(1), ep_int(1), ep_int(2)),
      ep_nil(),
      EP_LIST(a, ep_int(1)),
      ep_string(a, "\x01\x02"),
      EP_LIST(a, ep_int(1), ep_int(3)),
      ep_list_improper(a, 1, (ep_term[]){ep_int(2)}, ep_atom("t")),
      EP_LIST(a, ep_int(2)),
      ep_binary(a, "", 0),
      ep_bitstr(a, "\x80", 1, 1),
      ep_binary(a, "\x80", 1),
      ep_binary(a, "\x80\x00", 2),
      ep_binary(a, "\x81", 1),
  };
  size_t n = sizeof ordered / sizeof ordered[0];
  for (size_t i = 0; i < n; i++) {
    ck_assert(!ep_is_none(ordered[i]));
    for (size_t j = 0; j < n; j++) {
      int c = ep_term_cmp(ordered[i], ordered[j]);
      int want = i < j ? -1 : i > j ? 1 : 0;
      ck_assert_msg((c > 0) - (c < 0) == want, "cmp(#%zu, #%zu) = %d", i, j, c);
    }
  }
  /* floats against bignums and int64 edges compare exactly */
  ck_assert_int_eq(ep_term_cmp(ep_float(18446744073709551616.0), ep_big(a, false, two64, 9)), 0);
  ck_assert_int_eq(ep_term_cmp(ep_float(-18446744073709551616.0), ep_big(a, true, two64, 9)), 0);
  ck_assert_int_lt(ep_term_cmp(ep_float(9223372036854774784.0), ep_int(INT64_MAX)), 0); /* 2^63 - 1024 */
  ck_assert_int_gt(ep_term_cmp(ep_float(9223372036854775808.0), ep_int(INT64_MAX)), 0);
  ck_assert_int_eq(ep_term_cmp(ep_float(-9223372036854775808.0), ep_int(INT64_MIN)), 0);
  ck_assert_int_eq(ep_term_cmp(ep_float(-0.0), ep_int(0)), 0);
  /* 1 == 1.0 in the standard order; maps with them as keys differ */
  ck_assert_int_eq(ep_term_cmp(ep_int(1), ep_float(1.0)), 0);
  ck_assert_int_ne(ep_term_cmp(EP_MAP(a, ep_int(1), ep_nil()), EP_MAP(a, ep_float(1.0), ep_nil())), 0);
  /* a STRING and the same LIST are equal */
  ck_assert_int_eq(ep_term_cmp(ep_string(a, "ab"), EP_LIST(a, ep_int('a'), ep_int('b'))), 0);
  /* maps equal whatever their stored order */
  ep_term m1 = EP_MAP(a, ep_atom("a"), ep_int(1), ep_atom("b"), EP_TUPLE(a, ep_int(2)));
  ep_term m2 = EP_MAP(a, ep_atom("b"), EP_TUPLE(a, ep_int(2)), ep_atom("a"), ep_int(1));
  ck_assert(ep_term_eq(m1, m2));
  ck_assert_int_eq(ep_term_cmp(m1, m2), 0);
  ep_arena_free(a);
}
END_TEST

START_TEST(copy_outlives_its_source) {
  ep_arena *a = ep_arena_new(NULL), *b = ep_arena_new(NULL);
  const vec *v = find_vec("nested_mix");
  ep_term t = dec1(a, v), f = dec1(a, find_vec("new_fun")), e = dec1(a, find_vec("export"));
  ep_term all = EP_TUPLE(a, t, f, e, ep_ref(a, "n@h", 2, 2, (uint32_t[]){5, 6}), ep_port(a, "n@h", 9, 1));
  ep_term c = ep_term_copy(b, all);
  ep_buf before = EP_BUF_INIT, after = EP_BUF_INIT;
  ck_assert_int_eq(ep_encode(&before, all), 0);
  ep_arena_free(a);
  ck_assert_int_eq(ep_encode(&after, c), 0);
  ck_assert_int_eq(before.len, after.len);
  ck_assert(memcmp(before.data, after.data, before.len) == 0);
  ep_buf_free(&before);
  ep_buf_free(&after);
  ep_arena_free(b);
}
END_TEST

START_TEST(maps_in_map_keys_nested_deep) {
  /* #{#{#{... => 1} => 1} => 1}, 100,000 maps deep through their keys:
   * equality, order and copy must not exhaust the C stack. */
  size_t depth = 100000, n = 1 + 5 * depth + 1 + 2 * depth;
  uint8_t *b = malloc(n), *p = b;
  *p++ = 131;
  for (size_t i = 0; i < depth; i++) *p++ = 116, *p++ = 0, *p++ = 0, *p++ = 0, *p++ = 1;
  *p++ = 106;
  for (size_t i = 0; i < depth; i++) *p++ = 97, *p++ = 1;
  ep_limits lim = {0};
  lim.depth = depth + 1;
  ep_arena *a = ep_arena_new(NULL);
  ep_term t, u;
  size_t pos = 0;
  ck_assert_int_eq(ep_decode(a, b, n, &pos, &t, &lim), 0);
  pos = 0;
  ck_assert_int_eq(ep_decode(a, b, n, &pos, &u, &lim), 0);
  ck_assert(ep_term_eq(t, u));
  ck_assert_int_eq(ep_term_cmp(t, u), 0);
  ck_assert(ep_term_eq(ep_term_copy(a, t), t));
  b[1 + 5 * depth + 2] = 2; /* the innermost map's value differs */
  pos = 0;
  ck_assert_int_eq(ep_decode(a, b, n, &pos, &u, &lim), 0);
  ck_assert(!ep_term_eq(t, u));
  ck_assert_int_ne(ep_term_cmp(t, u), 0);
  ep_arena_free(a);
  free(b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("etf");
  TCase *tc = tcase_create("codec");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, every_vector_decodes_and_reencodes);
  tcase_add_test(tc, decoded_values_are_right);
  tcase_add_test(tc, built_terms_encode_like_the_beam);
  tcase_add_test(tc, compressed_round_trip_and_fallback);
  tcase_add_test(tc, every_proper_prefix_needs_more);
  tcase_add_test(tc, no_read_past_the_end);
  tcase_add_test(tc, allocation_failure_at_every_step);
  tcase_add_test(tc, a_million_deep_list);
  tcase_add_test(tc, huge_declared_lengths);
  tcase_add_test(tc, zip_bombs_and_bad_streams);
  tcase_add_test(tc, atoms_bignums_and_bad_tags);
  tcase_add_test(tc, fun_size_must_match);
  tcase_add_test(tc, trailing_bytes_and_positions);
  tcase_add_test(tc, standard_order);
  tcase_add_test(tc, copy_outlives_its_source);
  tcase_add_test(tc, maps_in_map_keys_nested_deep);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
