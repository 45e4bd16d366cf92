/* ep_term_ops.c - whole-term operations: equality, order, deep copy.
 *
 * All three walk the term with an explicit heap stack, so any nesting depth
 * is safe. The one exception is a map key that is itself a map or contains
 * one: matching (eq) or sorting (cmp) the keys of a map compares keys with a
 * nested call, so C recursion follows the nesting of maps inside map keys,
 * and both stop recursing after 64 such levels (see EP__EQ_KEY_NEST and
 * EP__KEY_NEST for what they do instead). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ep_error.h"
#include "ep_term.h"
#include "ep_term_ops_int.h"

/* What every walk carries: the allocator of its heap stacks and scratch
 * arrays, and the first allocation failure (after which the walk stops and
 * its answer means nothing). */
typedef struct {
  const ep_mem *m;
  int err;
} opctx;

/* ======================================================================= */
/* equality (=:=)                                                           */
/* ======================================================================= */

/* Pairs still to compare, on a stack that grows on the heap. */
typedef struct {
  const ep_term *x, *y;
  size_t n; /* terms left in these two arrays */
} eq_frame;

static bool bytes_eq(const void *a, const void *b, size_t n) { return n == 0 || memcmp(a, b, n) == 0; }

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
      return x->n == y->n && bytes_eq(x->v.str, y->v.str, x->n);
    case EP_T_BIG:
    case EP_T_BINARY:
    case EP_T_BITSTR:
    case EP_T_STRING:
      return x->n == y->n && x->aux == y->aux && bytes_eq(x->v.bytes, y->v.bytes, x->n);
    case EP_T_PID:
      return x->v.pid.id == y->v.pid.id && x->v.pid.serial == y->v.pid.serial &&
             x->v.pid.creation == y->v.pid.creation && x->v.pid.node_len == y->v.pid.node_len &&
             bytes_eq(x->v.pid.node, y->v.pid.node, x->v.pid.node_len);
    case EP_T_PORT:
      return x->v.port.id == y->v.port.id && x->v.port.creation == y->v.port.creation &&
             x->v.port.node_len == y->v.port.node_len &&
             bytes_eq(x->v.port.node, y->v.port.node, x->v.port.node_len);
    case EP_T_REF:
      return x->n == y->n && x->v.ref.creation == y->v.ref.creation && x->v.ref.node_len == y->v.ref.node_len &&
             bytes_eq(x->v.ref.node, y->v.ref.node, x->v.ref.node_len) &&
             bytes_eq(x->v.ref.ids, y->v.ref.ids, x->n * sizeof(uint32_t));
    default:
      return false;
  }
}

static bool push_eq(opctx *c, eq_frame **stack, eq_frame *local, size_t *depth, size_t *cap, eq_frame f) {
  if (*depth == *cap) {
    size_t ncap = *cap * 2;
    eq_frame *ns = ep_malloc(c->m, ncap * sizeof *ns);
    if (!ns) {
      c->err = EP_ENOMEM;
      return false;
    }
    memcpy(ns, *stack, *depth * sizeof *ns);
    if (*stack != local) ep_free(c->m, *stack);
    *stack = ns;
    *cap = ncap;
  }
  (*stack)[(*depth)++] = f;
  return true;
}

/* Maps nested inside map keys are matched with nested calls; past this many
 * levels their pairs are compared in stored order instead (exact for maps
 * that store their keys in the same order, as two decodes of one encoding
 * do), which bounds the C stack on hostile input. */
#define EP__EQ_KEY_NEST 64

/* false on allocation failure too (c->err says which). */
static bool eq_int(opctx *c, ep_term x0, ep_term y0, int level);

bool ep_term_eq(ep_term x0, ep_term y0) {
  opctx c = {NULL, 0};
  return eq_int(&c, x0, y0, 0);
}

int ep__term_eq(const ep_mem *m, ep_term x, ep_term y, bool *equal) {
  opctx c = {m, 0};
  *equal = eq_int(&c, x, y, 0);
  if (c.err) *equal = false;
  return c.err;
}

static bool eq_int(opctx *c, ep_term x0, ep_term y0, int level) {
  eq_frame local[32], *stack = local;
  size_t depth = 0, cap = 32;
  bool result = true;
  stack[depth++] = (eq_frame){&x0, &y0, 1};
  while (depth && result) {
    eq_frame *f = &stack[depth - 1];
    if (f->n == 0) {
      depth--;
      continue;
    }
    const ep_term *x = f->x++, *y = f->y++;
    f->n--;
    if (x->type != y->type) {
      /* A STRING and a LIST holding the same small integers are the same term. */
      if ((x->type == EP_T_STRING && y->type == EP_T_LIST) || (x->type == EP_T_LIST && y->type == EP_T_STRING)) {
        const ep_term *s = x->type == EP_T_STRING ? x : y, *l = x->type == EP_T_STRING ? y : x;
        if (s->n != l->n || l->v.items[l->n].type != EP_T_NIL) {
          result = false;
          break;
        }
        for (uint32_t i = 0; i < s->n && result; i++)
          result = l->v.items[i].type == EP_T_INT && l->v.items[i].v.i == s->v.bytes[i];
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
      case EP_T_MAP: {
        /* Maps built in different orders are still equal: match each key
         * (trying the same position first, the usual case), then compare
         * the two values on the stack, not by recursion. */
        if (x->n != y->n) {
          result = false;
          break;
        }
        if (level >= EP__EQ_KEY_NEST) {
          xa = x->v.items, ya = y->v.items, n = 2 * (size_t)x->n;
          break;
        }
        for (uint32_t i = 0; i < x->n && result; i++) {
          const ep_term *k = &x->v.items[2 * i];
          uint32_t j = i;
          bool found = false;
          for (uint32_t tries = 0; tries < y->n; tries++, j = (j + 1 == y->n ? 0 : j + 1)) {
            if (eq_int(c, *k, y->v.items[2 * j], level + 1)) {
              found = true;
              break;
            }
          }
          if (!found || c->err) {
            result = false;
            break;
          }
          if (!push_eq(c, &stack, local, &depth, &cap, (eq_frame){k + 1, &y->v.items[2 * j + 1], 1})) {
            result = false;
            break;
          }
        }
        continue;
      }
      case EP_T_EXPORT:
        result = x->v.exp->arity == y->v.exp->arity && eq_int(c, x->v.exp->module, y->v.exp->module, level) &&
                 eq_int(c, x->v.exp->function, y->v.exp->function, level);
        continue;
      case EP_T_FUN: {
        const ep_fun *a = x->v.fun, *b = y->v.fun;
        result = a->arity == b->arity && a->index == b->index && a->num_free == b->num_free &&
                 memcmp(a->uniq, b->uniq, 16) == 0 && eq_int(c, a->module, b->module, level) &&
                 eq_int(c, a->old_index, b->old_index, level) && eq_int(c, a->old_uniq, b->old_uniq, level) &&
                 eq_int(c, a->pid, b->pid, level);
        xa = a->free_vars, ya = b->free_vars, n = result ? a->num_free : 0;
        break;
      }
      default:
        result = scalar_eq(x, y);
        continue;
    }
    if (!result || n == 0) continue;
    if (!push_eq(c, &stack, local, &depth, &cap, (eq_frame){xa, ya, n})) result = false;
  }
  if (stack != local) ep_free(c->m, stack);
  return result;
}

/* ======================================================================= */
/* standard term order                                                      */
/* ======================================================================= */

/* Map keys that contain maps are sorted with nested calls; past this many
 * levels the keys are taken in stored order instead (an approximation no
 * real term reaches, which keeps hostile input from exhausting the C stack). */
#define EP__KEY_NEST 64

/* number < atom < reference < fun < port < pid < tuple < map < nil < list <
 * bit string. In exact mode (map keys) integers sort before floats. */
static int type_class(uint8_t type, bool exact) {
  switch (type) {
    case EP_T_INT:
    case EP_T_BIG:
      return 2;
    case EP_T_FLOAT:
      return exact ? 3 : 2;
    case EP_T_ATOM:
      return 4;
    case EP_T_REF:
      return 5;
    case EP_T_EXPORT:
    case EP_T_FUN:
      return 6;
    case EP_T_PORT:
      return 7;
    case EP_T_PID:
      return 8;
    case EP_T_TUPLE:
      return 9;
    case EP_T_MAP:
      return 10;
    case EP_T_NIL:
      return 11;
    case EP_T_LIST:
    case EP_T_STRING:
      return 12;
    case EP_T_BINARY:
    case EP_T_BITSTR:
      return 13;
    default:
      return 0; /* EP_T_NONE first */
  }
}

static int sgn_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }
static int sgn_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

static int cmp_text(const void *a, size_t an, const void *b, size_t bn) {
  size_t m = an < bn ? an : bn;
  int c = m ? memcmp(a, b, m) : 0;
  if (c) return c < 0 ? -1 : 1;
  return sgn_u64(an, bn);
}

/* Magnitudes as little-endian bytes, compared by value. */
static int cmp_mag(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
  while (an && a[an - 1] == 0) an--;
  while (bn && b[bn - 1] == 0) bn--;
  if (an != bn) return an < bn ? -1 : 1;
  for (size_t i = an; i > 0; i--)
    if (a[i - 1] != b[i - 1]) return a[i - 1] < b[i - 1] ? -1 : 1;
  return 0;
}

/* sign and magnitude of any number; a float must be integral (|f| >= 2^63). */
static size_t num_mag(const ep_term *t, bool *neg, uint8_t *buf /* 160 bytes */, const uint8_t **mag) {
  if (t->type == EP_T_BIG) {
    *neg = t->aux != 0;
    *mag = t->v.bytes;
    return t->n;
  }
  if (t->type == EP_T_INT) {
    *neg = t->v.i < 0;
    uint64_t m = t->v.i < 0 ? (uint64_t)0 - (uint64_t)t->v.i : (uint64_t)t->v.i;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(m >> (8 * i));
    *mag = buf;
    return 8;
  }
  /* integral float: f = m * 2^e with a 53-bit m */
  double f = t->v.f;
  *neg = f < 0;
  int e;
  double m = frexp(fabs(f), &e);
  uint64_t mi = (uint64_t)ldexp(m, 53);
  int shift = e - 53; /* >= 10 here */
  memset(buf, 0, 160);
  size_t byte = (size_t)shift / 8;
  unsigned bit = (unsigned)shift % 8;
  for (int i = 0; i < 8; i++) {
    uint8_t v = (uint8_t)(mi >> (8 * i));
    buf[byte + (size_t)i] |= (uint8_t)(v << bit);
    if (bit) buf[byte + (size_t)i + 1] |= (uint8_t)(v >> (8 - bit));
  }
  *mag = buf;
  return byte + 10;
}

static int cmp_numbers(const ep_term *x, const ep_term *y) {
  if (x->type == EP_T_INT && y->type == EP_T_INT) return sgn_i64(x->v.i, y->v.i);
  if (x->type == EP_T_FLOAT && y->type == EP_T_FLOAT) return x->v.f < y->v.f ? -1 : x->v.f > y->v.f;
  /* One float against an integer: exact when the float is in int64 range. */
  if (x->type == EP_T_FLOAT || y->type == EP_T_FLOAT) {
    bool swap = y->type == EP_T_FLOAT;
    const ep_term *f = swap ? y : x, *i = swap ? x : y;
    double v = f->v.f;
    int r;
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
      double tv = trunc(v);
      int64_t ti = (int64_t)tv;
      if (i->type == EP_T_BIG) {
        r = i->aux ? 1 : -1; /* a bignum lies outside int64 */
      } else if (ti != i->v.i) {
        r = ti < i->v.i ? -1 : 1;
      } else {
        r = v > tv ? 1 : v < tv ? -1 : 0;
      }
    } else {
      uint8_t b1[160], b2[160];
      const uint8_t *m1, *m2;
      bool n1, n2;
      size_t l1 = num_mag(f, &n1, b1, &m1), l2 = num_mag(i, &n2, b2, &m2);
      if (n1 != n2) {
        r = n1 ? -1 : 1;
      } else {
        r = cmp_mag(m1, l1, m2, l2);
        if (n1) r = -r;
      }
    }
    return swap ? -r : r;
  }
  uint8_t b1[160], b2[160];
  const uint8_t *m1, *m2;
  bool n1, n2;
  size_t l1 = num_mag(x, &n1, b1, &m1), l2 = num_mag(y, &n2, b2, &m2);
  if (n1 != n2) return n1 ? -1 : 1;
  int r = cmp_mag(m1, l1, m2, l2);
  return n1 ? -r : r;
}

typedef enum { CF_SEQ, CF_LIST } cf_kind;

typedef struct {
  cf_kind kind;
  /* CF_SEQ: arrays of terms compared pairwise */
  const ep_term *x, *y;
  size_t n;
  ep_term *owned; /* freed when the frame is popped (sorted map values) */
  /* CF_LIST: two lists (LIST or STRING), element i next */
  ep_term lx, ly;
  size_t i;
} cmp_frame;

static int cmp_int(opctx *c, ep_term x0, ep_term y0, bool exact, int level);

typedef struct {
  opctx *c;
  const ep_term *items;
  int level;
} key_ctx;

static int key_order(const void *a, const void *b, void *ctx) {
  const key_ctx *k = ctx;
  if (k->c->err) return 0; /* the sort's result is thrown away */
  uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
  return cmp_int(k->c, k->items[2 * i], k->items[2 * j], true, k->level + 1);
}

/* Indices of a map's pairs in key order (allocated with c->m), or NULL with
 * c->err set. */
static uint32_t *sorted_keys(opctx *c, const ep_term *m, int level) {
  uint32_t *idx = ep_malloc(c->m, ((size_t)m->n ? m->n : 1) * sizeof *idx);
  if (!idx) {
    c->err = EP_ENOMEM;
    return NULL;
  }
  for (uint32_t i = 0; i < m->n; i++) idx[i] = i;
  if (level < EP__KEY_NEST) {
    key_ctx k = {c, m->v.items, level};
    qsort_r(idx, m->n, sizeof *idx, key_order, &k);
  }
  if (c->err) {
    ep_free(c->m, idx);
    return NULL;
  }
  return idx;
}

static ep_term list_elem(const ep_term *l, size_t i, const ep_term **ref) {
  if (l->type == EP_T_LIST) {
    *ref = &l->v.items[i];
    return l->v.items[i];
  }
  *ref = NULL;
  return ep_int(l->v.bytes[i]);
}

/* The list after its first k elements (k < n). */
static ep_term list_rest(const ep_term *l, size_t k) {
  ep_term r = *l;
  r.n -= (uint32_t)k;
  if (l->type == EP_T_LIST)
    r.v.items = l->v.items + k;
  else
    r.v.bytes = l->v.bytes + k;
  return r;
}

static bool push_cmp(opctx *c, cmp_frame **stack, cmp_frame *local, size_t *sp, size_t *cap, const cmp_frame *f) {
  if (*sp == *cap) {
    size_t ncap = *cap * 2;
    cmp_frame *ns = ep_malloc(c->m, ncap * sizeof *ns);
    if (!ns) {
      c->err = EP_ENOMEM;
      return false;
    }
    memcpy(ns, *stack, *sp * sizeof *ns);
    if (*stack != local) ep_free(c->m, *stack);
    *stack = ns;
    *cap = ncap;
  }
  (*stack)[(*sp)++] = *f;
  return true;
}

/* Negative, 0 or positive; on allocation failure c->err is set and the
 * result means nothing. */
static int cmp_int(opctx *c, ep_term x0, ep_term y0, bool exact, int level) {
  cmp_frame local[16], *stack = local;
  size_t sp = 0, cap = 16;
  int r = 0;
  cmp_frame root = {CF_SEQ, &x0, &y0, 1, NULL, {0}, {0}, 0};
  stack[sp++] = root;
  while (sp && r == 0) {
    cmp_frame *f = &stack[sp - 1];
    ep_term ex, ey;
    const ep_term *x, *y;
    if (f->kind == CF_SEQ) {
      if (f->n == 0) {
        ep_free(c->m, f->owned);
        sp--;
        continue;
      }
      x = f->x++, y = f->y++;
      f->n--;
    } else {
      size_t nx = f->lx.n, ny = f->ly.n, m = nx < ny ? nx : ny;
      if (f->i < m) {
        const ep_term *rx, *ry;
        ex = list_elem(&f->lx, f->i, &rx);
        ey = list_elem(&f->ly, f->i, &ry);
        f->i++;
        x = rx ? rx : &ex;
        y = ry ? ry : &ey;
      } else {
        /* One list ran out (or both): compare what follows. */
        ep_term tx = nx == m ? ep_list_tail(f->lx) : list_rest(&f->lx, m);
        ep_term ty = ny == m ? ep_list_tail(f->ly) : list_rest(&f->ly, m);
        sp--;
        ep_term *own = ep_malloc(c->m, 2 * sizeof *own);
        if (!own) {
          c->err = EP_ENOMEM;
          break;
        }
        own[0] = tx, own[1] = ty;
        cmp_frame nf = {CF_SEQ, &own[0], &own[1], 1, own, {0}, {0}, 0};
        if (!push_cmp(c, &stack, local, &sp, &cap, &nf)) {
          ep_free(c->m, own);
          break;
        }
        continue;
      }
    }
    int cx = type_class(x->type, exact), cy = type_class(y->type, exact);
    if (cx != cy) {
      r = cx < cy ? -1 : 1;
      break;
    }
    cmp_frame nf = {CF_SEQ, NULL, NULL, 0, NULL, {0}, {0}, 0};
    switch (x->type) {
      case EP_T_INT:
      case EP_T_BIG:
      case EP_T_FLOAT:
        r = cmp_numbers(x, y);
        /* 1 and 1.0 are equal in the standard order but not as map keys */
        if (r == 0 && exact && x->type != y->type) r = x->type == EP_T_FLOAT ? 1 : -1;
        break;
      case EP_T_ATOM:
        r = cmp_text(x->v.str, x->n, y->v.str, y->n);
        break;
      case EP_T_NIL:
      case EP_T_NONE:
        break;
      case EP_T_REF:
        r = cmp_text(x->v.ref.node, x->v.ref.node_len, y->v.ref.node, y->v.ref.node_len);
        if (!r) r = sgn_u64(x->v.ref.creation, y->v.ref.creation);
        if (!r) r = sgn_u64(x->n, y->n);
        for (size_t i = x->n; !r && i > 0; i--) r = sgn_u64(x->v.ref.ids[i - 1], y->v.ref.ids[i - 1]);
        break;
      case EP_T_PORT:
        r = cmp_text(x->v.port.node, x->v.port.node_len, y->v.port.node, y->v.port.node_len);
        if (!r) r = sgn_u64(x->v.port.creation, y->v.port.creation);
        if (!r) r = sgn_u64(x->v.port.id, y->v.port.id);
        break;
      case EP_T_PID:
        r = cmp_text(x->v.pid.node, x->v.pid.node_len, y->v.pid.node, y->v.pid.node_len);
        if (!r) r = sgn_u64(x->v.pid.creation, y->v.pid.creation);
        if (!r) r = sgn_u64(x->v.pid.serial, y->v.pid.serial);
        if (!r) r = sgn_u64(x->v.pid.id, y->v.pid.id);
        break;
      case EP_T_EXPORT:
      case EP_T_FUN:
        if (x->type != y->type) { /* OTP 25 sorts closures before fun M:F/A */
          r = x->type == EP_T_FUN ? -1 : 1;
        } else if (x->type == EP_T_EXPORT) {
          const ep_export *a = x->v.exp, *b = y->v.exp;
          r = cmp_text(a->module.v.str, a->module.n, b->module.v.str, b->module.n);
          if (!r) r = cmp_text(a->function.v.str, a->function.n, b->function.v.str, b->function.n);
          if (!r) r = sgn_u64(a->arity, b->arity);
        } else {
          const ep_fun *a = x->v.fun, *b = y->v.fun;
          r = cmp_text(a->module.v.str, a->module.n, b->module.v.str, b->module.n);
          if (!r) r = sgn_u64(a->index, b->index);
          if (!r) r = cmp_text(a->uniq, 16, b->uniq, 16);
          if (!r) r = cmp_int(c, a->pid, b->pid, exact, level);
          if (!r) r = sgn_u64(a->num_free, b->num_free);
          if (!r) nf.x = a->free_vars, nf.y = b->free_vars, nf.n = a->num_free;
        }
        break;
      case EP_T_TUPLE:
        r = sgn_u64(x->n, y->n);
        if (!r) nf.x = x->v.items, nf.y = y->v.items, nf.n = x->n;
        break;
      case EP_T_MAP: {
        /* Size, then the keys in key order, then the values in that order. */
        r = sgn_u64(x->n, y->n);
        if (r || x->n == 0) break;
        if (level >= EP__KEY_NEST) { /* too deep for nested calls: stored order */
          nf.x = x->v.items, nf.y = y->v.items, nf.n = 2 * (size_t)x->n;
          break;
        }
        uint32_t *ix = sorted_keys(c, x, level);
        uint32_t *iy = ix ? sorted_keys(c, y, level) : NULL;
        ep_term *own = iy ? ep_malloc(c->m, 2 * (size_t)x->n * sizeof *own) : NULL;
        if (!own) {
          c->err = EP_ENOMEM;
          ep_free(c->m, ix), ep_free(c->m, iy);
          break;
        }
        for (uint32_t i = 0; i < x->n && !r && !c->err; i++) {
          r = cmp_int(c, x->v.items[2 * ix[i]], y->v.items[2 * iy[i]], true, level + 1);
          own[i] = x->v.items[2 * ix[i] + 1];
          own[x->n + i] = y->v.items[2 * iy[i] + 1];
        }
        ep_free(c->m, ix), ep_free(c->m, iy);
        if (r || c->err) {
          ep_free(c->m, own);
          break;
        }
        nf.x = own, nf.y = own + x->n, nf.n = x->n, nf.owned = own;
        break;
      }
      case EP_T_LIST:
      case EP_T_STRING:
        nf.kind = CF_LIST;
        nf.lx = *x, nf.ly = *y;
        break;
      case EP_T_BINARY:
      case EP_T_BITSTR: {
        /* Bit by bit: bytes first, then the bit length decides. */
        size_t m = x->n < y->n ? x->n : y->n;
        size_t full = m;
        if (full && ((x->type == EP_T_BITSTR && x->n == m) || (y->type == EP_T_BITSTR && y->n == m))) full--;
        r = full ? memcmp(x->v.bytes, y->v.bytes, full) : 0;
        r = r < 0 ? -1 : r > 0;
        if (!r && full < m) {
          unsigned bx = x->type == EP_T_BITSTR && x->n == m ? x->aux : 8;
          unsigned by = y->type == EP_T_BITSTR && y->n == m ? y->aux : 8;
          unsigned bits = bx < by ? bx : by;
          uint8_t mask = (uint8_t)(0xFFu << (8 - bits));
          uint8_t vx = x->v.bytes[full] & mask, vy = y->v.bytes[full] & mask;
          r = sgn_u64(vx, vy);
          if (!r) {
            uint64_t lx = (uint64_t)(x->n - 1) * 8 + (x->type == EP_T_BITSTR ? x->aux : 8);
            uint64_t ly = (uint64_t)(y->n - 1) * 8 + (y->type == EP_T_BITSTR ? y->aux : 8);
            r = sgn_u64(lx, ly);
          }
        } else if (!r) {
          uint64_t lx = x->n ? (uint64_t)(x->n - 1) * 8 + (x->type == EP_T_BITSTR ? x->aux : 8) : 0;
          uint64_t ly = y->n ? (uint64_t)(y->n - 1) * 8 + (y->type == EP_T_BITSTR ? y->aux : 8) : 0;
          r = sgn_u64(lx, ly);
        }
        break;
      }
      default:
        break;
    }
    if (r || c->err) {
      ep_free(c->m, nf.owned);
      break;
    }
    if ((nf.kind == CF_SEQ && nf.n) || nf.kind == CF_LIST) {
      if (!push_cmp(c, &stack, local, &sp, &cap, &nf)) {
        ep_free(c->m, nf.owned);
        break;
      }
    }
  }
  /* Frames left after a decision (or a failure) may own sorted value arrays. */
  while (sp) {
    if (stack[sp - 1].kind == CF_SEQ) ep_free(c->m, stack[sp - 1].owned);
    sp--;
  }
  if (stack != local) ep_free(c->m, stack);
  return c->err ? 0 : r;
}

/* Standard order. Approximations (documented in docs/terms.md): refs, pids
 * and ports compare node name, creation, then numbers (the BEAM's order for
 * local ones is by number); closures sort before fun M:F/A (as OTP 25
 * sorts them), closures by module, index, uniq, creator, free variables.
 * Allocation failure (deep terms, map keys to sort) gives 0: callers that
 * must tell it apart use ep__term_cmp. Likewise ep_term_eq says false. */
int ep_term_cmp(ep_term x, ep_term y) {
  opctx c = {NULL, 0};
  return cmp_int(&c, x, y, false, 0);
}

int ep__term_cmp(const ep_mem *m, ep_term x, ep_term y, int *order) {
  opctx c = {m, 0};
  *order = cmp_int(&c, x, y, false, 0);
  if (c.err) *order = 0;
  return c.err;
}

/* ======================================================================= */
/* deep copy                                                                */
/* ======================================================================= */

typedef struct {
  ep_term *dst;
  const ep_term *src;
  size_t n;
} cp_frame;

static const char *dup_text(ep_arena *a, const char *s, size_t n) { return ep_arena_dup(a, s, n); }

/* Copies what t points at except element arrays, which are allocated and
 * returned for the walk to fill. false on allocation failure. */
static bool copy_shallow(ep_arena *a, const ep_term *s, ep_term *d, ep_term **kids, const ep_term **skids,
                         size_t *n) {
  *d = *s;
  *n = 0;
  switch (s->type) {
    case EP_T_ATOM:
      return (d->v.str = dup_text(a, s->v.str, s->n)) != NULL;
    case EP_T_BIG:
    case EP_T_BINARY:
    case EP_T_BITSTR:
    case EP_T_STRING:
      return (d->v.bytes = ep_arena_dup(a, s->v.bytes, s->n)) != NULL;
    case EP_T_PID:
      return (d->v.pid.node = dup_text(a, s->v.pid.node, s->v.pid.node_len)) != NULL;
    case EP_T_PORT:
      return (d->v.port.node = dup_text(a, s->v.port.node, s->v.port.node_len)) != NULL;
    case EP_T_REF:
      d->v.ref.node = dup_text(a, s->v.ref.node, s->v.ref.node_len);
      d->v.ref.ids = ep_arena_dup(a, s->v.ref.ids, s->n * sizeof(uint32_t));
      return d->v.ref.node && d->v.ref.ids;
    case EP_T_EXPORT: {
      ep_export *e = ep_arena_alloc(a, sizeof *e);
      if (!e) return false;
      *e = *s->v.exp;
      const ep_term *dk;
      ep_term *k;
      size_t dn;
      if (!copy_shallow(a, &s->v.exp->module, &e->module, &k, &dk, &dn) ||
          !copy_shallow(a, &s->v.exp->function, &e->function, &k, &dk, &dn))
        return false;
      d->v.exp = e;
      return true;
    }
    case EP_T_FUN: {
      const ep_fun *sf = s->v.fun;
      ep_fun *f = ep_arena_alloc(a, sizeof *f);
      if (!f) return false;
      *f = *sf;
      const ep_term *dk;
      ep_term *k;
      size_t dn;
      /* module, old_index, old_uniq and pid hold no element arrays */
      if (!copy_shallow(a, &sf->module, &f->module, &k, &dk, &dn) ||
          !copy_shallow(a, &sf->old_index, &f->old_index, &k, &dk, &dn) ||
          !copy_shallow(a, &sf->old_uniq, &f->old_uniq, &k, &dk, &dn) ||
          !copy_shallow(a, &sf->pid, &f->pid, &k, &dk, &dn))
        return false;
      f->free_vars = NULL;
      if (sf->num_free) {
        ep_term *fv = ep_arena_alloc(a, (size_t)sf->num_free * sizeof *fv);
        if (!fv) return false;
        f->free_vars = fv;
        *kids = fv, *skids = sf->free_vars, *n = sf->num_free;
      }
      d->v.fun = f;
      return true;
    }
    case EP_T_TUPLE:
    case EP_T_LIST:
    case EP_T_MAP: {
      size_t cnt = s->type == EP_T_TUPLE ? s->n : s->type == EP_T_LIST ? (size_t)s->n + 1 : 2 * (size_t)s->n;
      if (cnt == 0) {
        d->v.items = NULL;
        return true;
      }
      ep_term *it = ep_arena_alloc(a, cnt * sizeof *it);
      if (!it) return false;
      d->v.items = it;
      *kids = it, *skids = s->v.items, *n = cnt;
      return true;
    }
    default:
      return true;
  }
}

ep_term ep_term_copy(ep_arena *a, ep_term t) {
  if (!a) return ep_none();
  cp_frame local[32], *stack = local;
  size_t sp = 0, cap = 32;
  ep_term root;
  const ep_term *src = &t;
  ep_term *dst = &root;
  bool ok = true;
  for (;;) {
    ep_term *kids = NULL;
    const ep_term *skids = NULL;
    size_t n = 0;
    if (!copy_shallow(a, src, dst, &kids, &skids, &n)) {
      ok = false;
      break;
    }
    if (n) {
      if (sp == cap) {
        size_t ncap = cap * 2;
        cp_frame *ns = ep_malloc(ep_arena_mem(a), ncap * sizeof *ns);
        if (!ns) {
          ok = false;
          break;
        }
        memcpy(ns, stack, sp * sizeof *ns);
        if (stack != local) ep_free(ep_arena_mem(a), stack);
        stack = ns;
        cap = ncap;
      }
      stack[sp++] = (cp_frame){kids, skids, n};
    }
    while (sp && stack[sp - 1].n == 0) sp--;
    if (!sp) break;
    cp_frame *f = &stack[sp - 1];
    dst = f->dst++;
    src = f->src++;
    f->n--;
  }
  if (stack != local) ep_free(ep_arena_mem(a), stack);
  return ok ? root : ep_none();
}
