/* ep_term_ops_int.h - equality and order with an injectable allocator and
 * an error, for callers (and tests) that must tell "out of memory" from an
 * answer. Internal: the public ep_term_eq / ep_term_cmp (ep_term.h) use the
 * C library and fold a failure into false / 0.
 *
 * Both walks keep their stack on the heap past a few dozen levels, and
 * ep__term_cmp sorts the keys of every pair of maps it meets into scratch
 * arrays; everything is allocated with m (NULL = libc) and freed before the
 * call returns, on every path. */
#ifndef EP_TERM_OPS_INT_H
#define EP_TERM_OPS_INT_H

#include <stdbool.h>

#include "ep_mem.h"
#include "ep_term.h"

/* =:= of x and y into *equal. 0, or EP_ENOMEM (then *equal is false and
 * means nothing). */
int ep__term_eq(const ep_mem *m, ep_term x, ep_term y, bool *equal);

/* Standard order of x and y into *order (negative, 0, positive). 0, or
 * EP_ENOMEM (then *order is 0 and means nothing). */
int ep__term_cmp(const ep_mem *m, ep_term x, ep_term y, int *order);

#endif
