/* ep_testwait.h - waiting on a peer controller's loop for an event, not for
 * a period.
 *
 * ep_ctl_poll(c, ms) runs the controller's loop for the whole ms, whatever
 * happens meanwhile: a test that loops on it (`while (!x) ep_ctl_poll(c,
 * 50)`) notices its event up to 50 ms late, and sleeps when nothing comes.
 * ep_testwait_ctl runs the same loop until the condition holds, looking at
 * it before every poll of the loop (a prepare handle: after the timers and
 * the callbacks of the turn, when the condition may just have become true),
 * so it returns on the callback that made it true; ms only bounds it.
 * ep_node_run_until does the same for a node (lib/ep_node.c); a controller
 * has no such call.
 *
 *   int done = 0;  // set by a callback
 *   ck_assert(ep_testwait_ctl(c, ep_testwait_flag, &done, 5000));
 *
 * Header-only (static inline functions): the support library's build lists
 * its sources by name.
 */
#ifndef EP_TESTWAIT_H
#define EP_TESTWAIT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "ep_peer.h"

typedef struct ep_testwait {
  bool (*cond)(void *ud);
  void *ud;
  bool expired;
} ep_testwait;

/* Before the loop polls: stop it once the condition holds (the poll then
 * does not block: uv_stop makes its timeout 0). */
static inline void ep__testwait_prepare(uv_prepare_t *h) {
  ep_testwait *w = h->data;
  if (w->cond(w->ud)) uv_stop(h->loop);
}

static inline void ep__testwait_expire(uv_timer_t *t) {
  ep_testwait *w = t->data;
  w->expired = true;
  uv_stop(t->loop);
}

/* Runs loop until cond(ud) holds or ms pass; whether it holds. */
static inline bool ep_testwait_loop(uv_loop_t *loop, bool (*cond)(void *ud), void *ud, uint32_t ms) {
  ep_testwait w = {cond, ud, false};
  uv_prepare_t pr;
  uv_timer_t t;
  uv_prepare_init(loop, &pr);
  pr.data = &w;
  uv_prepare_start(&pr, ep__testwait_prepare);
  uv_timer_init(loop, &t);
  t.data = &w;
  uv_timer_start(&t, ep__testwait_expire, ms, 0);
  while (!cond(ud) && !w.expired) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&pr, NULL);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT); /* the closes complete before pr and t go */
  return cond(ud);
}

/* The same on a controller's loop (its private one for ep_ctl_new(NULL)). */
static inline bool ep_testwait_ctl(ep_ctl *c, bool (*cond)(void *ud), void *ud, uint32_t ms) {
  return ep_testwait_loop(ep_ctl_loop(c), cond, ud, ms);
}

/* The condition "the int at ud is not 0" (a flag or a count a callback
 * sets). */
static inline bool ep_testwait_flag(void *ud) { return *(const int *)ud != 0; }

#endif
