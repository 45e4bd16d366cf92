/* ep_failmem.h - an ep_mem that refuses an allocation on purpose, for the
 * unit tests' rung "allocation failure injected at the i-th allocation".
 *
 * malloc and realloc both count as allocations (1, 2, 3, ... since the last
 * arming); free never fails. Two ways to fail, because the tests ask two
 * different questions:
 *  - ep_failmem_fail_once(f, n): only allocation n fails, later ones succeed
 *    again - does the code come back from one EP_ENOMEM without a crash, a
 *    leak or a half-changed state?
 *  - ep_failmem_fail_from(f, n): allocation n and every later one fail - is
 *    the first failure handled (and reported, stickily) without needing
 *    memory to clean up?
 * `live` counts the blocks handed out and not yet freed, so a test can prove
 * that every path freed what it took even in a build without ASan.
 *
 * Usage:
 *   ep_failmem fm;
 *   ep_failmem_init(&fm);
 *   for (long i = 1; i < N; i++) {
 *     ep_failmem_fail_once(&fm, i);
 *     ... code under test with &fm.mem ...
 *     ck_assert_int_eq(fm.live, 0);
 *   }
 *
 * Header-only (static inline), so the unit tests, which link erlpeer_core
 * and nothing else, need no extra library.
 */
#ifndef EP_FAILMEM_H
#define EP_FAILMEM_H

#include <stdbool.h>
#include <stdlib.h>

#include "ep_mem.h"

typedef struct ep_failmem {
  ep_mem mem;    /* pass &f.mem; its ud points back at f, so never copy f */
  long fail_at;  /* the allocation that fails (1-based); 0: none does */
  bool from_on;  /* every allocation after fail_at fails too */
  long count;    /* allocations asked for since the last arming */
  long live;     /* blocks handed out and not yet freed, since init */
} ep_failmem;

static inline bool ep_failmem__refuse(ep_failmem *f) {
  long n = ++f->count;
  return f->fail_at > 0 && (f->from_on ? n >= f->fail_at : n == f->fail_at);
}

static inline void *ep_failmem__malloc(size_t n, void *ud) {
  ep_failmem *f = ud;
  if (ep_failmem__refuse(f)) return NULL;
  void *p = malloc(n);
  if (p) f->live++;
  return p;
}

static inline void *ep_failmem__realloc(void *p, size_t n, void *ud) {
  ep_failmem *f = ud;
  if (ep_failmem__refuse(f)) return NULL;
  void *q = realloc(p, n);
  if (q && !p) f->live++; /* realloc(NULL, n) is a new block */
  return q;
}

static inline void ep_failmem__free(void *p, void *ud) {
  ep_failmem *f = ud;
  if (p) f->live--;
  free(p);
}

/* An allocator that fails nowhere until armed. */
static inline void ep_failmem_init(ep_failmem *f) {
  f->mem.malloc = ep_failmem__malloc;
  f->mem.realloc = ep_failmem__realloc;
  f->mem.free = ep_failmem__free;
  f->mem.ud = f;
  f->fail_at = 0;
  f->from_on = false;
  f->count = 0;
  f->live = 0;
}

/* Only the n-th allocation from now on fails. Resets count, not live:
 * blocks taken before the arming still count when they are freed. */
static inline void ep_failmem_fail_once(ep_failmem *f, long n) {
  f->fail_at = n;
  f->from_on = false;
  f->count = 0;
}

/* The n-th allocation from now on and every later one fail (n = 1: all of
 * them). Resets count, not live. */
static inline void ep_failmem_fail_from(ep_failmem *f, long n) {
  f->fail_at = n;
  f->from_on = true;
  f->count = 0;
}

/* True once an allocation has been refused since the last arming: a run
 * that succeeded with this false never met the failure, so the failure
 * point lies past its last allocation. */
static inline bool ep_failmem_failed(const ep_failmem *f) {
  return f->fail_at > 0 && f->count >= f->fail_at;
}

#endif
