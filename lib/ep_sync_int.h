/* ep_sync_int.h - the blocking layer's private loops. Internal, not installed.
 *
 * The asynchronous API never runs a loop: every callback of the library
 * comes from the caller's uv_run, or from one of these. A private loop is
 * made by a blocking constructor (ep_node_start_sync, ep_ctl_new(NULL)) and
 * run only by the *_sync calls, from the outside, one at a time: libuv's
 * uv_run is not reentrant and must not be called from a callback. A
 * blocking call made from inside a callback of the loop it would run (the
 * loop is running already) is refused with EP_EINCALLBACK and the loop goes
 * on; so is one on a loop that is not private (the caller's own).
 *
 * lib/ep_sync.c are the only places in lib/ that call
 * uv_run (docs/architecture.md).
 */
#ifndef EP_SYNC_INT_H
#define EP_SYNC_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "ep_mem.h"

typedef struct ep__sloop ep__sloop;

#define EP__SLOOP_FOREVER (-1)

/* A private loop. 0, EP_ENOMEM or EP_ESYS. */
int ep__sloop_new(const ep_mem *mem, ep__sloop **out);
uv_loop_t *ep__sloop_loop(ep__sloop *s);
/* 0 when a blocking call may run s now; EP_EINCALLBACK when it is running
 * (the caller is inside one of its callbacks), EP_EINCALLBACK also for
 * s == NULL (not a private loop). Checked before the blocking call starts
 * anything, so that a refusal leaves nothing behind. */
int ep__sloop_enter(ep__sloop *s);
/* Runs s until done(ud) holds, or timeout_ms passes (EP__SLOOP_FOREVER:
 * no timeout; 0: one turn that does not block). Returns 0 (done),
 * EP_ETIMEDOUT, EP_EINCALLBACK (see ep__sloop_enter: nothing was run),
 * EP_ECLOSED when nothing left on the loop can end the wait, or when the
 * owner of s freed it from a callback during the run (ep__sloop_doom): then
 * s is gone too, and the caller touches nothing it reached through it. */
int ep__sloop_run(ep__sloop *s, bool (*done)(void *ud), void *ud, int64_t timeout_ms);
/* Runs s until every handle on it has closed, closes and frees it. Must not
 * be running (use ep__sloop_doom from a callback). */
void ep__sloop_free(ep__sloop *s);
/* From inside a run of s: s is to go (its owner was freed by a callback).
 * The run in progress ends once the owner's handles have closed, then frees
 * s and calls release(ud), and returns EP_ECLOSED. */
void ep__sloop_doom(ep__sloop *s, void (*release)(void *ud), void *ud);
/* Runs loop, a throwaway private loop of a one-shot blocking call, until
 * nothing is left on it, then closes it. 0 or EP_ESYS. */
int ep__sloop_drain(uv_loop_t *loop);

#endif
