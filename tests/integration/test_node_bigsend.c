/* Large binaries sent to a real erl: a send on an idle connection writes
 * them straight from the sender's memory (what the socket does not take at
 * once is copied and queued). They must arrive intact and in order: just
 * below, at and above the threshold, 1 MiB, 64 MiB, several in one term,
 * bit binaries, small sends in between, back-to-back bursts, and bursts
 * into a full socket (the target stopped with SIGSTOP), with the sender's
 * buffer overwritten as soon as each send returns.
 *
 * The target runs a sink that answers every message M with
 * {got, S(M)}, S replacing each binary by {bin, Size, crc32} (a bit binary
 * by {bits, BitSize, crc32 of it padded with zero bits}); the test builds
 * the same summaries locally and compares them in order. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_limits.h"
#include "ep_node.h"
#include "ep_testworld.h"
#include "ep_text.h"

#define MAXMSG 256

static ep_testworld W; /* W.a: expected summaries, the terms sent */

/* What went to the sink and what came back. */
static struct {
  ep_arena *rx; /* summaries received */
  ep_proc *me;
  ep_term want[MAXMSG], got[MAXMSG];
  size_t nwant, ngot;
  bool stopped; /* the target, by SIGSTOP */
} T;

static void on_msg(ep_proc *p, const ep_msg *m, void *ud) {
  (void)p, (void)ud;
  if (m->kind != EP_MSG_SEND || T.ngot == MAXMSG) return;
  ck_assert_msg(ep_is_record(m->msg, "got", 2), "unexpected %s", ep_print_str(T.rx, m->msg));
  T.got[T.ngot++] = ep_term_copy(T.rx, m->msg.v.items[1]);
}

/* Evaluates Erlang expressions on the target with bindings. */
static ep_term eval_on(const char *exprs, ep_term bindings) {
  return ep_testworld_eval(&W, "target", exprs, bindings);
}

static void setup(void) {
  memset(&T, 0, sizeof T);
  ep_testworld_up(&W, "bigsend");
  T.rx = ep_arena_new(NULL);
  ck_assert_int_eq(ep_proc_new(W.node, "collector", on_msg, NULL, &T.me), 0);
  ck_assert_int_eq(ep_node_ping_sync(W.node, "target", 10000), 0);
  eval_on("S = fun S(B) when is_binary(B) -> {bin, byte_size(B), erlang:crc32(B)};"
          "        S(B) when is_bitstring(B) ->"
          "          Pad = 8 - bit_size(B) rem 8, {bits, bit_size(B), erlang:crc32(<<B/bitstring, 0:Pad>>)};"
          "        S(T) when is_tuple(T) -> list_to_tuple([S(E) || E <- tuple_to_list(T)]);"
          "        S(L) when is_list(L) -> [S(E) || E <- L];"
          "        S(M) when is_map(M) -> maps:map(fun(_, V) -> S(V) end, M);"
          "        S(X) -> X end,"
          "register(sink, spawn(fun() -> L = fun L() -> receive M -> Me ! {got, S(M)}, L() end end, L() end)).",
          EP_LIST(W.a, EP_TUPLE(W.a, ep_atom("Me"), ep_proc_pid(T.me))));
}

static void teardown(void) {
  if (T.stopped) kill(W.target_pid, SIGCONT);
  ep_testworld_down(&W);
  ep_arena_free(T.rx);
}

/* The summary the sink computes, built locally. */
static ep_term summary(ep_term t) {
  ep_arena *a = W.a;
  switch (t.type) {
    case EP_T_BINARY:
      return EP_TUPLE(a, ep_atom("bin"), ep_int(t.n), ep_int((int64_t)crc32(0, t.v.bytes, t.n)));
    case EP_T_BITSTR: {
      if (t.aux == 8) return EP_TUPLE(a, ep_atom("bin"), ep_int(t.n), ep_int((int64_t)crc32(0, t.v.bytes, t.n)));
      uLong c = crc32(0, t.v.bytes, t.n - 1);
      uint8_t last = t.v.bytes[t.n - 1] & (uint8_t)(0xFFu << (8 - t.aux));
      c = crc32(c, &last, 1);
      return EP_TUPLE(a, ep_atom("bits"), ep_int((int64_t)(t.n - 1) * 8 + t.aux), ep_int((int64_t)c));
    }
    case EP_T_TUPLE: {
      ep_term *it;
      ep_term r = ep_tuple_new(a, t.n, &it);
      for (uint32_t i = 0; i < t.n; i++) it[i] = summary(t.v.items[i]);
      return r;
    }
    case EP_T_LIST: {
      ep_term *it;
      ep_term r = ep_list_new(a, t.n, &it);
      for (uint32_t i = 0; i < t.n; i++) it[i] = summary(t.v.items[i]);
      return r;
    }
    case EP_T_MAP: {
      ep_term *kv;
      ep_term r = ep_map_new(a, t.n, &kv);
      for (uint32_t i = 0; i < 2 * t.n; i++) kv[i] = i % 2 ? summary(t.v.items[i]) : t.v.items[i];
      return r;
    }
    default:
      return t;
  }
}

/* Sends msg to the sink and records what it must answer. The summary is
 * taken before the send: the caller may overwrite its memory after. */
static void send(ep_term msg) {
  ck_assert_uint_lt(T.nwant, MAXMSG);
  T.want[T.nwant++] = summary(msg);
  int r = ep_node_send_named(W.node, T.me, "target", "sink", msg);
  ck_assert_msg(r == 0, "send: %s", ep_strerror(r));
}

static bool drained(void *ud) {
  (void)ud;
  return ep_node_queued(W.node, "target") == 0;
}
static bool all_back(void *ud) {
  (void)ud;
  return T.ngot >= T.nwant;
}
/* False at the first look, true from the second: ep_node_run_until looks
 * before the loop runs, then before each poll; so the loop runs one turn,
 * whose poll does not block (the wait is over), and the call returns. */
static bool after_one_look(void *ud) { return ++*(int *)ud > 1; }

/* One turn of the node's loop: what it can write now (the socket takes it
 * or not) is written, without waiting for a period of time. */
static void run_one_turn(void) {
  int looks = 0;
  ck_assert_int_eq(ep_node_run_until(W.node, after_one_look, &looks, 10000), 0);
}

static void expect_all(void) {
  ck_assert_int_eq(ep_node_run_until(W.node, all_back, NULL, 90000), 0);
  ck_assert_uint_eq(T.ngot, T.nwant);
  for (size_t i = 0; i < T.nwant; i++)
    ck_assert_msg(ep_term_eq(T.got[i], T.want[i]), "message %zu: got %s, want %s", i, ep_print_str(W.a, T.got[i]),
                  ep_print_str(W.a, T.want[i]));
  ck_assert(ep_node_is_connected(W.node, "target"));
}

/* Pseudo-random bytes, different for every seed. */
static uint8_t *fill(uint8_t *p, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    p[i] = (uint8_t)x;
  }
  return p;
}

static ep_term bin_of(const uint8_t *p, size_t n) {
  ep_term t = ep_none();
  t.type = EP_T_BINARY;
  t.n = (uint32_t)n;
  t.v.bytes = p; /* not copied: the send must not need it after it returns */
  return t;
}

START_TEST(sizes_around_the_threshold_one_and_sixty_four_mib) {
  size_t sizes[] = {EP_SEND_GATHER_MIN - 1, EP_SEND_GATHER_MIN, EP_SEND_GATHER_MIN + 1, (size_t)1 << 20,
                    (size_t)64 << 20};
  uint8_t *buf = malloc((size_t)64 << 20);
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    send(bin_of(fill(buf, sizes[i], (uint32_t)i), sizes[i]));
    if (sizes[i] == (size_t)64 << 20) {
      /* Written in part straight away (the socket takes some of it), the
       * rest copied and queued. */
      size_t q = ep_node_queued(W.node, "target");
      ck_assert_uint_gt(q, 0);
      ck_assert_uint_lt(q, sizes[i]);
    }
    memset(buf, 0xEE, sizes[i]); /* the sender's memory is its own again */
    send(EP_TUPLE(W.a, ep_atom("small"), ep_int((int64_t)i)));
    ck_assert_int_eq(ep_node_run_until(W.node, drained, NULL, 60000), 0);
  }
  free(buf);
  expect_all();
}
END_TEST

START_TEST(several_in_one_term_and_bit_binaries) {
  size_t n = (size_t)300 << 10;
  uint8_t *b = malloc(6 * n);
  for (uint32_t i = 0; i < 6; i++) fill(b + i * n, n, 100 + i);
  for (unsigned bits = 1; bits <= 8; bits++) {
    ep_term bs = ep_none();
    bs.type = EP_T_BITSTR;
    bs.n = (uint32_t)n;
    bs.aux = (uint8_t)bits;
    bs.v.bytes = b + 5 * n;
    send(EP_TUPLE(W.a, ep_atom("many"), bin_of(b, n), ep_int(bits), bin_of(b + n, n), bin_of(b + 2 * n, 10),
                  EP_LIST(W.a, bin_of(b + 3 * n, n), bs, ep_atom("x")), EP_MAP(W.a, ep_atom("k"), bin_of(b + 4 * n, n))));
    ck_assert_int_eq(ep_node_run_until(W.node, drained, NULL, 30000), 0);
  }
  /* more large binaries in one message than segments to describe them */
  ep_term items[20];
  for (int i = 0; i < 20; i++) items[i] = bin_of(b + (size_t)i * (n / 4), EP_SEND_GATHER_MIN + (size_t)i);
  send(ep_tuple(W.a, 20, items));
  send(ep_list(W.a, 20, items));
  free(b);
  expect_all();
}
END_TEST

/* Sends one after the other without letting the loop run: the first goes
 * out (partly) at once, the others queue behind it, in order. */
START_TEST(back_to_back_burst) {
  size_t n = (size_t)1 << 20;
  uint8_t *b = malloc(n);
  for (uint32_t i = 0; i < 32; i++) {
    send(bin_of(fill(b, n, 1000 + i), n));
    if (i % 4 == 0) send(EP_TUPLE(W.a, ep_atom("small"), ep_int(i)));
    memset(b, 0, n);
  }
  free(b);
  expect_all();
}
END_TEST

/* The target stopped: the socket fills, sends on the idle connection are
 * written in part or not at all (EAGAIN) and the rest waits; nothing is
 * lost or reordered once it runs again. */
START_TEST(bursts_into_a_full_socket) {
  size_t n = (size_t)1 << 20;
  uint8_t *b = malloc(4 * n);
  ck_assert_int_eq(kill(W.target_pid, SIGSTOP), 0);
  T.stopped = true;
  for (uint32_t i = 0; i < 24; i++) {
    size_t len = i % 3 == 2 ? 4 * n : n - i;
    send(bin_of(fill(b, len, 2000 + i), len));
    memset(b, 0x55, len);
    send(EP_TUPLE(W.a, ep_atom("small"), ep_int(i)));
    /* let the loop write what it can into the full socket */
    run_one_turn();
  }
  ck_assert_uint_gt(ep_node_queued(W.node, "target"), 0);
  ck_assert_int_eq(kill(W.target_pid, SIGCONT), 0);
  T.stopped = false;
  ck_assert_int_eq(ep_node_run_until(W.node, drained, NULL, 60000), 0);
  /* and again on the drained connection, repeatedly stopped and resumed */
  for (uint32_t r = 0; r < 3; r++) {
    ck_assert_int_eq(kill(W.target_pid, SIGSTOP), 0);
    T.stopped = true;
    for (uint32_t i = 0; i < 6; i++) {
      send(bin_of(fill(b, 4 * n, 3000 + r * 10 + i), 4 * n));
      memset(b, 0x66, 4 * n);
    }
    ck_assert_int_eq(kill(W.target_pid, SIGCONT), 0);
    T.stopped = false;
    ck_assert_int_eq(ep_node_run_until(W.node, drained, NULL, 60000), 0);
  }
  free(b);
  expect_all();
}
END_TEST

/* ep_node_send_lent: buffers stay the sender's until done runs, and only then.
 * Each lent buffer is its own; done overwrites it (so a write still
 * reading it would deliver garbage and fail the comparison) and frees it. */
#define NLENT 24
static struct {
  uint8_t *buf[NLENT];
  size_t len[NLENT];
  int done[NLENT], status[NLENT];
  bool in_send; /* done must never run inside ep_node_send_lent */
  int called_inside;
  int ndone;
} L;

static void on_lent_done(ep_node *n, int status, void *ud) {
  (void)n;
  size_t i = (size_t)(uintptr_t)ud;
  if (L.in_send) L.called_inside++;
  L.done[i]++;
  L.status[i] = status;
  L.ndone++;
  memset(L.buf[i], 0xA5, L.len[i]);
  free(L.buf[i]);
  L.buf[i] = NULL;
}
static bool all_released(void *ud) { return L.ndone >= (int)(uintptr_t)ud; }

static void send_lent(size_t i, size_t len, uint32_t seed) {
  L.buf[i] = fill(malloc(len), len, seed);
  L.len[i] = len;
  ep_term msg = EP_TUPLE(W.a, ep_atom("lent"), ep_int((int64_t)i), bin_of(L.buf[i], len));
  ck_assert_uint_lt(T.nwant, MAXMSG);
  T.want[T.nwant++] = summary(msg);
  L.in_send = true;
  int r = ep_node_send_lent(W.node, T.me, ep_tuple(W.a, 2, (ep_term[]){ep_atom("sink"), ep_atom(W.target)}), msg,
                       on_lent_done, (void *)(uintptr_t)i);
  L.in_send = false;
  ck_assert_msg(r == 0, "send_lent: %s", ep_strerror(r));
}

/* Into a full socket (target stopped): what the socket does not take is
 * written later from the lender's memory, and released after; small sends
 * and plain sends in between keep their order. */
START_TEST(lent_sends_into_a_full_socket) {
  memset(&L, 0, sizeof L);
  ck_assert_int_eq(kill(W.target_pid, SIGSTOP), 0);
  T.stopped = true;
  for (uint32_t i = 0; i < NLENT; i++) {
    send_lent(i, i % 3 == 2 ? (size_t)4 << 20 : ((size_t)1 << 20) - i, 5000 + i);
    send(EP_TUPLE(W.a, ep_atom("small"), ep_int(i)));
    run_one_turn();
  }
  /* Something is still lent and unwritten while the target is stopped. */
  ck_assert_int_lt(L.ndone, NLENT);
  ck_assert_int_eq(kill(W.target_pid, SIGCONT), 0);
  T.stopped = false;
  ck_assert_int_eq(ep_node_run_until(W.node, all_released, (void *)(uintptr_t)NLENT, 60000), 0);
  expect_all();
  for (int i = 0; i < NLENT; i++) {
    ck_assert_int_eq(L.done[i], 1);
    ck_assert_int_eq(L.status[i], 0);
  }
  ck_assert_int_eq(L.called_inside, 0);
}
END_TEST

/* The connection dies with a lent message half written: done still runs,
 * once, with the error. */
START_TEST(lent_send_released_with_the_error_when_the_node_dies) {
  memset(&L, 0, sizeof L);
  ck_assert_int_eq(kill(W.target_pid, SIGSTOP), 0);
  T.stopped = true;
  send_lent(0, (size_t)32 << 20, 7);
  ck_assert_int_eq(L.ndone, 0);
  ck_assert_int_eq(kill(W.target_pid, SIGKILL), 0);
  T.stopped = false;
  ck_assert_int_eq(ep_node_run_until(W.node, all_released, (void *)(uintptr_t)1, 20000), 0);
  ck_assert_int_eq(L.done[0], 1);
  ck_assert_int_ne(L.status[0], 0);
  ck_assert_int_eq(L.called_inside, 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("node_bigsend");
  TCase *tc = tcase_create("real erl");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, sizes_around_the_threshold_one_and_sixty_four_mib);
  tcase_add_test(tc, several_in_one_term_and_bit_binaries);
  tcase_add_test(tc, back_to_back_burst);
  tcase_add_test(tc, bursts_into_a_full_socket);
  tcase_add_test(tc, lent_sends_into_a_full_socket);
  tcase_add_test(tc, lent_send_released_with_the_error_when_the_node_dies);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
