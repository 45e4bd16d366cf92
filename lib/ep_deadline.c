/* ep_deadline.c - call deadlines: a binary min-heap, one uv_timer armed for
 * its earliest entry, and the loop owner's kicker (ep_deadline_int.h). */
#include "ep_deadline_int.h"

#include "ep_error.h"

/* --- the heap --------------------------------------------------------------------------- */

#define DHEAP_MIN_CAP 16

void ep__dheap_init(ep__dheap *h, const ep_mem *mem) {
  h->v = NULL;
  h->n = h->cap = 0;
  h->seq = 0;
  h->mem = mem;
}

void ep__dheap_free(ep__dheap *h) {
  for (size_t i = 0; i < h->n; i++) h->v[i]->slot = 0;
  ep_free(h->mem, h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}

static bool before(const ep__deadline *a, const ep__deadline *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void place(ep__dheap *h, size_t i, ep__deadline *d) {
  h->v[i] = d;
  d->slot = i + 1;
}

static void sift_up(ep__dheap *h, size_t i) {
  ep__deadline *d = h->v[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!before(d, h->v[parent])) break;
    place(h, i, h->v[parent]);
    i = parent;
  }
  place(h, i, d);
}

static void sift_down(ep__dheap *h, size_t i) {
  ep__deadline *d = h->v[i];
  for (;;) {
    size_t l = 2 * i + 1;
    if (l >= h->n) break;
    size_t m = l + 1 < h->n && before(h->v[l + 1], h->v[l]) ? l + 1 : l;
    if (!before(h->v[m], d)) break;
    place(h, i, h->v[m]);
    i = m;
  }
  place(h, i, d);
}

int ep__dheap_push(ep__dheap *h, ep__deadline *d) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : DHEAP_MIN_CAP;
    if (cap < h->cap || cap > SIZE_MAX / sizeof *h->v) return EP_ENOMEM;
    ep__deadline **v = ep_realloc(h->mem, h->v, cap * sizeof *v);
    if (!v) return EP_ENOMEM;
    h->v = v;
    h->cap = cap;
  }
  d->seq = h->seq++;
  h->v[h->n] = d;
  sift_up(h, h->n++);
  return 0;
}

void ep__dheap_remove(ep__dheap *h, ep__deadline *d) {
  if (!d->slot) return;
  size_t i = d->slot - 1;
  d->slot = 0;
  ep__deadline *last = h->v[--h->n];
  if (i < h->n) {
    /* last fills the hole, then moves whichever way it belongs */
    place(h, i, last);
    if (i > 0 && before(last, h->v[(i - 1) / 2])) sift_up(h, i);
    else sift_down(h, i);
  }
  /* A burst of calls leaves no large array behind (a failed shrink keeps
   * the larger one). */
  if (h->cap > DHEAP_MIN_CAP && h->n < h->cap / 4) {
    ep__deadline **v = ep_realloc(h->mem, h->v, h->cap / 2 * sizeof *v);
    if (v) {
      h->v = v;
      h->cap /= 2;
    }
  }
}

/* --- the timer ------------------------------------------------------------------------- */

static void on_kick_idle(uv_idle_t *h) {
  ep__timers *t = h->data;
  if (!t->kicked) uv_idle_stop(h);
  t->kicked = false;
}

void ep__timers_kick(ep__timers *t) {
  if (!t->open || t->closing) return; /* no callback runs any more */
  t->kicked = true;
  if (!uv_is_active((uv_handle_t *)&t->kicker)) uv_idle_start(&t->kicker, on_kick_idle);
}

static void on_timer(uv_timer_t *h);

/* Arms the timer for the earliest entry, or stops it (an idle owner keeps
 * no loop alive). */
static void rearm(ep__timers *t) {
  ep__deadline *d = ep__dheap_min(&t->heap);
  if (!d) {
    uv_timer_stop(&t->timer);
    return;
  }
  uint64_t now = uv_now(t->loop);
  uv_timer_start(&t->timer, on_timer, d->due > now ? d->due - now : 0, 0);
}

static void on_timer(uv_timer_t *h) {
  ep__timers *t = h->data;
  ep__timers_kick(t);
  t->firing = true;
  t->now = uv_now(t->loop);
  ep__deadline *d;
  /* A callback may add, cancel, or close the whole owner. */
  while (!t->closing && (d = ep__dheap_min(&t->heap)) && d->due <= t->now) {
    ep__dheap_remove(&t->heap, d);
    d->cb(d);
  }
  t->firing = false;
  if (!t->closing) rearm(t);
}

void ep__timers_init(ep__timers *t, uv_loop_t *loop, const ep_mem *mem) {
  ep__dheap_init(&t->heap, mem);
  t->loop = loop;
  uv_timer_init(loop, &t->timer);
  t->timer.data = t;
  uv_idle_init(loop, &t->kicker);
  t->kicker.data = t;
  t->open = true;
  t->closing = t->kicked = t->firing = false;
  t->handles = 2;
  t->closed = NULL;
  t->closed_ud = NULL;
}

int ep__timers_add(ep__timers *t, ep__deadline *d, uint64_t ms, ep__deadline_cb cb) {
  d->slot = 0;
  if (!t->open || t->closing) return EP_ECLOSED;
  uint64_t now = uv_now(t->loop);
  if (ms >= UINT64_MAX - now) return 0; /* never */
  d->due = now + ms;
  if (t->firing && d->due <= t->now) d->due = t->now + 1;
  d->cb = cb;
  int r = ep__dheap_push(&t->heap, d);
  if (r) return r;
  /* Only a new earliest entry moves the timer (the callback re-arms it
   * from inside). */
  if (!t->firing && ep__dheap_min(&t->heap) == d) rearm(t);
  return 0;
}

void ep__timers_cancel(ep__timers *t, ep__deadline *d) {
  if (!d->slot) return;
  if (!t->open) {
    d->slot = 0; /* never in this heap: a copy, or closed already */
    return;
  }
  bool was_min = d->slot == 1;
  ep__dheap_remove(&t->heap, d);
  /* A timer left for a cancelled earliest entry would only fire early and
   * re-arm; but an empty heap must stop it, so as to hold no loop open. */
  if (was_min && !t->firing && !t->closing) rearm(t);
}

static void on_handle_closed(uv_handle_t *h) {
  ep__timers *t = h->data;
  if (--t->handles == 0) {
    ep__dheap_free(&t->heap);
    t->open = false;
    if (t->closed) t->closed(t->closed_ud);
  }
}

void ep__timers_close(ep__timers *t, void (*closed)(void *ud), void *ud) {
  if (t->closing) return;
  t->closing = true;
  if (!t->open) {
    ep__dheap_free(&t->heap);
    if (closed) closed(ud);
    return;
  }
  t->closed = closed;
  t->closed_ud = ud;
  uv_close((uv_handle_t *)&t->timer, on_handle_closed);
  uv_close((uv_handle_t *)&t->kicker, on_handle_closed);
}
