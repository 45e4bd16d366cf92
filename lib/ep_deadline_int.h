/* ep_deadline_int.h - call deadlines: one heap, one timer and one kicker per
 * loop owner. Internal, not installed.
 *
 * Every call of the runtime that can time out (a node's remote call, a
 * peer controller's call) embeds a struct ep__deadline and puts it in its
 * owner's ep__timers: a binary min-heap ordered by (due, insertion order)
 * with insert and cancel in O(log n), and ONE uv_timer armed for the
 * earliest entry. The hidden node has one (ep_node.tm), a peer controller
 * has one (ep_ctl.tm, shared by its peers). Not one per uv_loop_t: that
 * would need a registry keyed by loop, a global, and a loop shared by a
 * node and a controller has only two timers this way.
 *
 * The kicker (the same for node and controller): libuv before 1.45 (Debian
 * 12 ships 1.44) runs the timers already due first thing in uv_run, then
 * polls with a timeout computed as if nothing had run. A user's callback
 * run from a timer would set the caller's flag and leave its `while
 * (!done) uv_run(loop, UV_RUN_ONCE)` blocked in poll until some unrelated
 * event, forever on a quiet loop. An active idle handle makes that poll
 * return at once. The deadline timer kicks before it runs callbacks; the
 * owner's other timers call ep__timers_kick before they run anything. The
 * idle handle stays on for the turn that was kicked and stops in the next
 * one with nothing to do (never a spin when idle).
 *
 * The heap itself (ep__dheap) knows no clock: keys are plain uint64, which
 * tests/integration/test_deadline.c checks against a reference. It lives in
 * lib/, next to its one user, rather than in dist/: dist/ is the protocol
 * core, and its headers are public.
 */
#ifndef EP_DEADLINE_INT_H
#define EP_DEADLINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ep_mem.h"

typedef struct ep__deadline ep__deadline;
/* Runs once the deadline passed; d is out of the heap already (it may be
 * freed, or put back). */
typedef void (*ep__deadline_cb)(ep__deadline *d);

/* Embedded in what has the deadline (container_of to get at it). Zeroed
 * means not armed. */
struct ep__deadline {
  uint64_t due;  /* the key: ms of the owner's clock (uv_now) */
  uint64_t seq;  /* insertion order: equal dues fire first in, first out */
  size_t slot;   /* 1 + index in the heap; 0: in no heap */
  ep__deadline_cb cb;
};

static inline bool ep__deadline_armed(const ep__deadline *d) { return d->slot != 0; }

/* --- the heap: no clock, no libuv ----------------------------------------------------- */

typedef struct ep__dheap {
  ep__deadline **v;
  size_t n, cap;
  uint64_t seq;
  const ep_mem *mem; /* NULL: libc */
} ep__dheap;

void ep__dheap_init(ep__dheap *h, const ep_mem *mem);
/* Frees the array; the entries are the callers' (those left become not
 * armed). */
void ep__dheap_free(ep__dheap *h);
/* Adds d (not armed, d->due set). 0, or EP_ENOMEM (d is left not armed). */
int ep__dheap_push(ep__dheap *h, ep__deadline *d);
/* Takes d out; nothing when it is not armed. */
void ep__dheap_remove(ep__dheap *h, ep__deadline *d);
/* The earliest entry, or NULL when empty. */
static inline ep__deadline *ep__dheap_min(const ep__dheap *h) { return h->n ? h->v[0] : NULL; }

/* --- one owner's timer ---------------------------------------------------------------- */

typedef struct ep__timers {
  ep__dheap heap;
  uv_loop_t *loop;
  uv_timer_t timer;
  uv_idle_t kicker;
  bool open;    /* the handles exist (ep__timers_init) */
  bool closing; /* ep__timers_close: no new deadline, no kick */
  bool kicked;  /* kicked since the kicker last ran */
  bool firing;  /* inside the timer's callback */
  uint64_t now; /* while firing: the turn's time */
  int handles;  /* still open, of timer and kicker */
  void (*closed)(void *ud);
  void *closed_ud;
} ep__timers;

/* Makes the timer and the idle handle on loop (neither is active, so
 * neither keeps the loop alive). mem: the heap's allocator. */
void ep__timers_init(ep__timers *t, uv_loop_t *loop, const ep_mem *mem);
/* d's cb runs once ms have passed on the loop's clock (UINT64_MAX or more
 * than the clock can count: never, and d is not armed). d must not be armed.
 * 0, EP_ENOMEM (the heap could not grow) or EP_ECLOSED (closing): then d is
 * not armed and its cb never runs. From inside a deadline's callback, an
 * entry already due waits for the next turn (no starving the loop). */
int ep__timers_add(ep__timers *t, ep__deadline *d, uint64_t ms, ep__deadline_cb cb);
/* d's cb will not run; nothing when d is not armed. */
void ep__timers_cancel(ep__timers *t, ep__deadline *d);
/* Keeps this turn's poll from blocking (see the top of this file). */
void ep__timers_kick(ep__timers *t);
/* Closes the handles; closed(ud) runs from the loop once they are gone
 * (t's memory must live until then). Entries left armed are forgotten:
 * their callbacks never run. Never opened (t zeroed): closed is called at
 * once. Again: nothing. */
void ep__timers_close(ep__timers *t, void (*closed)(void *ud), void *ud);

#endif
