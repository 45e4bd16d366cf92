/* Term constructors and accessors: ownership, normalisation, NONE propagation. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_failmem.h"
#include "ep_term.h"
#include "ep_term_ops_int.h"

START_TEST(builds_call_tuple_in_one_line) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t = EP_TUPLE(a, ep_atom("call"), ep_atom("lists"), ep_atom("seq"), EP_LIST(a, ep_int(1), ep_int(10)));
  ck_assert(ep_is_record(t, "call", 4));
  ck_assert(ep_atom_eq(t.v.items[2], "seq"));
  ck_assert_int_eq(ep_list_len(t.v.items[3]), 2);
  ck_assert_int_eq(ep_list_at(t.v.items[3], 1).v.i, 10);
  ck_assert_int_eq(ep_list_tail(t.v.items[3]).type, EP_T_NIL);
  ep_arena_free(a);
}
END_TEST

START_TEST(none_propagates) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t = EP_TUPLE(a, ep_atom("x"), EP_LIST(a, ep_none()));
  ck_assert(ep_is_none(t));
  ep_arena_free(a);
}
END_TEST

START_TEST(big_normalises_to_int) {
  ep_arena *a = ep_arena_new(NULL);
  uint8_t le[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
  ep_term t = ep_big(a, true, le, 9);
  ck_assert_int_eq(t.type, EP_T_INT);
  ck_assert_int_eq(t.v.i, -1);
  uint8_t min[8] = {0, 0, 0, 0, 0, 0, 0, 0x80};
  t = ep_big(a, true, min, 8);
  ck_assert_int_eq(t.type, EP_T_INT);
  ck_assert(t.v.i == INT64_MIN);
  t = ep_big(a, false, min, 8);
  ck_assert_int_eq(t.type, EP_T_BIG);
  ck_assert_int_eq(t.n, 8);
  t = ep_uint64(a, UINT64_MAX);
  ck_assert_int_eq(t.type, EP_T_BIG);
  ep_arena_free(a);
}
END_TEST

START_TEST(strings_compact_or_codepoints) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term s = ep_string(a, "h\xc3\xa9llo");
  ck_assert_int_eq(s.type, EP_T_STRING);
  ck_assert_int_eq(s.n, 5);
  ck_assert_int_eq(ep_list_at(s, 1).v.i, 0xe9);
  ep_term u = ep_string(a, "\xe2\x82\xac!");
  ck_assert_int_eq(u.type, EP_T_LIST);
  ck_assert_int_eq(ep_list_at(u, 0).v.i, 0x20ac);
  const char *txt;
  size_t n;
  ck_assert_int_eq(ep_get_text(a, u, &txt, &n), 0);
  ck_assert_str_eq(txt, "\xe2\x82\xac!");
  ck_assert(ep_is_none(ep_string(a, "\xff")));
  ck_assert_int_eq(ep_string(a, "").type, EP_T_NIL);
  ep_arena_free(a);
}
END_TEST

START_TEST(bitstr_masks_unused_bits) {
  ep_arena *a = ep_arena_new(NULL);
  uint8_t b[2] = {0xff, 0xff};
  ep_term t = ep_bitstr(a, b, 2, 3);
  ck_assert_int_eq(t.type, EP_T_BITSTR);
  ck_assert_int_eq(t.v.bytes[1], 0xe0);
  ck_assert_int_eq(t.aux, 3);
  ck_assert_int_eq(ep_bitstr(a, b, 2, 8).type, EP_T_BINARY);
  ep_arena_free(a);
}
END_TEST

START_TEST(arena_large_and_small) {
  ep_arena *a = ep_arena_new(NULL);
  for (int i = 0; i < 10000; i++) ck_assert_ptr_nonnull(ep_arena_alloc(a, (size_t)(i % 97) + 1));
  uint8_t *big = ep_arena_alloc(a, 5 << 20);
  ck_assert_ptr_nonnull(big);
  memset(big, 1, 5 << 20);
  ck_assert_ptr_null(ep_arena_alloc(a, SIZE_MAX));
  ep_arena_reset(a);
  ck_assert_int_eq(ep_arena_used(a), 0);
  ck_assert_ptr_nonnull(ep_arena_alloc(a, 10));
  ep_arena_free(a);
}
END_TEST

/* After i allocations every later one fails. */
START_TEST(allocation_failure_at_every_step) {
  ep_failmem fm;
  ep_failmem_init(&fm);
  for (int i = 0; i < 8; i++) {
    ep_failmem_fail_from(&fm, i + 1);
    ep_arena *a = ep_arena_new(&fm.mem);
    if (!a) continue;
    ep_term t = EP_TUPLE(a, ep_atom("a"), ep_binary(a, "xyz", 3), ep_string(a, "abc"));
    ck_assert(ep_is_none(t) || ep_is_record(t, "a", 3));
    ep_arena_free(a);
  }
}
END_TEST

/* A pair of equal terms (maps built in different orders) and a third that
 * differs only at its very end, shaped so that =:= and the standard order
 * allocate: nesting deeper than the on-stack frames, maps whose keys are
 * sorted (and matched, some keys being maps), lists with different tails. */
static void ops_terms(ep_arena *a, ep_term *x, ep_term *y, ep_term *z) {
  ep_term deep = ep_atom("leaf");
  for (int i = 0; i < 300; i++) deep = EP_TUPLE(a, ep_int(i), deep);
  ep_term kx[20], ky[20];
  for (int i = 0; i < 10; i++) {
    ep_term k = i == 3 ? EP_MAP(a, ep_atom("in"), ep_int(i)) : ep_int(100 - i);
    kx[2 * i] = k, kx[2 * i + 1] = ep_int(i);
    ky[2 * (9 - i)] = k, ky[2 * (9 - i) + 1] = ep_int(i);
  }
  ep_term mx = ep_map(a, 10, kx), my = ep_map(a, 10, ky);
  ep_term l1 = ep_list_improper(a, 2, (ep_term[]){ep_int(1), ep_int(2)}, ep_atom("a"));
  ep_term l2 = ep_list_improper(a, 3, (ep_term[]){ep_int(1), ep_int(2), ep_int(3)}, ep_atom("a"));
  *x = EP_TUPLE(a, deep, mx, EP_LIST(a, l1, l2), ep_atom("end"));
  *y = EP_TUPLE(a, deep, my, EP_LIST(a, l1, l2), ep_atom("end"));
  *z = EP_TUPLE(a, deep, my, EP_LIST(a, l1, l2), ep_atom("enf"));
}

/* ep__term_eq / ep__term_cmp with the i-th allocation failing, for every i
 * until one run meets no failure: each run gives the right answer or
 * EP_ENOMEM, and frees everything it took on either path. */
START_TEST(eq_and_cmp_allocation_failure) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term x, y, z;
  ops_terms(a, &x, &y, &z);
  ck_assert(ep_term_eq(x, y));
  ck_assert(!ep_term_eq(x, z));
  ck_assert_int_eq(ep_term_cmp(x, y), 0);
  ck_assert_int_lt(ep_term_cmp(x, z), 0);
  ep_failmem fm;
  ep_failmem_init(&fm);
  for (int from = 0; from < 2; from++) {
    for (int op = 0; op < 3; op++) {
      long i;
      for (i = 1; i < 1000; i++) {
        if (from) ep_failmem_fail_from(&fm, i);
        else ep_failmem_fail_once(&fm, i);
        int rc, order = 99;
        bool eq = true;
        if (op == 0) rc = ep__term_eq(&fm.mem, x, y, &eq);
        else if (op == 1) rc = ep__term_cmp(&fm.mem, x, y, &order);
        else rc = ep__term_cmp(&fm.mem, y, z, &order);
        ck_assert_int_eq(fm.live, 0);
        if (!ep_failmem_failed(&fm)) {
          ck_assert_int_eq(rc, 0);
          break;
        }
        ck_assert_int_eq(rc, EP_ENOMEM); /* a failure is never an answer */
        if (op == 0) ck_assert(!eq);
        else ck_assert_int_eq(order, 0);
      }
      ck_assert_int_gt(i, 1); /* the terms did make them allocate */
      ck_assert_int_lt(i, 1000);
      bool eq = false;
      int order = 99;
      ep_failmem_fail_once(&fm, 0);
      if (op == 0) ck_assert(ep__term_eq(&fm.mem, x, y, &eq) == 0 && eq);
      if (op == 1) ck_assert(ep__term_cmp(&fm.mem, x, y, &order) == 0 && order == 0);
      if (op == 2) ck_assert(ep__term_cmp(&fm.mem, y, z, &order) == 0 && order < 0);
      ck_assert_int_eq(fm.live, 0);
    }
  }
  ep_arena_free(a);
}
END_TEST

START_TEST(errors_have_names_and_messages) {
  ck_assert_str_eq(ep_err_name(EP_EAUTH), "EP_EAUTH");
  ck_assert_str_eq(ep_strerror(EP_EINCOMPLETE), "need more bytes");
  ck_assert(!ep_is_fatal(EP_EINCOMPLETE));
  ck_assert(ep_is_fatal(EP_EBADTAG));
  ck_assert_str_eq(ep_err_name(-9999), "EP_EUNKNOWN");
}
END_TEST

int main(void) {
  Suite *s = suite_create("term");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, builds_call_tuple_in_one_line);
  tcase_add_test(tc, none_propagates);
  tcase_add_test(tc, big_normalises_to_int);
  tcase_add_test(tc, strings_compact_or_codepoints);
  tcase_add_test(tc, bitstr_masks_unused_bits);
  tcase_add_test(tc, arena_large_and_small);
  tcase_add_test(tc, allocation_failure_at_every_step);
  tcase_add_test(tc, errors_have_names_and_messages);
  tcase_add_test(tc, eq_and_cmp_allocation_failure);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? 1 : 0;
}
