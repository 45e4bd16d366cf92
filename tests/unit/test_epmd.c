/* EPMD codec and registry: known byte vectors, every proper prefix is
 * "need more", malformed input gets its specific error, the server state
 * machine answers as epmd does, and allocation failures are clean. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_epmd.h"
#include "ep_epmd_registry.h"
#include "ep_error.h"
#include "ep_failmem.h"
#include "ep_limits.h"

#define B(s) ((const uint8_t *)(s))

/* ALIVE2_REQ of "foo", port 1234, normal node, versions 6..5, no extra: what
 * erl_epmd.erl sends (Len = 13 + NameLen + ExtraLen). */
static const uint8_t alive_foo[] = {0x00, 0x10, 120,  0x04, 0xd2, 77,  0,   0x00, 0x06, 0x00,
                                    0x05, 0x00, 0x03, 'f',  'o',  'o', 0x00, 0x00};
static const uint8_t port_foo[] = {0x00, 0x04, 122, 'f', 'o', 'o'};
static const uint8_t names_req[] = {0x00, 0x01, 110};

static void check_bytes(const ep_buf *b, const uint8_t *want, size_t n) {
  ck_assert_int_eq(b->err, 0);
  ck_assert_uint_eq(b->len, n);
  ck_assert(memcmp(b->data, want, n) == 0);
}

START_TEST(encoders_match_vectors) {
  ep_buf b = EP_BUF_INIT;
  ep_epmd_node n = {1234, EP_EPMD_NODE_NORMAL, 0, 6, 5, B("foo"), 3, NULL, 0};
  ck_assert_int_eq(ep_epmd_encode_alive2_req(&b, &n), 0);
  check_bytes(&b, alive_foo, sizeof alive_foo);
  b.len = 0;
  ck_assert_int_eq(ep_epmd_encode_port2_req(&b, "foo", 3), 0);
  check_bytes(&b, port_foo, sizeof port_foo);
  b.len = 0;
  ck_assert_int_eq(ep_epmd_encode_names_req(&b), 0);
  check_bytes(&b, names_req, 3);
  b.len = 0;
  ep_epmd_encode_dump_req(&b);
  ep_epmd_encode_kill_req(&b);
  ep_epmd_encode_stop_req(&b, "x", 1);
  check_bytes(&b, B("\x00\x01\x64\x00\x01\x6b\x00\x02\x73x"), 10);
  b.len = 0;
  ep_epmd_encode_alive2_resp(&b, 1, 0, 0x01020304);
  ep_epmd_encode_alive2_resp(&b, 0, 1, 0x10002);
  check_bytes(&b, B("\x76\x00\x01\x02\x03\x04\x79\x01\x00\x02"), 10);
  b.len = 0;
  ep_epmd_encode_port2_resp(&b, &n);
  check_bytes(&b, B("\x77\x00\x04\xd2\x4d\x00\x00\x06\x00\x05\x00\x03" "foo\x00\x00"), 17);
  b.len = 0;
  ep_epmd_encode_port2_resp(&b, NULL);
  check_bytes(&b, B("\x77\x01"), 2);
  b.len = 0;
  ep_epmd_encode_names_head(&b, 4369);
  ep_epmd_encode_names_line(&b, B("foo"), 3, 1234);
  check_bytes(&b, B("\x00\x00\x11\x11name foo at port 1234\n"), 26);
  /* Names the format cannot carry are refused, nothing appended. */
  b.len = 0;
  ck_assert_int_eq(ep_epmd_encode_port2_req(&b, "", 0), EP_EBADNAME);
  ck_assert_int_eq(ep_epmd_encode_port2_req(&b, "a\0b", 3), EP_EBADNAME);
  ck_assert_int_eq(ep_epmd_encode_port2_req(&b, "\xc0\x80", 2), EP_EBADNAME);
  ck_assert_uint_eq(b.len, 0);
  ep_buf_free(&b);
}
END_TEST

START_TEST(request_decoder_vectors_and_prefixes) {
  ep_epmd_request q;
  size_t pos = 0;
  ck_assert_int_eq(ep_epmd_decode_request(alive_foo, sizeof alive_foo, &pos, 0, &q), 0);
  ck_assert_uint_eq(pos, sizeof alive_foo);
  ck_assert_int_eq(q.code, EP_EPMD_ALIVE2_REQ);
  ck_assert_uint_eq(q.node.port, 1234);
  ck_assert_uint_eq(q.node.node_type, 77);
  ck_assert_uint_eq(q.node.high, 6);
  ck_assert_uint_eq(q.node.low, 5);
  ck_assert_uint_eq(q.node.name_len, 3);
  ck_assert(memcmp(q.node.name, "foo", 3) == 0);
  const struct {
    const uint8_t *b;
    size_t n;
  } all[] = {{alive_foo, sizeof alive_foo}, {port_foo, sizeof port_foo}, {names_req, 3}};
  for (size_t k = 0; k < 3; k++)
    for (size_t i = 0; i < all[k].n; i++) {
      /* Copy exactly i bytes to the heap: ASan sees any over-read. */
      uint8_t *p = malloc(i ? i : 1);
      memcpy(p, all[k].b, i);
      pos = 0;
      ck_assert_int_eq(ep_epmd_decode_request(p, i, &pos, 0, &q), EP_EINCOMPLETE);
      ck_assert_uint_eq(pos, 0);
      free(p);
    }
  /* A trailing NUL on a PORT2 name is dropped (old clients). */
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_request(B("\x00\x05zfoo\x00"), 7, &pos, 0, &q), 0);
  ck_assert_uint_eq(q.node.name_len, 3);
}
END_TEST

START_TEST(request_decoder_malformed) {
  ep_epmd_request q;
  struct {
    const char *b;
    size_t n;
    int err;
  } v[] = {
      {"\x00\x00", 2, EP_EEPMDLEN},                                   /* empty request */
      {"\xff\xff", 2, EP_EEPMDLEN},                                   /* refused before the body */
      {"\x08\x06", 2, EP_EEPMDLEN},                                   /* 2054 > 2053 */
      {"\x00\x01\x01", 3, EP_EEPMDCODE},                              /* unknown code */
      {"\x00\x01\x61", 3, EP_EEPMDCODE},                              /* old ALIVE_REQ */
      {"\x00\x05x\x00\x01\x4d\x00", 7, EP_EEPMDREQ},                  /* ALIVE2 too short */
      {"\x00\x0dx\x00\x01M\x00\x00\x06\x00\x05\x00\x09\x00\x00", 15, EP_EEPMDREQ}, /* name overruns */
      {"\x00\x10x\x00\x01M\x00\x00\x06\x00\x05\x00\x03" "abc\x00\x09", 18, EP_EEPMDREQ}, /* extra overruns */
      {"\x00\x10x\x00\x01M\x00\x00\x06\x00\x05\x00\x03" "a\x00" "c\x00\x00", 18, EP_EEPMDNAME},
      {"\x00\x01z", 3, EP_EEPMDNAME},                                 /* PORT2 without a name */
      {"\x00\x04z" "a\0" "b", 6, EP_EEPMDNAME},                        /* NUL inside */
      {"\x00\x03z\xc3\x28", 5, EP_EEPMDNAME},                         /* bad UTF-8 */
      {"\x00\x04z\xed\xa0\x80", 6, EP_EEPMDNAME},                     /* surrogate */
      {"\x00\x01s", 3, EP_EEPMDNAME},                                 /* STOP without a name */
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    size_t pos = 0;
    ck_assert_msg(ep_epmd_decode_request(B(v[i].b), v[i].n, &pos, 0, &q) == v[i].err, "vector %zu", i);
    ck_assert_uint_eq(pos, 0);
  }
  /* Names of 255 characters pass, 256 do not. */
  uint8_t req[2 + 1 + 1024];
  req[2] = 'z';
  for (int chars = 255; chars <= 256; chars++) {
    for (int i = 0; i < chars; i++) memcpy(req + 3 + 3 * i, "\xe2\x82\xac", 3); /* euro sign */
    ep_put16(req, (uint16_t)(1 + 3 * chars));
    size_t pos = 0;
    ck_assert_int_eq(ep_epmd_decode_request(req, 3 + 3 * (size_t)chars, &pos, 0, &q), chars == 255 ? 0 : EP_EEPMDNAME);
  }
}
END_TEST

START_TEST(reply_decoders) {
  size_t pos = 0;
  uint8_t r;
  uint32_t cr;
  int x;
  const uint8_t ax[] = {118, 0, 0x6a, 0x3b, 0x2c, 0x1d};
  ck_assert_int_eq(ep_epmd_decode_alive2_resp(ax, 6, &pos, &r, &cr, &x), 0);
  ck_assert_uint_eq(cr, 0x6a3b2c1d);
  ck_assert_int_eq(x, 1);
  ck_assert_uint_eq(r, 0);
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_alive2_resp(B("\x79\x01\x00\x63"), 4, &pos, &r, &cr, &x), 0);
  ck_assert_uint_eq(r, 1);
  ck_assert_uint_eq(cr, 99);
  ck_assert_int_eq(x, 0);
  for (size_t i = 0; i < 6; i++) {
    pos = 0;
    ck_assert_int_eq(ep_epmd_decode_alive2_resp(ax, i, &pos, &r, &cr, &x), EP_EINCOMPLETE);
  }
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_alive2_resp(B("w"), 1, &pos, &r, &cr, &x), EP_EEPMDREPLY);

  const uint8_t pr[] = "\x77\x00\x04\xd2\x4d\x00\x00\x06\x00\x05\x00\x03" "foo\x00\x02xy";
  ep_epmd_node n;
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_port2_resp(pr, 19, &pos, &r, &n), 0);
  ck_assert_uint_eq(pos, 19);
  ck_assert_uint_eq(n.port, 1234);
  ck_assert_uint_eq(n.extra_len, 2);
  ck_assert(memcmp(n.name, "foo", 3) == 0);
  for (size_t i = 0; i < 19; i++) {
    uint8_t *p = malloc(i ? i : 1);
    memcpy(p, pr, i);
    pos = 0;
    ck_assert_int_eq(ep_epmd_decode_port2_resp(p, i, &pos, &r, &n), EP_EINCOMPLETE);
    free(p);
  }
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_port2_resp(B("\x77\x01"), 2, &pos, &r, &n), 0);
  ck_assert_uint_eq(r, 1);
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_port2_resp(B("\x77\x00\0\0\0\0\0\0\0\0\xff\xff"), 12, &pos, &r, &n), EP_EEPMDREPLY);
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_port2_resp(B("v"), 1, &pos, &r, &n), EP_EEPMDREPLY);

  /* NAMES: head, lines, a last line without '\n' at EOF. */
  const char *txt = "\x00\x00\x11\x11name a at port 1\nname b c at port 65535\nname d at port 7";
  size_t tl = 4 + strlen(txt + 4);
  uint32_t ep;
  const uint8_t *nm;
  size_t nl;
  uint16_t pt;
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_names_head(B(txt), tl, &pos, &ep), 0);
  ck_assert_uint_eq(ep, 4369);
  ck_assert_int_eq(ep_epmd_decode_names_line(B(txt), tl, &pos, 0, &nm, &nl, &pt), 0);
  ck_assert(nl == 1 && nm[0] == 'a' && pt == 1);
  ck_assert_int_eq(ep_epmd_decode_names_line(B(txt), tl, &pos, 0, &nm, &nl, &pt), 0);
  ck_assert(nl == 3 && pt == 65535);
  ck_assert_int_eq(ep_epmd_decode_names_line(B(txt), tl, &pos, 0, &nm, &nl, &pt), EP_EINCOMPLETE);
  ck_assert_int_eq(ep_epmd_decode_names_line(B(txt), tl, &pos, 1, &nm, &nl, &pt), 0);
  ck_assert(nl == 1 && pt == 7 && pos == tl);
  const char *bad[] = {"nome a at port 1\n", "name a at port\n", "name a at port 65536\n", "name a at port 1x\n",
                       "name  at port 1\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    pos = 0;
    ck_assert_int_eq(ep_epmd_decode_names_line(B(bad[i]), strlen(bad[i]), &pos, 1, &nm, &nl, &pt), EP_EEPMDREPLY);
  }
  /* A line that never ends is refused once it is longer than any valid one. */
  static uint8_t longline[4096];
  memset(longline, 'a', sizeof longline);
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_names_line(longline, sizeof longline, &pos, 0, &nm, &nl, &pt), EP_EEPMDREPLY);

  int ok;
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_kill_resp(B("O"), 1, &pos, &ok), EP_EINCOMPLETE);
  ck_assert_int_eq(ep_epmd_decode_kill_resp(B("OK"), 2, &pos, &ok), 0);
  ck_assert_int_eq(ok, 1);
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_kill_resp(B("NO"), 2, &pos, &ok), 0);
  ck_assert_int_eq(ok, 0);
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_kill_resp(B("OX"), 2, &pos, &ok), EP_EEPMDREPLY);
  pos = 0;
  ck_assert_int_eq(ep_epmd_decode_stop_resp(B("NOEXISTSTOPPED"), 14, &pos, &ok), 0);
  ck_assert_int_eq(ok, 0);
  ck_assert_int_eq(ep_epmd_decode_stop_resp(B("NOEXISTSTOPPED"), 14, &pos, &ok), 0);
  ck_assert_int_eq(ok, 1);
}
END_TEST

/* --- registry ----------------------------------------------------------------------- */

typedef struct evlog {
  int added, removed, refused, stopped;
  ep_epmd_conn *last_owner;
} evlog;

static void on_ev(ep_epmd_reg_event_kind k, const char *name, uint16_t port, uint32_t cr, ep_epmd_conn *owner, void *ud) {
  evlog *l = ud;
  (void)name, (void)port, (void)cr;
  if (k == EP_EPMD_REG_ADDED) l->added++;
  if (k == EP_EPMD_REG_REMOVED) l->removed++;
  if (k == EP_EPMD_REG_REFUSED) l->refused++;
  if (k == EP_EPMD_REG_STOPPED) l->stopped++;
  l->last_owner = owner;
}

static ep_epmd_registry *new_reg(evlog *l, uint32_t seed, int allow_kill, int relaxed) {
  ep_epmd_registry_opts o = {0};
  o.creation_seed = seed;
  o.epmd_port = 4369;
  o.allow_kill = allow_kill;
  o.relaxed = relaxed;
  o.event = on_ev;
  o.event_ud = l;
  ep_epmd_registry *r = ep_epmd_registry_new(&o);
  ck_assert_ptr_nonnull(r);
  return r;
}

/* Feeds one request a byte at a time: every prefix must say READ. */
static int feed_bytewise(ep_epmd_conn *c, const uint8_t *b, size_t n, ep_buf *out) {
  int rc = EP_EPMD_READ;
  for (size_t i = 0; i < n; i++) {
    ck_assert_int_eq(rc, EP_EPMD_READ);
    rc = ep_epmd_conn_recv(c, b + i, 1, out);
  }
  return rc;
}

static ep_epmd_conn *register_foo(ep_epmd_registry *r, uint32_t *creation) {
  ep_epmd_conn *c = ep_epmd_conn_new(r, 1, NULL);
  ep_buf out = EP_BUF_INIT;
  ck_assert_int_eq(feed_bytewise(c, alive_foo, sizeof alive_foo, &out), EP_EPMD_KEEP);
  size_t pos = 0;
  uint8_t res;
  int x;
  ck_assert_int_eq(ep_epmd_decode_alive2_resp(out.data, out.len, &pos, &res, creation, &x), 0);
  ck_assert_int_eq(res, 0);
  ck_assert_int_eq(x, 1);
  ck_assert(ep_epmd_conn_registered(c));
  ep_buf_free(&out);
  return c;
}

START_TEST(registry_register_lookup_release) {
  evlog l = {0};
  ep_epmd_registry *r = new_reg(&l, 1000, 0, 0);
  uint32_t c1, c2;
  ep_epmd_conn *a = register_foo(r, &c1);
  ck_assert_uint_eq(c1, 1001);
  ck_assert_uint_eq(ep_epmd_registry_count(r), 1);
  /* A second registration of the name is refused: result 1, creation 99. */
  ep_epmd_conn *b = ep_epmd_conn_new(r, 1, NULL);
  ep_buf out = EP_BUF_INIT;
  ck_assert_int_eq(ep_epmd_conn_recv(b, alive_foo, sizeof alive_foo, &out), EP_EPMD_REPLY_CLOSE);
  check_bytes(&out, B("\x76\x01\x00\x00\x00\x63"), 6);
  ck_assert_int_eq(l.refused, 1);
  ep_epmd_conn_free(b);
  /* PORT2 finds it. */
  ep_epmd_conn *q = ep_epmd_conn_new(r, 0, NULL);
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(q, port_foo, sizeof port_foo, &out), EP_EPMD_REPLY_CLOSE);
  check_bytes(&out, B("\x77\x00\x04\xd2\x4d\x00\x00\x06\x00\x05\x00\x03" "foo\x00\x00"), 17);
  /* Sticky: more bytes change nothing. */
  ck_assert_int_eq(ep_epmd_conn_recv(q, B("zz"), 2, &out), EP_EPMD_REPLY_CLOSE);
  ep_epmd_conn_free(q);
  /* NAMES lists it. */
  q = ep_epmd_conn_new(r, 0, NULL);
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(q, names_req, 3, &out), EP_EPMD_REPLY_CLOSE);
  check_bytes(&out, B("\x00\x00\x11\x11name foo at port 1234\n"), 26);
  ep_epmd_conn_free(q);
  /* The connection closes: the name is gone; registering again bumps. */
  ep_epmd_conn_free(a);
  ck_assert_int_eq(l.removed, 1);
  ck_assert_uint_eq(ep_epmd_registry_count(r), 0);
  ck_assert_int_eq(ep_epmd_registry_lookup(r, B("foo"), 3, NULL, NULL), EP_ENOTREG);
  q = ep_epmd_conn_new(r, 0, NULL);
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(q, port_foo, sizeof port_foo, &out), EP_EPMD_REPLY_CLOSE);
  check_bytes(&out, B("\x77\x01"), 2);
  ep_epmd_conn_free(q);
  a = register_foo(r, &c2);
  ck_assert_uint_eq(c2, c1 + 1);
  ep_epmd_conn_free(a);
  ep_buf_free(&out);
  ep_epmd_registry_free(r);
}
END_TEST

START_TEST(registry_creation_rules) {
  evlog l = {0};
  /* The counter skips 0..3 when it wraps. */
  ep_epmd_registry *r = new_reg(&l, 0xFFFFFFFFu, 0, 0);
  uint32_t c;
  ep_epmd_conn *a = register_foo(r, &c);
  ck_assert_uint_eq(c, 4);
  /* A legacy client (highest version 5) gets ALIVE2_RESP and counter%3+1. */
  const uint8_t legacy[] = {0x00, 0x10, 120, 0x04, 0xd2, 77, 0, 0x00, 0x05, 0x00, 0x05, 0x00, 0x03, 'b', 'a', 'r', 0, 0};
  ep_epmd_conn *b = ep_epmd_conn_new(r, 1, NULL);
  ep_buf out = EP_BUF_INIT;
  ck_assert_int_eq(ep_epmd_conn_recv(b, legacy, sizeof legacy, &out), EP_EPMD_KEEP);
  ck_assert_uint_eq(out.len, 4);
  ck_assert_uint_eq(out.data[0], 121);
  ck_assert_uint_eq(ep_get16(out.data + 2), 5 % 3 + 1); /* counter 5 */
  /* Bytes after a registration end it, as on epmd. */
  ck_assert_int_eq(ep_epmd_conn_recv(b, B("x"), 1, &out), EP_EEPMDREQ);
  ck_assert(!ep_epmd_conn_registered(b));
  ck_assert_int_eq(ep_epmd_registry_lookup(r, B("bar"), 3, NULL, NULL), EP_ENOTREG);
  ep_epmd_conn_free(b);
  ep_epmd_conn_free(a);
  ep_buf_free(&out);
  ep_epmd_registry_free(r);
}
END_TEST

/* A registration with more bytes in the same read: epmd answers it, then
 * drops the node as if the extra bytes came later. */
START_TEST(registry_extra_bytes_after_alive) {
  evlog l = {0};
  ep_epmd_registry *r = new_reg(&l, 1000, 0, 0);
  uint8_t req[sizeof alive_foo + 1];
  memcpy(req, alive_foo, sizeof alive_foo);
  req[sizeof alive_foo] = 'x';
  ep_epmd_conn *c = ep_epmd_conn_new(r, 1, NULL);
  ep_buf out = EP_BUF_INIT;
  ck_assert_int_eq(ep_epmd_conn_recv(c, req, sizeof req, &out), EP_EEPMDREQ);
  ck_assert_uint_eq(out.len, 6); /* the ALIVE2_X_RESP went out first */
  ck_assert_uint_eq(out.data[0], 118);
  ck_assert_uint_eq(out.data[1], 0);
  ck_assert_int_eq(l.added, 1);
  ck_assert_int_eq(l.removed, 1);
  ck_assert_ptr_eq(l.last_owner, c);
  ck_assert(!ep_epmd_conn_registered(c));
  ck_assert_uint_eq(ep_epmd_registry_count(r), 0);
  /* The state is final: later bytes get the same answer. */
  ck_assert_int_eq(ep_epmd_conn_recv(c, B("y"), 1, &out), EP_EEPMDREQ);
  ep_epmd_conn_free(c);
  ck_assert_int_eq(l.removed, 1);
  ep_buf_free(&out);
  ep_epmd_registry_free(r);
}
END_TEST

START_TEST(registry_old_names_bounded) {
  evlog l = {0};
  ep_epmd_registry_opts o = {0};
  o.creation_seed = 100;
  o.max_old_names = 2;
  o.event = on_ev;
  o.event_ud = &l;
  ep_epmd_registry *r = ep_epmd_registry_new(&o);
  ep_buf out = EP_BUF_INIT;
  for (int i = 0; i < 10; i++) {
    uint8_t req[18];
    memcpy(req, alive_foo, sizeof req);
    req[15] = (uint8_t)('0' + i); /* "fo0".."fo9" */
    ep_epmd_conn *c = ep_epmd_conn_new(r, 1, NULL);
    out.len = 0;
    ck_assert_int_eq(ep_epmd_conn_recv(c, req, sizeof req, &out), EP_EPMD_KEEP);
    ep_epmd_conn_free(c);
  }
  ck_assert_int_eq(l.added, 10);
  ck_assert_int_eq(l.removed, 10);
  /* DUMP shows the two remembered names only. */
  ep_epmd_conn *d = ep_epmd_conn_new(r, 1, NULL);
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(d, B("\x00\x01\x64"), 3, &out), EP_EPMD_REPLY_CLOSE);
  int lines = 0;
  for (size_t i = 4; i < out.len; i++) lines += out.data[i] == 0;
  ck_assert_int_eq(lines, 2);
  ck_assert(memmem(out.data, out.len, "old/unused name <fo9>", 21) != NULL);
  ep_epmd_conn_free(d);
  ep_buf_free(&out);
  ep_epmd_registry_free(r);
}
END_TEST

START_TEST(registry_admin_requests) {
  evlog l = {0};
  ep_buf out = EP_BUF_INIT;
  /* Not allowed to kill: "NO". */
  ep_epmd_registry *r = new_reg(&l, 1, 0, 0);
  ep_epmd_conn *c = ep_epmd_conn_new(r, 1, NULL);
  ck_assert_int_eq(ep_epmd_conn_recv(c, B("\x00\x01k"), 3, &out), EP_EPMD_REPLY_CLOSE);
  check_bytes(&out, B("NO"), 2);
  ep_epmd_conn_free(c);
  /* STOP without relaxed: closed without a reply. */
  c = ep_epmd_conn_new(r, 1, NULL);
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(c, B("\x00\x04sfoo"), 6, &out), EP_EPMD_REPLY_CLOSE);
  ck_assert_uint_eq(out.len, 0);
  ep_epmd_conn_free(c);
  /* ALIVE2 and KILL from a remote peer: closed without a reply. */
  c = ep_epmd_conn_new(r, 0, NULL);
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(c, alive_foo, sizeof alive_foo, &out), EP_EPMD_REPLY_CLOSE);
  ck_assert_uint_eq(out.len, 0);
  ck_assert_uint_eq(ep_epmd_registry_count(r), 0);
  ep_epmd_conn_free(c);
  ep_epmd_registry_free(r);

  /* Allowed: "OK" when empty, "NO" with live nodes unless relaxed. */
  r = new_reg(&l, 1, 1, 0);
  uint32_t cr;
  ep_epmd_conn *a = register_foo(r, &cr);
  c = ep_epmd_conn_new(r, 1, NULL);
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(c, B("\x00\x01k"), 3, &out), EP_EPMD_REPLY_CLOSE);
  check_bytes(&out, B("NO"), 2);
  ep_epmd_conn_free(c);
  ep_epmd_conn_free(a);
  c = ep_epmd_conn_new(r, 1, NULL);
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(c, B("\x00\x01k"), 3, &out), EP_EPMD_KILL);
  check_bytes(&out, B("OK"), 2);
  ep_epmd_conn_free(c);
  ep_epmd_registry_free(r);

  /* Relaxed STOP unregisters and names the owner to close. */
  r = new_reg(&l, 1, 1, 1);
  a = register_foo(r, &cr);
  c = ep_epmd_conn_new(r, 1, NULL);
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(c, B("\x00\x04sfoo"), 6, &out), EP_EPMD_REPLY_CLOSE);
  check_bytes(&out, B("STOPPED"), 7);
  ck_assert_int_eq(l.stopped, 1);
  ck_assert_ptr_eq(l.last_owner, a);
  ck_assert(!ep_epmd_conn_registered(a));
  ep_epmd_conn_free(c);
  c = ep_epmd_conn_new(r, 1, NULL);
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(c, B("\x00\x04sfoo"), 6, &out), EP_EPMD_REPLY_CLOSE);
  check_bytes(&out, B("NOEXISTSTOPPED"), 14);
  ep_epmd_conn_free(c);
  ep_epmd_conn_free(a);
  ep_epmd_registry_free(r);
  ep_buf_free(&out);
}
END_TEST

START_TEST(registry_cuts_garbage) {
  evlog l = {0};
  ep_epmd_registry *r = new_reg(&l, 1, 0, 0);
  ep_buf out = EP_BUF_INIT;
  const struct {
    const char *b;
    size_t n;
    int err;
  } v[] = {{"\x00\x00", 2, EP_EEPMDLEN},
           {"\xff\xff", 2, EP_EEPMDLEN},
           {"\x00\x01\x01", 3, EP_EEPMDCODE},
           {"\x00\x03z\xc3\x28", 5, EP_EEPMDNAME}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    ep_epmd_conn *c = ep_epmd_conn_new(r, 1, NULL);
    out.len = 0;
    ck_assert_int_eq(ep_epmd_conn_recv(c, B(v[i].b), v[i].n, &out), v[i].err);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_int_eq(ep_epmd_conn_recv(c, B("more"), 4, &out), v[i].err);
    ep_epmd_conn_free(c);
  }
  /* A flood of bytes after a valid length is not buffered beyond the request. */
  ep_epmd_conn *c = ep_epmd_conn_new(r, 1, NULL);
  static uint8_t flood[100000];
  ep_put16(flood, 3);
  flood[2] = 'z';
  flood[3] = 'a';
  flood[4] = 'b';
  out.len = 0;
  ck_assert_int_eq(ep_epmd_conn_recv(c, flood, sizeof flood, &out), EP_EPMD_REPLY_CLOSE);
  check_bytes(&out, B("\x77\x01"), 2);
  ep_epmd_conn_free(c);
  ep_buf_free(&out);
  ep_epmd_registry_free(r);
}
END_TEST

/* --- allocation failure at the i-th allocation ------------------------------------------- */

START_TEST(registry_allocation_failures) {
  ep_failmem fm;
  ep_failmem_init(&fm);
  const uint8_t extra_req[] = {0x00, 0x12, 120, 0x04, 0xd2, 77, 0, 0x00, 0x06, 0x00,
                               0x05, 0x00, 0x03, 'f',  'o',  'o', 0x00, 0x02, 'e', 'x'};
  for (long i = 1; i < 40; i++) {
    ep_failmem_fail_once(&fm, i);
    ep_epmd_registry_opts o = {0};
    o.mem = &fm.mem;
    ep_epmd_registry *r = ep_epmd_registry_new(&o);
    if (!r) continue;
    ep_buf out;
    ep_buf_init(&out, &fm.mem);
    ep_epmd_conn *a = ep_epmd_conn_new(r, 1, NULL);
    if (a) {
      int rc = ep_epmd_conn_recv(a, extra_req, sizeof extra_req, &out);
      /* The name is free: running out of memory is EP_ENOMEM (the driver
       * cuts the client and logs why), never a refusal as if it were taken. */
      ck_assert(rc == EP_EPMD_KEEP || rc == EP_ENOMEM);
      ck_assert((rc == EP_EPMD_KEEP) == (ep_epmd_registry_count(r) == 1));
    }
    ep_epmd_conn *b = ep_epmd_conn_new(r, 1, NULL);
    if (b) {
      out.len = 0;
      out.err = 0;
      int rc = ep_epmd_conn_recv(b, names_req, 3, &out);
      ck_assert(rc == EP_EPMD_REPLY_CLOSE || rc == EP_ENOMEM);
      ep_epmd_conn_free(b);
    }
    ep_epmd_conn_free(a);
    ep_buf_free(&out);
    ep_epmd_registry_free(r);
    ck_assert_int_eq(fm.live, 0);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("epmd");
  TCase *tc = tcase_create("codec");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, encoders_match_vectors);
  tcase_add_test(tc, request_decoder_vectors_and_prefixes);
  tcase_add_test(tc, request_decoder_malformed);
  tcase_add_test(tc, reply_decoders);
  suite_add_tcase(s, tc);
  TCase *tr = tcase_create("registry");
  tcase_set_timeout(tr, 30);
  tcase_add_test(tr, registry_register_lookup_release);
  tcase_add_test(tr, registry_creation_rules);
  tcase_add_test(tr, registry_extra_bytes_after_alive);
  tcase_add_test(tr, registry_old_names_bounded);
  tcase_add_test(tr, registry_admin_requests);
  tcase_add_test(tr, registry_cuts_garbage);
  tcase_add_test(tr, registry_allocation_failures);
  suite_add_tcase(s, tr);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
