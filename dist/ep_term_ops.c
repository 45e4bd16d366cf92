/* ep_term_ops.c - whole-term operations: equality, order, deep copy.
 * All iterative (an explicit heap stack), so any nesting depth is safe. */
#include <string.h>

#include "ep_error.h"
#include "ep_term.h"

/* Pairs still to compare, on a stack that grows on the heap. */
typedef struct {
  const ep_term *x, *y;
  size_t n; /* terms left in these two arrays */
} eq_frame;

static bool scalar_eq(const ep_term *x, const ep_term *y) {
  switch (x->type) {
    case EP_T_NONE:
    case EP_T_NIL:
      return true;
    case EP_T_INT:
      return x->v.i == y->v.i;
    case EP_T_FLOAT:
      /* =:= on floats: 0.0 =:= -0.0 is false since OTP 27; compare bits. */
      return memcmp(&x->v.f, &y->v.f, sizeof(double)) == 0;
    case EP_T_ATOM:
      return x->n == y->n && memcmp(x->v.str, y->v.str, x->n) == 0;
    case EP_T_BIG:
    case EP_T_BINARY:
    case EP_T_BITSTR:
    case EP_T_STRING:
      return x->n == y->n && x->aux == y->aux && memcmp(x->v.bytes, y->v.bytes, x->n) == 0;
    case EP_T_PID:
      return x->v.pid.id == y->v.pid.id && x->v.pid.serial == y->v.pid.serial &&
             x->v.pid.creation == y->v.pid.creation && x->v.pid.node_len == y->v.pid.node_len &&
             memcmp(x->v.pid.node, y->v.pid.node, x->v.pid.node_len) == 0;
    case EP_T_PORT:
      return x->v.port.id == y->v.port.id && x->v.port.creation == y->v.port.creation &&
             x->v.port.node_len == y->v.port.node_len &&
             memcmp(x->v.port.node, y->v.port.node, x->v.port.node_len) == 0;
    case EP_T_REF:
      return x->n == y->n && x->v.ref.creation == y->v.ref.creation && x->v.ref.node_len == y->v.ref.node_len &&
             memcmp(x->v.ref.node, y->v.ref.node, x->v.ref.node_len) == 0 &&
             memcmp(x->v.ref.ids, y->v.ref.ids, x->n * sizeof(uint32_t)) == 0;
    default:
      return false;
  }
}

bool ep_term_eq(ep_term x0, ep_term y0) {
  eq_frame local[32], *stack = local;
  size_t depth = 0, cap = 32;
  bool result = true;
  stack[depth++] = (eq_frame){&x0, &y0, 1};
  ep_term lx, ly; /* a list of bytes compared against a list of terms */
  while (depth && result) {
    eq_frame *f = &stack[depth - 1];
    if (f->n == 0) {
      depth--;
      continue;
    }
    const ep_term *x = f->x++, *y = f->y++;
    f->n--;
    /* A STRING and a LIST holding the same small integers are the same term. */
    if (x->type != y->type) {
      if ((x->type == EP_T_STRING && y->type == EP_T_LIST) || (x->type == EP_T_LIST && y->type == EP_T_STRING)) {
        const ep_term *s = x->type == EP_T_STRING ? x : y, *l = x->type == EP_T_STRING ? y : x;
        if (s->n != l->n || l->v.items[l->n].type != EP_T_NIL) {
          result = false;
          break;
        }
        for (uint32_t i = 0; i < s->n && result; i++)
          result = l->v.items[i].type == EP_T_INT && l->v.items[i].v.i == s->v.bytes[i];
        (void)lx, (void)ly;
        continue;
      }
      result = false;
      break;
    }
    const ep_term *xa = NULL, *ya = NULL;
    size_t n = 0;
    switch (x->type) {
      case EP_T_TUPLE:
        if (x->n != y->n) result = false;
        xa = x->v.items, ya = y->v.items, n = x->n;
        break;
      case EP_T_LIST:
        if (x->n != y->n) result = false;
        xa = x->v.items, ya = y->v.items, n = (size_t)x->n + 1;
        break;
      case EP_T_MAP:
        /* Maps built in different orders are still equal: match keys. */
        if (x->n != y->n) {
          result = false;
          break;
        }
        for (uint32_t i = 0; i < x->n && result; i++) {
          ep_term v = ep_map_get(*y, x->v.items[2 * i]);
          result = !ep_is_none(v) && ep_term_eq(x->v.items[2 * i + 1], v);
        }
        continue;
      case EP_T_EXPORT:
        result = x->v.exp->arity == y->v.exp->arity && ep_term_eq(x->v.exp->module, y->v.exp->module) &&
                 ep_term_eq(x->v.exp->function, y->v.exp->function);
        continue;
      case EP_T_FUN: {
        const ep_fun *a = x->v.fun, *b = y->v.fun;
        result = a->arity == b->arity && a->index == b->index && a->num_free == b->num_free &&
                 memcmp(a->uniq, b->uniq, 16) == 0 && ep_term_eq(a->module, b->module) &&
                 ep_term_eq(a->old_index, b->old_index) && ep_term_eq(a->old_uniq, b->old_uniq) &&
                 ep_term_eq(a->pid, b->pid);
        xa = a->free_vars, ya = b->free_vars, n = result ? a->num_free : 0;
        break;
      }
      default:
        result = scalar_eq(x, y);
        continue;
    }
    if (!result || n == 0) continue;
    if (depth == cap) {
      size_t ncap = cap * 2;
      eq_frame *ns = ep_malloc(NULL, ncap * sizeof *ns);
      if (!ns) return false;
      memcpy(ns, stack, depth * sizeof *ns);
      if (stack != local) ep_free(NULL, stack);
      stack = ns;
      cap = ncap;
    }
    stack[depth++] = (eq_frame){xa, ya, n};
  }
  if (stack != local) ep_free(NULL, stack);
  return result;
}
