/* The distribution handshake state machines, both roles, in memory: known
 * digests, every split of the byte streams, every status, every refusal. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_dflags.h"
#include "ep_error.h"
#include "ep_failmem.h"
#include "ep_handshake.h"
#include "ep_limits.h"

#define COOKIE "COOKIEABC"

/* Known answers from a real erl (OTP 25):
 *   erlang:md5(["COOKIEABC", integer_to_list(3000000000)])
 *   erlang:md5(["secret", integer_to_list(0)])
 *   erlang:md5(["x", integer_to_list(4294967295)]) */
START_TEST(digest_known_answers) {
  static const uint8_t d1[16] = {7, 102, 175, 226, 229, 136, 230, 21, 34, 114, 134, 254, 215, 227, 45, 96};
  static const uint8_t d2[16] = {23, 94, 199, 122, 127, 99, 8, 37, 144, 152, 125, 13, 139, 5, 26, 255};
  static const uint8_t d3[16] = {70, 47, 77, 96, 74, 120, 211, 204, 240, 97, 189, 14, 241, 126, 40, 155};
  uint8_t out[16];
  ep_hs_digest((const uint8_t *)"COOKIEABC", 9, 3000000000u, out);
  ck_assert_mem_eq(out, d1, 16);
  ep_hs_digest((const uint8_t *)"secret", 6, 0, out);
  ck_assert_mem_eq(out, d2, 16);
  ep_hs_digest((const uint8_t *)"x", 1, 4294967295u, out);
  ck_assert_mem_eq(out, d3, 16);
}
END_TEST


/* Hand-written acceptor messages for the initiator. */
static size_t put_frame(uint8_t *p, const void *m, size_t n) {
  p[0] = (uint8_t)(n >> 8);
  p[1] = (uint8_t)n;
  memcpy(p + 2, m, n);
  return n + 2;
}

static ep_hs_config cfg_init(const char *cookie) {
  ep_hs_config c = {0};
  c.role = EP_HS_INITIATOR;
  c.this_node = "ctl@localhost";
  c.creation = 0x11223344u;
  c.flags = EP_DFLAGS_OURS;
  c.required_flags = EP_DFLAGS_REQUIRED;
  c.cookie = (const uint8_t *)cookie;
  c.cookie_len = strlen(cookie);
  c.expected_peer = "peer@localhost";
  c.challenge = 123456789u;
  return c;
}

static ep_hs_config cfg_acc(const char *cookie) {
  ep_hs_config c = {0};
  c.role = EP_HS_ACCEPTOR;
  c.this_node = "peer@localhost";
  c.creation = 0x55667788u;
  c.flags = EP_DFLAGS_OURS | EP_DFLAG_PUBLISHED;
  c.required_flags = EP_DFLAGS_REQUIRED;
  c.cookie = (const uint8_t *)cookie;
  c.cookie_len = strlen(cookie);
  c.challenge = 3000000000u;
  return c;
}

/* Moves at most `chunk` bytes (0 = all) of a's output into b. Splits are
 * chosen by `split`: 0 everything, 1 one byte at a time, 2 random sizes. */
static unsigned rng = 12345;
static size_t pick(int split, size_t avail) {
  if (split == 0) return avail;
  if (split == 1) return avail ? 1 : 0;
  rng = rng * 1103515245u + 12345u;
  size_t n = 1 + (rng >> 8) % 7;
  return n < avail ? n : avail;
}

static int pump(ep_handshake *from, ep_handshake *to, int split) {
  const uint8_t *d;
  size_t n;
  ep_hs_output(from, &d, &n);
  if (n == 0) return 0;
  size_t k = pick(split, n);
  size_t used = 0;
  uint8_t tmp[4096];
  memcpy(tmp, d, k);
  ep_hs_output_ack(from, k);
  /* a decision may stop consumption: feed the rest after deciding */
  while (used < k) {
    size_t c = 0;
    int rc = ep_hs_recv(to, tmp + used, k - used, &c);
    used += c;
    if (rc) return rc;
    if (ep_hs_status_get(to) != EP_HS_RUNNING) {
      ck_assert_uint_eq(used, k); /* nothing should follow a decision point here */
      break;
    }
  }
  return 1;
}

typedef struct run_opts {
  int split;
  ep_hs_decision acc_decision; /* at the acceptor's DECIDE */
  ep_hs_decision init_alive;   /* at the initiator's DECIDE (alive) */
} run_opts;

/* Runs both machines to completion; returns the pair for inspection. */
static void run(ep_handshake *i, ep_handshake *a, run_opts o) {
  for (int steps = 0; steps < 100000; steps++) {
    if (ep_hs_status_get(a) == EP_HS_DECIDE) ck_assert_int_eq(ep_hs_decide(a, o.acc_decision), 0);
    if (ep_hs_status_get(i) == EP_HS_DECIDE) ck_assert_int_eq(ep_hs_decide(i, o.init_alive), 0);
    int p1 = pump(i, a, o.split);
    int p2 = pump(a, i, o.split);
    if (p1 <= 0 && p2 <= 0 && ep_hs_status_get(a) != EP_HS_DECIDE && ep_hs_status_get(i) != EP_HS_DECIDE)
      return;
  }
  ck_abort_msg("handshake does not terminate");
}

static void pair(ep_hs_config ci, ep_hs_config ca, ep_handshake **i, ep_handshake **a) {
  ck_assert_int_eq(ep_hs_new(NULL, &ci, i), 0);
  ck_assert_int_eq(ep_hs_new(NULL, &ca, a), 0);
}

static void check_done(ep_handshake *i, ep_handshake *a) {
  ck_assert_int_eq(ep_hs_status_get(i), EP_HS_DONE);
  ck_assert_int_eq(ep_hs_status_get(a), EP_HS_DONE);
  ck_assert_str_eq(ep_hs_peer_name(i), "peer@localhost");
  ck_assert_str_eq(ep_hs_peer_name(a), "ctl@localhost");
  ck_assert_uint_eq(ep_hs_peer_creation(i), 0x55667788u);
  ck_assert_uint_eq(ep_hs_peer_creation(a), 0x11223344u);
  ck_assert(ep_hs_flags(i) == EP_DFLAGS_OURS);
  ck_assert(ep_hs_flags(a) == EP_DFLAGS_OURS);
  ck_assert(!(ep_hs_flags(i) & EP_DFLAG_PUBLISHED));
}

START_TEST(succeeds_on_every_split) {
  for (int split = 0; split < 3; split++) {
    for (int rep = 0; rep < (split == 2 ? 200 : 1); rep++) {
      ep_handshake *i, *a;
      pair(cfg_init(COOKIE), cfg_acc(COOKIE), &i, &a);
      run(i, a, (run_opts){split, EP_HS_OK, EP_HS_ALIVE_TRUE});
      check_done(i, a);
      ep_hs_free(i);
      ep_hs_free(a);
    }
  }
}
END_TEST

/* Inside TLS (inet_tls_dist) every message has a 4-byte length: the same
 * machine, the header size from the config; its first bytes are the
 * 4-byte length of send_name, and every split still works. */
START_TEST(four_byte_headers_for_tls) {
  for (int split = 0; split < 3; split++) {
    ep_hs_config ci = cfg_init(COOKIE), ca = cfg_acc(COOKIE);
    ci.len_size = ca.len_size = 4;
    ep_handshake *i, *a;
    pair(ci, ca, &i, &a);
    const uint8_t *d;
    size_t n;
    ep_hs_output(i, &d, &n);
    ck_assert_uint_eq(n, 4 + 15 + strlen("ctl@localhost"));
    ck_assert_uint_eq(ep_get32(d), 15 + strlen("ctl@localhost"));
    ck_assert_int_eq(d[4], 'N');
    run(i, a, (run_opts){split, EP_HS_OK, EP_HS_ALIVE_TRUE});
    check_done(i, a);
    ep_hs_free(i);
    ep_hs_free(a);
  }
  /* a 2-byte initiator against a 4-byte acceptor fails, never hangs on a
   * bogus length: 00 14 4E 00 read as a 4-byte length is past the limit */
  ep_hs_config ci = cfg_init(COOKIE), ca = cfg_acc(COOKIE);
  ca.len_size = 4;
  ep_handshake *i, *a;
  pair(ci, ca, &i, &a);
  const uint8_t *d;
  size_t n, used = 0;
  ep_hs_output(i, &d, &n);
  ck_assert_int_eq(ep_hs_recv(a, d, n, &used), EP_EHANDSHAKE);
  ep_hs_free(i);
  ep_hs_free(a);
}
END_TEST

/* Every cut point of every message from each side, explicitly: the
 * acceptor's whole output in two pieces at each offset. */
START_TEST(succeeds_on_every_two_piece_cut) {
  for (size_t cut = 0; cut < 200; cut++) {
    ep_handshake *i, *a;
    pair(cfg_init(COOKIE), cfg_acc(COOKIE), &i, &a);
    const uint8_t *d;
    size_t n, c;
    ep_hs_output(i, &d, &n);
    size_t k = cut < n ? cut : n;
    ck_assert_int_eq(ep_hs_recv(a, d, k, &c), 0);
    ck_assert_uint_eq(c, k);
    ck_assert_int_eq(ep_hs_recv(a, d + k, n - k, &c), 0);
    ck_assert_uint_eq(c, n - k);
    ep_hs_output_ack(i, n);
    ck_assert_int_eq(ep_hs_decide(a, EP_HS_OK), 0);
    ep_hs_output(a, &d, &n); /* status + challenge in one buffer */
    k = cut < n ? cut : n;
    ck_assert_int_eq(ep_hs_recv(i, d, k, &c), 0);
    ck_assert_int_eq(ep_hs_recv(i, d + k, n - k, &c), 0);
    ep_hs_output_ack(a, n);
    ep_hs_output(i, &d, &n);
    k = cut < n ? cut : n;
    ck_assert_int_eq(ep_hs_recv(a, d, k, &c), 0);
    ck_assert_int_eq(ep_hs_recv(a, d + k, n - k, &c), 0);
    ep_hs_output_ack(i, n);
    ep_hs_output(a, &d, &n);
    k = cut < n ? cut : n;
    ck_assert_int_eq(ep_hs_recv(i, d, k, &c), 0);
    ck_assert_int_eq(ep_hs_recv(i, d + k, n - k, &c), 0);
    ep_hs_output_ack(a, n);
    check_done(i, a);
    ep_hs_free(i);
    ep_hs_free(a);
  }
}
END_TEST

START_TEST(ok_simultaneous) {
  ep_handshake *i, *a;
  pair(cfg_init(COOKIE), cfg_acc(COOKIE), &i, &a);
  run(i, a, (run_opts){1, EP_HS_OK_SIMULTANEOUS, EP_HS_ALIVE_TRUE});
  check_done(i, a);
  ep_hs_free(i);
  ep_hs_free(a);
}
END_TEST

START_TEST(alive_true_continues) {
  ep_handshake *i, *a;
  pair(cfg_init(COOKIE), cfg_acc(COOKIE), &i, &a);
  run(i, a, (run_opts){2, EP_HS_ALIVE, EP_HS_ALIVE_TRUE});
  check_done(i, a);
  ep_hs_free(i);
  ep_hs_free(a);
}
END_TEST

START_TEST(alive_false_aborts_both) {
  ep_handshake *i, *a;
  pair(cfg_init(COOKIE), cfg_acc(COOKIE), &i, &a);
  run(i, a, (run_opts){0, EP_HS_ALIVE, EP_HS_ALIVE_FALSE});
  ck_assert_int_eq(ep_hs_status_get(i), EP_HS_FAILED);
  ck_assert_int_eq(ep_hs_error(i), EP_EALIVE);
  ck_assert_int_eq(ep_hs_status_get(a), EP_HS_FAILED);
  ck_assert_int_eq(ep_hs_error(a), EP_EALIVE);
  ep_hs_free(i);
  ep_hs_free(a);
}
END_TEST

START_TEST(nok_and_not_allowed) {
  ep_hs_decision ds[2] = {EP_HS_NOK, EP_HS_NOT_ALLOWED};
  int es[2] = {EP_ENOK, EP_ENOTALLOWED};
  for (int k = 0; k < 2; k++) {
    ep_handshake *i, *a;
    pair(cfg_init(COOKIE), cfg_acc(COOKIE), &i, &a);
    run(i, a, (run_opts){1, ds[k], EP_HS_ALIVE_TRUE});
    ck_assert_int_eq(ep_hs_error(i), es[k]);
    ck_assert_int_eq(ep_hs_error(a), es[k]);
    ep_hs_free(i);
    ep_hs_free(a);
  }
}
END_TEST

START_TEST(named_for_name_me) {
  ep_hs_config ci = cfg_init(COOKIE);
  ci.this_node = "localhost"; /* host only */
  ci.flags |= EP_DFLAG_NAME_ME;
  ep_handshake *i, *a;
  pair(ci, cfg_acc(COOKIE), &i, &a);
  const uint8_t *d;
  size_t n, c;
  ep_hs_output(i, &d, &n);
  ck_assert_int_eq(ep_hs_recv(a, d, n, &c), 0);
  ep_hs_output_ack(i, n);
  ck_assert_int_eq(ep_hs_status_get(a), EP_HS_DECIDE);
  ck_assert_str_eq(ep_hs_peer_name(a), "localhost");
  ck_assert(ep_hs_peer_flags(a) & EP_DFLAG_NAME_ME);
  ck_assert_int_eq(ep_hs_set_named(a, "gen42@localhost", 77), 0);
  ck_assert_int_eq(ep_hs_decide(a, EP_HS_NAMED), 0);
  run(i, a, (run_opts){1, EP_HS_OK, EP_HS_ALIVE_TRUE});
  ck_assert_int_eq(ep_hs_status_get(i), EP_HS_DONE);
  ck_assert_int_eq(ep_hs_status_get(a), EP_HS_DONE);
  ck_assert_str_eq(ep_hs_this_name(i), "gen42@localhost");
  ck_assert_uint_eq(ep_hs_this_creation(i), 77);
  ck_assert_str_eq(ep_hs_peer_name(a), "gen42@localhost");
  ck_assert_uint_eq(ep_hs_peer_creation(a), 77);
  ep_hs_free(i);
  ep_hs_free(a);
}
END_TEST

/* A NAME_ME initiator answered anything but NAMED (a runtime that knows
 * nothing of NAME_ME) is refused, and the machine does not stay in DECIDE. */
START_TEST(name_me_without_a_name_is_refused) {
  ep_hs_decision ds[4] = {EP_HS_OK, EP_HS_OK_SIMULTANEOUS, EP_HS_ALIVE, EP_HS_NAMED};
  for (int k = 0; k < 4; k++) {
    ep_hs_config ci = cfg_init(COOKIE);
    ci.this_node = "localhost";
    ci.flags |= EP_DFLAG_NAME_ME;
    ep_handshake *i, *a;
    pair(ci, cfg_acc(COOKIE), &i, &a);
    const uint8_t *d;
    size_t n, c;
    ep_hs_output(i, &d, &n);
    ck_assert_int_eq(ep_hs_recv(a, d, n, &c), 0);
    ep_hs_output_ack(i, n);
    ck_assert_int_eq(ep_hs_decide(a, ds[k]), EP_EINVAL);
    ck_assert_int_eq(ep_hs_status_get(a), EP_HS_FAILED);
    ck_assert_int_eq(ep_hs_error(a), EP_ENOTALLOWED);
    ep_hs_output(a, &d, &n);
    ck_assert_int_eq(ep_hs_recv(i, d, n, &c), EP_ENOTALLOWED);
    ep_hs_free(i);
    ep_hs_free(a);
  }
  /* a decision for the other role leaves it deciding */
  ep_handshake *i, *a;
  pair(cfg_init(COOKIE), cfg_acc(COOKIE), &i, &a);
  const uint8_t *d;
  size_t n, c;
  ep_hs_output(i, &d, &n);
  ck_assert_int_eq(ep_hs_recv(a, d, n, &c), 0);
  ck_assert_int_eq(ep_hs_decide(a, EP_HS_ALIVE_TRUE), EP_EINVAL);
  ck_assert_int_eq(ep_hs_decide(a, EP_HS_NAMED), EP_EINVAL); /* not a NAME_ME peer */
  ck_assert_int_eq(ep_hs_status_get(a), EP_HS_DECIDE);
  ep_hs_free(i);
  ep_hs_free(a);
}
END_TEST

START_TEST(named_on_wrong_host_is_refused) {
  ep_hs_config ci = cfg_init(COOKIE);
  ci.this_node = "undefined@hostA";
  ci.flags |= EP_DFLAG_NAME_ME;
  ep_handshake *i;
  ck_assert_int_eq(ep_hs_new(NULL, &ci, &i), 0);
  const uint8_t *d;
  size_t n, c;
  ep_hs_output(i, &d, &n);
  /* the name message carries the host only, creation 0 */
  ck_assert_uint_eq(n, 2 + 15 + 5);
  ck_assert_mem_eq(d + 17, "hostA", 5);
  ck_assert_mem_eq(d + 11, "\0\0\0\0", 4);
  uint8_t m[64] = "snamed:";
  m[7] = 0, m[8] = 7;
  memcpy(m + 9, "x@hostB", 7);
  memset(m + 16, 0, 4);
  uint8_t buf[80];
  n = put_frame(buf, m, 20);
  ck_assert_int_eq(ep_hs_recv(i, buf, n, &c), EP_EHANDSHAKE);
  ep_hs_free(i);
  /* and a plain "sok" is a protocol error for a NAME_ME initiator */
  ck_assert_int_eq(ep_hs_new(NULL, &ci, &i), 0);
  n = put_frame(buf, "sok", 3);
  ck_assert_int_eq(ep_hs_recv(i, buf, n, &c), EP_EHANDSHAKE);
  ep_hs_free(i);
}
END_TEST

START_TEST(wrong_cookie_at_acceptor) {
  ep_handshake *i, *a;
  pair(cfg_init("wrong"), cfg_acc(COOKIE), &i, &a);
  run(i, a, (run_opts){1, EP_HS_OK, EP_HS_ALIVE_TRUE});
  ck_assert_int_eq(ep_hs_error(a), EP_EAUTH);
  ck_assert_int_eq(ep_hs_status_get(i), EP_HS_RUNNING); /* never gets an ack */
  const uint8_t *d;
  size_t n;
  ep_hs_output(a, &d, &n);
  ck_assert_uint_eq(n, 0); /* no ack sent */
  ep_hs_free(i);
  ep_hs_free(a);
}
END_TEST

/* The initiator checks the acceptor's digest too: corrupt the ack. */
START_TEST(wrong_digest_at_initiator) {
  ep_handshake *i, *a;
  pair(cfg_init(COOKIE), cfg_acc(COOKIE), &i, &a);
  const uint8_t *d;
  size_t n, c;
  for (int step = 0; step < 2; step++) {
    ep_hs_output(i, &d, &n);
    ck_assert_int_eq(ep_hs_recv(a, d, n, &c), 0);
    ep_hs_output_ack(i, n);
    if (step == 0) ck_assert_int_eq(ep_hs_decide(a, EP_HS_OK), 0);
    ep_hs_output(a, &d, &n);
    if (step == 1) {
      uint8_t ack[64];
      ck_assert_uint_eq(n, 19);
      memcpy(ack, d, n);
      ack[10] ^= 1;
      ck_assert_int_eq(ep_hs_recv(i, ack, n, &c), EP_EAUTH);
      ck_assert_int_eq(ep_hs_error(i), EP_EAUTH);
      ck_assert_int_eq(ep_hs_status_get(i), EP_HS_FAILED);
    } else {
      ck_assert_int_eq(ep_hs_recv(i, d, n, &c), 0);
      ep_hs_output_ack(a, n);
    }
  }
  ep_hs_free(i);
  ep_hs_free(a);
}
END_TEST

static size_t challenge_msg(uint8_t *p, uint64_t flags, uint32_t ch, const char *name, size_t trailing) {
  uint8_t m[512];
  size_t nl = strlen(name);
  m[0] = 'N';
  for (int k = 0; k < 8; k++) m[1 + k] = (uint8_t)(flags >> (56 - 8 * k));
  m[9] = (uint8_t)(ch >> 24), m[10] = (uint8_t)(ch >> 16), m[11] = (uint8_t)(ch >> 8), m[12] = (uint8_t)ch;
  memset(m + 13, 0, 4);
  m[17] = (uint8_t)(nl >> 8), m[18] = (uint8_t)nl;
  memcpy(m + 19, name, nl);
  memset(m + 19 + nl, 0xEE, trailing);
  return put_frame(p, m, 19 + nl + trailing);
}

START_TEST(wrong_node_name) {
  ep_handshake *i;
  ep_hs_config ci = cfg_init(COOKIE);
  ck_assert_int_eq(ep_hs_new(NULL, &ci, &i), 0);
  uint8_t buf[1024];
  size_t n = put_frame(buf, "sok", 3);
  n += challenge_msg(buf + n, EP_DFLAGS_OURS, 1, "other@localhost", 0);
  size_t c;
  ck_assert_int_eq(ep_hs_recv(i, buf, n, &c), EP_EWRONGNODE);
  ck_assert_int_eq(ep_hs_error(i), EP_EWRONGNODE);
  ep_hs_free(i);
}
END_TEST

START_TEST(challenge_trailing_bytes_ignored) {
  ep_handshake *i;
  ep_hs_config ci = cfg_init(COOKIE);
  ck_assert_int_eq(ep_hs_new(NULL, &ci, &i), 0);
  uint8_t buf[1024];
  size_t n = put_frame(buf, "sok", 3);
  n += challenge_msg(buf + n, EP_DFLAG_MANDATORY_25_DIGEST | EP_DFLAG_UTF8_ATOMS, 1, "peer@localhost", 5);
  size_t c;
  ck_assert_int_eq(ep_hs_recv(i, buf, n, &c), 0);
  ck_assert_uint_eq(c, n);
  ck_assert_int_eq(ep_hs_status_get(i), EP_HS_RUNNING);
  /* MANDATORY_25_DIGEST alone stands for the OTP 25 mandatory set */
  ck_assert((ep_hs_peer_flags(i) & EP_DFLAGS_REQUIRED) == EP_DFLAGS_REQUIRED);
  ep_hs_free(i);
}
END_TEST

START_TEST(missing_flags_initiator) {
  ep_handshake *i;
  ep_hs_config ci = cfg_init(COOKIE);
  ck_assert_int_eq(ep_hs_new(NULL, &ci, &i), 0);
  uint8_t buf[1024];
  size_t n = put_frame(buf, "sok", 3);
  n += challenge_msg(buf + n, EP_DFLAGS_REQUIRED & ~EP_DFLAG_MAP_TAG, 1, "peer@localhost", 0);
  size_t c;
  ck_assert_int_eq(ep_hs_recv(i, buf, n, &c), EP_EFLAGS);
  const uint8_t *d;
  ep_hs_output_ack(i, 1000);
  ep_hs_output(i, &d, &n);
  ck_assert_uint_eq(n, 0); /* no reply sent */
  ep_hs_free(i);
}
END_TEST

START_TEST(missing_flags_acceptor) {
  ep_hs_config ci = cfg_init(COOKIE);
  ci.flags = EP_DFLAG_EXTENDED_REFERENCES | EP_DFLAG_HANDSHAKE_23;
  ep_handshake *i, *a;
  pair(ci, cfg_acc(COOKIE), &i, &a);
  run(i, a, (run_opts){1, EP_HS_OK, EP_HS_ALIVE_TRUE});
  ck_assert_int_eq(ep_hs_error(a), EP_EFLAGS);
  ck_assert_int_eq(ep_hs_error(i), EP_ENOTALLOWED); /* told as OTP tells */
  ep_hs_free(i);
  ep_hs_free(a);
}
END_TEST

static int feed_acceptor(const uint8_t *buf, size_t n, size_t *consumed) {
  ep_handshake *a;
  ep_hs_config ca = cfg_acc(COOKIE);
  ck_assert_int_eq(ep_hs_new(NULL, &ca, &a), 0);
  size_t c = 0;
  int rc = ep_hs_recv(a, buf, n, &c);
  if (consumed) *consumed = c;
  ck_assert_int_eq(rc, ep_hs_error(a));
  ep_hs_free(a);
  return rc;
}

START_TEST(garbage_and_oversized) {
  uint8_t buf[4096];
  /* zero length */
  memset(buf, 0, 4);
  ck_assert_int_eq(feed_acceptor(buf, 4, NULL), EP_EHANDSHAKE);
  /* over the limit */
  buf[0] = (uint8_t)((EP_LIMIT_HANDSHAKE_MSG + 1) >> 8);
  buf[1] = (uint8_t)(EP_LIMIT_HANDSHAKE_MSG + 1);
  ck_assert_int_eq(feed_acceptor(buf, 2, NULL), EP_EHANDSHAKE);
  /* exactly the limit, valid header, is fine until complete */
  buf[0] = (uint8_t)(EP_LIMIT_HANDSHAKE_MSG >> 8);
  buf[1] = (uint8_t)EP_LIMIT_HANDSHAKE_MSG;
  buf[2] = 'N';
  ck_assert_int_eq(feed_acceptor(buf, 3, NULL), 0);
  /* wrong tag */
  size_t n = put_frame(buf, "Xhello", 6);
  ck_assert_int_eq(feed_acceptor(buf, n, NULL), EP_EHANDSHAKE);
  /* name length past the message */
  uint8_t m[32] = {'N', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50, 'a', '@', 'b'};
  n = put_frame(buf, m, 18);
  ck_assert_int_eq(feed_acceptor(buf, n, NULL), EP_EHANDSHAKE);
  /* name without '@' and without NAME_ME */
  uint8_t m2[32] = {'N', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'};
  n = put_frame(buf, m2, 18);
  ck_assert_int_eq(feed_acceptor(buf, n, NULL), EP_EHANDSHAKE);
  /* old version 5 'n' message */
  uint8_t m3[32] = {'n', 0, 5, 0, 0, 0, 0, 'a', '@', 'b'};
  n = put_frame(buf, m3, 10);
  ck_assert_int_eq(feed_acceptor(buf, n, NULL), EP_EHANDSHAKE);
  /* random garbage never crashes */
  unsigned s = 99;
  for (int r = 0; r < 2000; r++) {
    size_t len = 1 + r % 64;
    for (size_t k = 0; k < len; k++) {
      s = s * 1103515245u + 12345u;
      buf[k] = (uint8_t)(s >> 16);
    }
    (void)feed_acceptor(buf, len, NULL);
  }
}
END_TEST

/* The name message's trailing bytes are ignored (the notes say so). */
START_TEST(name_trailing_bytes_ignored) {
  uint8_t m[64] = {'N'};
  uint64_t f = EP_DFLAGS_OURS;
  for (int k = 0; k < 8; k++) m[1 + k] = (uint8_t)(f >> (56 - 8 * k));
  m[13] = 0, m[14] = 5;
  memcpy(m + 15, "a@b.c", 5);
  memcpy(m + 20, "junk", 4);
  uint8_t buf[64];
  size_t n = put_frame(buf, m, 24), c;
  ck_assert_int_eq(feed_acceptor(buf, n, &c), 0);
  ck_assert_uint_eq(c, n);
}
END_TEST

START_TEST(bad_status_strings) {
  const char *bad[] = {"sokk", "s", "sunknown", "sOK", "strue", "snamed:"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    ep_handshake *i;
    ep_hs_config ci = cfg_init(COOKIE);
    ck_assert_int_eq(ep_hs_new(NULL, &ci, &i), 0);
    uint8_t buf[64];
    size_t n = put_frame(buf, bad[k], strlen(bad[k])), c;
    ck_assert_int_eq(ep_hs_recv(i, buf, n, &c), EP_EHANDSHAKE);
    ep_hs_free(i);
  }
}
END_TEST

/* The first distribution frame may arrive in the same read as the ack:
 * the handshake consumes exactly the ack. */
START_TEST(ack_and_first_frame_in_one_buffer) {
  ep_handshake *i, *a;
  pair(cfg_init(COOKIE), cfg_acc(COOKIE), &i, &a);
  const uint8_t *d;
  size_t n, c;
  ep_hs_output(i, &d, &n);
  ck_assert_int_eq(ep_hs_recv(a, d, n, &c), 0);
  ep_hs_output_ack(i, n);
  ck_assert_int_eq(ep_hs_decide(a, EP_HS_OK), 0);
  ep_hs_output(a, &d, &n);
  ck_assert_int_eq(ep_hs_recv(i, d, n, &c), 0);
  ep_hs_output_ack(a, n);
  ep_hs_output(i, &d, &n);
  ck_assert_int_eq(ep_hs_recv(a, d, n, &c), 0);
  ep_hs_output_ack(i, n);
  ep_hs_output(a, &d, &n);
  uint8_t buf[128];
  memcpy(buf, d, n);
  static const uint8_t tick_and_more[] = {0, 0, 0, 0, 0, 0, 0, 1, 112};
  memcpy(buf + n, tick_and_more, sizeof tick_and_more);
  ck_assert_int_eq(ep_hs_recv(i, buf, n + sizeof tick_and_more, &c), 0);
  ck_assert_uint_eq(c, n);
  ck_assert_int_eq(ep_hs_status_get(i), EP_HS_DONE);
  /* further input is not consumed */
  ck_assert_int_eq(ep_hs_recv(i, buf + n, sizeof tick_and_more, &c), 0);
  ck_assert_uint_eq(c, 0);
  ep_hs_free(i);
  ep_hs_free(a);
}
END_TEST

START_TEST(bad_config) {
  ep_handshake *h;
  ep_hs_config c = cfg_init(COOKIE);
  c.cookie_len = 0;
  ck_assert_int_eq(ep_hs_new(NULL, &c, &h), EP_EINVAL);
  c = cfg_init(COOKIE);
  c.this_node = "nohost";
  ck_assert_int_eq(ep_hs_new(NULL, &c, &h), EP_EINVAL);
  c = cfg_init(COOKIE);
  c.expected_peer = "x@";
  ck_assert_int_eq(ep_hs_new(NULL, &c, &h), EP_EINVAL);
  c = cfg_init(COOKIE);
  ck_assert_int_eq(ep_hs_new(NULL, &c, &h), 0);
  ck_assert_int_eq(ep_hs_decide(h, EP_HS_OK), EP_EINVAL); /* not deciding now */
  ep_hs_free(h);
}
END_TEST

/* Allocation failure at the i-th allocation never crashes or leaks. */
START_TEST(allocation_failures) {
  ep_failmem fm;
  ep_failmem_init(&fm);
  for (long step = 1; step < 40; step++) {
    ep_failmem_fail_once(&fm, step);
    ep_handshake *i = NULL, *a = NULL;
    ep_hs_config ci = cfg_init(COOKIE), ca = cfg_acc(COOKIE);
    int r1 = ep_hs_new(&fm.mem, &ci, &i);
    int r2 = ep_hs_new(&fm.mem, &ca, &a);
    if (r1 == 0 && r2 == 0) {
      for (int s = 0; s < 20; s++) {
        if (ep_hs_status_get(a) == EP_HS_DECIDE) ep_hs_decide(a, EP_HS_OK);
        const uint8_t *d;
        size_t n, c;
        ep_hs_output(i, &d, &n);
        if (n) {
          ep_hs_recv(a, d, n, &c);
          ep_hs_output_ack(i, n);
        }
        ep_hs_output(a, &d, &n);
        if (n) {
          ep_hs_recv(i, d, n, &c);
          ep_hs_output_ack(a, n);
        }
      }
      if (ep_hs_status_get(i) != EP_HS_DONE) {
        ck_assert(ep_hs_error(i) == EP_ENOMEM || ep_hs_error(a) == EP_ENOMEM ||
                  ep_hs_status_get(i) == EP_HS_RUNNING);
      }
    } else {
      ck_assert(r1 == EP_ENOMEM || r2 == EP_ENOMEM);
    }
    ep_hs_free(i);
    ep_hs_free(a);
  }
}
END_TEST

Suite *hs_suite(void) {
  Suite *s = suite_create("handshake");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, digest_known_answers);
  tcase_add_test(tc, succeeds_on_every_split);
  tcase_add_test(tc, succeeds_on_every_two_piece_cut);
  tcase_add_test(tc, ok_simultaneous);
  tcase_add_test(tc, alive_true_continues);
  tcase_add_test(tc, alive_false_aborts_both);
  tcase_add_test(tc, nok_and_not_allowed);
  tcase_add_test(tc, named_for_name_me);
  tcase_add_test(tc, named_on_wrong_host_is_refused);
  tcase_add_test(tc, name_me_without_a_name_is_refused);
  tcase_add_test(tc, wrong_cookie_at_acceptor);
  tcase_add_test(tc, wrong_digest_at_initiator);
  tcase_add_test(tc, wrong_node_name);
  tcase_add_test(tc, challenge_trailing_bytes_ignored);
  tcase_add_test(tc, missing_flags_initiator);
  tcase_add_test(tc, missing_flags_acceptor);
  tcase_add_test(tc, garbage_and_oversized);
  tcase_add_test(tc, name_trailing_bytes_ignored);
  tcase_add_test(tc, bad_status_strings);
  tcase_add_test(tc, ack_and_first_frame_in_one_buffer);
  tcase_add_test(tc, bad_config);
  tcase_add_test(tc, four_byte_headers_for_tls);
  tcase_add_test(tc, allocation_failures);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return ep_check_run(hs_suite(), CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
