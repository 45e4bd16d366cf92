/* lib/'s call deadlines (ep_deadline_int.h): the heap against a plain
 * reference under random insert/cancel/pop sequences, its allocation
 * failures, and the timer and kicker on a real loop. No erl, no sockets: it
 * lives here because the timer half knows libuv. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../unit/ep_failmem.h"
#include "ep_checkrun.h"
#include "ep_deadline_int.h"
#include "ep_error.h"

#define N 600

/* The reference: an array of flags, the minimum found by a scan. */
typedef struct {
  ep__deadline d;
  bool in;
  int id;
} item;

static int ref_min(const item *it, size_t n) {
  int best = -1;
  for (size_t i = 0; i < n; i++) {
    if (!it[i].in) continue;
    if (best < 0 || it[i].d.due < it[best].d.due ||
        (it[i].d.due == it[best].d.due && it[i].d.seq < it[best].d.seq))
      best = (int)i;
  }
  return best;
}

static void check_heap(const ep__dheap *h) {
  for (size_t i = 0; i < h->n; i++) {
    ck_assert_uint_eq(h->v[i]->slot, i + 1);
    if (i) {
      const ep__deadline *p = h->v[(i - 1) / 2], *c = h->v[i];
      ck_assert(p->due < c->due || (p->due == c->due && p->seq < c->seq));
    }
  }
}

START_TEST(heap_random) {
  static item it[N];
  for (unsigned seed = 1; seed <= 20; seed++) {
    srand(seed);
    memset(it, 0, sizeof it);
    ep__dheap h;
    ep__dheap_init(&h, NULL);
    size_t live = 0;
    for (int step = 0; step < 20000; step++) {
      int op = rand() % 10, k = rand() % N;
      if (op < 5) {
        if (it[k].in) continue;
        /* few distinct keys: equal dues must come out in insertion order */
        it[k].d.due = (uint64_t)(rand() % (seed % 2 ? 50 : 100000));
        ck_assert_int_eq(ep__dheap_push(&h, &it[k].d), 0);
        it[k].in = true;
        live++;
      } else if (op < 8) {
        ep__dheap_remove(&h, &it[k].d); /* armed or not */
        if (it[k].in) live--;
        it[k].in = false;
        ck_assert(!ep__deadline_armed(&it[k].d));
      } else {
        int want = ref_min(it, N);
        ep__deadline *m = ep__dheap_min(&h);
        if (want < 0) {
          ck_assert_ptr_null(m);
          continue;
        }
        ck_assert_ptr_eq(m, &it[want].d);
        ep__dheap_remove(&h, m);
        it[want].in = false;
        live--;
      }
      ck_assert_uint_eq(h.n, live);
      if (step % 97 == 0) check_heap(&h);
    }
    /* draining gives the reference's order */
    while (live) {
      int want = ref_min(it, N);
      ck_assert_ptr_eq(ep__dheap_min(&h), &it[want].d);
      ep__dheap_remove(&h, &it[want].d);
      it[want].in = false;
      live--;
    }
    ck_assert_ptr_null(ep__dheap_min(&h));
    ep__dheap_free(&h);
  }
}
END_TEST

START_TEST(heap_enomem) {
  static item it[200];
  ep_failmem fm;
  ep_failmem_init(&fm);
  for (long fail = 1; fail <= 5; fail++) { /* the growths to 16, 32, ..., 256 */
    memset(it, 0, sizeof it);
    ep__dheap h;
    ep__dheap_init(&h, &fm.mem);
    ep_failmem_fail_once(&fm, fail);
    size_t in = 0, refused = 0;
    for (int i = 0; i < 200; i++) {
      it[i].d.due = (uint64_t)(200 - i);
      int r = ep__dheap_push(&h, &it[i].d);
      if (r) {
        ck_assert_int_eq(r, EP_ENOMEM);
        ck_assert(!ep__deadline_armed(&it[i].d));
        refused++;
      } else {
        it[i].in = true;
        in++;
      }
    }
    ck_assert_uint_eq(refused, 1); /* one failed growth, the next one grows */
    ck_assert_uint_eq(h.n, in);
    check_heap(&h);
    /* the heap after a refusal is whole: it drains in order */
    uint64_t last = 0;
    while (h.n) {
      ep__deadline *m = ep__dheap_min(&h);
      ck_assert_uint_ge(m->due, last);
      last = m->due;
      ep__dheap_remove(&h, m);
    }
    ep__dheap_free(&h);
    ck_assert_int_eq(fm.live, 0);
  }
}
END_TEST

/* --- the timer on a loop ----------------------------------------------------------------- */

typedef struct {
  ep__deadline d;
  int id;
  int *order;
  int *nfired;
  ep__timers *t;
  ep__deadline *cancel; /* cancelled by this one's callback */
} tcall;

static void on_fire(ep__deadline *d) {
  tcall *c = (tcall *)d;
  c->order[(*c->nfired)++] = c->id;
  if (c->cancel) ep__timers_cancel(c->t, c->cancel);
}

static bool closed_flag;
static void on_closed(void *ud) { *(bool *)ud = true; }

START_TEST(timers_order_cancel) {
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ep__timers t;
  ep__timers_init(&t, &loop, NULL);
  int order[8], nfired = 0;
  tcall c[6];
  uint64_t ms[6] = {30, 10, 20, 10, 40, 5};
  for (int i = 0; i < 6; i++) {
    c[i] = (tcall){{0}, i, order, &nfired, &t, NULL};
    ck_assert_int_eq(ep__timers_add(&t, &c[i].d, ms[i], on_fire), 0);
  }
  ep__timers_cancel(&t, &c[5].d); /* the earliest: the timer moves on */
  ep__timers_cancel(&t, &c[5].d); /* twice: nothing */
  c[2].cancel = &c[0].d;          /* a callback cancels a later one */
  /* never: not armed, never runs */
  tcall never = {{0}, 9, order, &nfired, &t, NULL};
  ck_assert_int_eq(ep__timers_add(&t, &never.d, UINT64_MAX, on_fire), 0);
  ck_assert(!ep__deadline_armed(&never.d));
  /* runs until the heap is empty: an empty heap holds the loop no longer */
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert_int_eq(nfired, 4);
  ck_assert_int_eq(order[0], 1);
  ck_assert_int_eq(order[1], 3); /* equal dues: first in, first out */
  ck_assert_int_eq(order[2], 2);
  ck_assert_int_eq(order[3], 4);
  closed_flag = false;
  ep__timers_close(&t, on_closed, &closed_flag);
  ck_assert_int_eq(ep__timers_add(&t, &never.d, 1, on_fire), EP_ECLOSED);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed_flag);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A deadline's callback sets the caller's flag: the caller's UV_RUN_ONCE
 * returns (the kicker), on a loop with nothing else on it that would wake
 * the poll. A keep-alive timer far away keeps the loop from ending. */
static void on_set(ep__deadline *d) { *(bool *)((tcall *)d)->order = true; }
static void on_far(uv_timer_t *h) { (void)h; }

START_TEST(timers_kick_run_once) {
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  uv_timer_t far;
  uv_timer_init(&loop, &far);
  uv_timer_start(&far, on_far, 60000, 0);
  ep__timers t;
  ep__timers_init(&t, &loop, NULL);
  for (int round = 0; round < 3; round++) {
    bool done = false;
    tcall c = {{0}, 0, (int *)&done, NULL, &t, NULL};
    ck_assert_int_eq(ep__timers_add(&t, &c.d, round == 0 ? 0 : 5, on_set), 0);
    uint64_t t0 = uv_hrtime();
    while (!done) uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_lt((uv_hrtime() - t0) / 1000000, 10000);
    /* and the turn after that one does not block either */
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  /* idle: the kicker stopped, nothing spins */
  uv_run(&loop, UV_RUN_NOWAIT);
  ck_assert(!uv_is_active((uv_handle_t *)&t.kicker));
  ck_assert(!uv_is_active((uv_handle_t *)&t.timer));
  closed_flag = false;
  ep__timers_close(&t, on_closed, &closed_flag);
  uv_close((uv_handle_t *)&far, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed_flag);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* A callback that closes the owner: no later callback runs, entries left
 * become not armed, a cancel after the close does nothing. */
static ep__timers *closing_t;
static void on_close_all(ep__deadline *d) {
  tcall *c = (tcall *)d;
  c->order[(*c->nfired)++] = c->id;
  ep__timers_close(closing_t, on_closed, &closed_flag);
}

START_TEST(timers_close_from_callback) {
  uv_loop_t loop;
  ck_assert_int_eq(uv_loop_init(&loop), 0);
  ep__timers t;
  ep__timers_init(&t, &loop, NULL);
  closing_t = &t;
  closed_flag = false;
  int order[4], nfired = 0;
  tcall a = {{0}, 1, order, &nfired, &t, NULL}, b = {{0}, 2, order, &nfired, &t, NULL};
  ck_assert_int_eq(ep__timers_add(&t, &a.d, 1, on_close_all), 0);
  ck_assert_int_eq(ep__timers_add(&t, &b.d, 1, on_fire), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ck_assert(closed_flag);
  ck_assert_int_eq(nfired, 1);
  ck_assert(!ep__deadline_armed(&b.d));
  ep__timers_cancel(&t, &b.d);
  ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("deadline");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 30); /* a poll left blocking hangs: fails here */
  tcase_add_test(tc, heap_random);
  tcase_add_test(tc, heap_enomem);
  tcase_add_test(tc, timers_order_cancel);
  tcase_add_test(tc, timers_kick_run_once);
  tcase_add_test(tc, timers_close_from_callback);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
