/* ep_testinbox.h - a process of our node that keeps what it receives, for
 * the node tests: the first 8 messages (kind, message, reason and sender,
 * copied into the inbox's arena) and a predicate for ep_node_run_until that
 * waits until `want` of them have arrived.
 *
 *   ep_testinbox b = {0};
 *   b.a = ep_arena_new(NULL);
 *   ep_proc_new(node, "box", ep_testinbox_collect, &b, &proc);
 *   ...
 *   b.want = 1;
 *   ck_assert_int_eq(ep_node_run_until(node, ep_testinbox_has, &b, 10000), 0);
 *   ...
 *   ep_arena_free(b.a);
 *
 * Header-only (static inline functions): the support library's build lists
 * its sources by name.
 */
#ifndef EP_TESTINBOX_H
#define EP_TESTINBOX_H

#include <stdbool.h>

#include "ep_node.h"

#define EP_TESTINBOX_MAX 8

typedef struct ep_testinbox {
  int n;    /* messages kept; later ones are dropped */
  int want; /* ep_testinbox_has: true once n >= want */
  ep_arena *a;
  ep_msg_kind kind[EP_TESTINBOX_MAX];
  ep_term msg[EP_TESTINBOX_MAX], reason[EP_TESTINBOX_MAX], from[EP_TESTINBOX_MAX];
} ep_testinbox;

/* The process callback (ud: the inbox). */
static inline void ep_testinbox_collect(ep_proc *p, const ep_msg *m, void *ud) {
  (void)p;
  ep_testinbox *b = ud;
  if (b->n == EP_TESTINBOX_MAX) return;
  b->kind[b->n] = m->kind;
  b->msg[b->n] = ep_term_copy(b->a, m->msg);
  b->reason[b->n] = ep_term_copy(b->a, m->reason);
  b->from[b->n] = ep_term_copy(b->a, m->from);
  b->n++;
}

/* The ep_node_run_until predicate (ud: the inbox). */
static inline bool ep_testinbox_has(void *ud) {
  const ep_testinbox *b = ud;
  return b->n >= b->want;
}

#endif
