/* ep_term.c - term constructors and simple accessors. */
#include "ep_term.h"

#include <string.h>

#include "ep_error.h"
#include "ep_utf8_int.h"

static inline ep_term mk(uint8_t type) {
  ep_term t = {0};
  t.type = type;
  return t;
}

ep_term ep_atom(const char *name) {
  ep_term t = mk(EP_T_ATOM);
  t.v.str = name;
  t.n = (uint32_t)strlen(name);
  return t;
}

ep_term ep_atom_copy(ep_arena *a, const char *name, size_t len) {
  if (len > UINT32_MAX) return ep_none();
  char *s = ep_arena_dup(a, name, len);
  if (!s) return ep_none();
  ep_term t = mk(EP_T_ATOM);
  t.v.str = s;
  t.n = (uint32_t)len;
  return t;
}

ep_term ep_big(ep_arena *a, bool negative, const uint8_t *le, size_t n) {
  while (n > 0 && le[n - 1] == 0) n--;
  if (n <= 8) {
    uint64_t u = 0;
    for (size_t i = n; i > 0; i--) u = (u << 8) | le[i - 1];
    if (!negative && u <= (uint64_t)INT64_MAX) return ep_int((int64_t)u);
    if (negative && u <= (uint64_t)INT64_MAX + 1) return ep_int(u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u);
  }
  if (n > UINT32_MAX) return ep_none();
  uint8_t *d = ep_arena_alloc(a, n);
  if (!d) return ep_none();
  memcpy(d, le, n);
  ep_term t = mk(EP_T_BIG);
  t.aux = negative ? 1 : 0;
  t.n = (uint32_t)n;
  t.v.bytes = d;
  return t;
}

ep_term ep_uint64(ep_arena *a, uint64_t u) {
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(u >> (8 * i));
  return ep_big(a, false, le, 8);
}

static bool any_none(size_t n, const ep_term *e) {
  for (size_t i = 0; i < n; i++)
    if (e[i].type == EP_T_NONE) return true;
  return false;
}

static ep_term *alloc_terms(ep_arena *a, size_t n) {
  if (n > SIZE_MAX / sizeof(ep_term) || n > UINT32_MAX) return NULL;
  return ep_arena_alloc(a, n * sizeof(ep_term));
}

ep_term ep_tuple_new(ep_arena *a, size_t n, ep_term **items) {
  ep_term *it = n ? alloc_terms(a, n) : NULL;
  if (n && !it) return ep_none();
  ep_term t = mk(EP_T_TUPLE);
  t.n = (uint32_t)n;
  t.v.items = it;
  if (items) *items = it;
  return t;
}

ep_term ep_tuple(ep_arena *a, size_t n, const ep_term *elems) {
  if (any_none(n, elems)) return ep_none();
  ep_term *it;
  ep_term t = ep_tuple_new(a, n, &it);
  if (t.type == EP_T_NONE) return t;
  if (n) memcpy(it, elems, n * sizeof(ep_term));
  return t;
}

ep_term ep_list_new(ep_arena *a, size_t n, ep_term **items) {
  if (n == 0) {
    if (items) *items = NULL;
    return ep_nil();
  }
  if (n >= UINT32_MAX) return ep_none();
  ep_term *it = alloc_terms(a, n + 1);
  if (!it) return ep_none();
  it[n] = ep_nil();
  ep_term t = mk(EP_T_LIST);
  t.n = (uint32_t)n;
  t.v.items = it;
  if (items) *items = it;
  return t;
}

ep_term ep_list_improper(ep_arena *a, size_t n, const ep_term *elems, ep_term tail) {
  if (any_none(n, elems) || tail.type == EP_T_NONE) return ep_none();
  if (n == 0) return tail;
  ep_term *it;
  ep_term t = ep_list_new(a, n, &it);
  if (t.type == EP_T_NONE) return t;
  memcpy(it, elems, n * sizeof(ep_term));
  it[n] = tail;
  return t;
}

ep_term ep_list(ep_arena *a, size_t n, const ep_term *elems) {
  return ep_list_improper(a, n, elems, ep_nil());
}

ep_term ep_map_new(ep_arena *a, size_t npairs, ep_term **kv) {
  if (npairs > UINT32_MAX / 2) return ep_none();
  ep_term *it = npairs ? alloc_terms(a, 2 * npairs) : NULL;
  if (npairs && !it) return ep_none();
  ep_term t = mk(EP_T_MAP);
  t.n = (uint32_t)npairs;
  t.v.items = it;
  if (kv) *kv = it;
  return t;
}

ep_term ep_map(ep_arena *a, size_t npairs, const ep_term *kv) {
  if (any_none(2 * npairs, kv)) return ep_none();
  ep_term *it;
  ep_term t = ep_map_new(a, npairs, &it);
  if (t.type == EP_T_NONE) return t;
  if (npairs) memcpy(it, kv, 2 * npairs * sizeof(ep_term));
  return t;
}

static ep_term bytes_term(ep_arena *a, uint8_t type, const void *data, size_t n) {
  if (n > UINT32_MAX) return ep_none();
  uint8_t *d = ep_arena_alloc(a, n ? n : 1);
  if (!d) return ep_none();
  if (n) memcpy(d, data, n);
  ep_term t = mk(type);
  t.n = (uint32_t)n;
  t.v.bytes = d;
  return t;
}

ep_term ep_binary(ep_arena *a, const void *data, size_t n) {
  return bytes_term(a, EP_T_BINARY, data, n);
}

ep_term ep_binary_str(ep_arena *a, const char *text) { return ep_binary(a, text, strlen(text)); }

ep_term ep_bitstr(ep_arena *a, const void *data, size_t nbytes, unsigned last_bits) {
  if (last_bits == 0 || last_bits > 8 || nbytes == 0) {
    if (nbytes == 0 || last_bits == 8) return ep_binary(a, data, nbytes);
    return ep_none();
  }
  if (last_bits == 8) return ep_binary(a, data, nbytes);
  ep_term t = bytes_term(a, EP_T_BITSTR, data, nbytes);
  if (t.type == EP_T_NONE) return t;
  /* Unused low bits are zero on the wire; keep the value canonical. */
  ((uint8_t *)t.v.bytes)[nbytes - 1] &= (uint8_t)(0xFFu << (8 - last_bits));
  t.aux = (uint8_t)last_bits;
  return t;
}

ep_term ep_string_n(ep_arena *a, const char *utf8, size_t n) {
  const uint8_t *s = (const uint8_t *)utf8;
  size_t count = 0;
  bool bytes_only = true;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int l = ep__utf8_decode(s + i, n - i, &cp);
    if (l <= 0) return ep_none();
    if (cp > 255) bytes_only = false;
    i += l;
    count++;
  }
  if (count == 0) return ep_nil();
  if (bytes_only && count <= 65535) {
    uint8_t *d = ep_arena_alloc(a, count);
    if (!d) return ep_none();
    size_t k = 0;
    for (size_t i = 0; i < n;) {
      uint32_t cp;
      i += (size_t)ep__utf8_decode(s + i, n - i, &cp);
      d[k++] = (uint8_t)cp;
    }
    ep_term t = mk(EP_T_STRING);
    t.n = (uint32_t)count;
    t.v.bytes = d;
    return t;
  }
  ep_term *it;
  ep_term t = ep_list_new(a, count, &it);
  if (t.type == EP_T_NONE) return t;
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += (size_t)ep__utf8_decode(s + i, n - i, &cp);
    it[k++] = ep_int(cp);
  }
  return t;
}

ep_term ep_string(ep_arena *a, const char *utf8) { return ep_string_n(a, utf8, strlen(utf8)); }

ep_term ep_pid(ep_arena *a, const char *node, uint32_t id, uint32_t serial, uint32_t creation) {
  size_t nl = strlen(node);
  char *nd = ep_arena_dup(a, node, nl);
  if (!nd) return ep_none();
  ep_term t = mk(EP_T_PID);
  t.v.pid.node = nd;
  t.v.pid.node_len = (uint32_t)nl;
  t.v.pid.id = id;
  t.v.pid.serial = serial;
  t.v.pid.creation = creation;
  return t;
}

ep_term ep_port(ep_arena *a, const char *node, uint64_t id, uint32_t creation) {
  size_t nl = strlen(node);
  char *nd = ep_arena_dup(a, node, nl);
  if (!nd) return ep_none();
  ep_term t = mk(EP_T_PORT);
  t.v.port.node = nd;
  t.v.port.node_len = (uint32_t)nl;
  t.v.port.id = id;
  t.v.port.creation = creation;
  return t;
}

ep_term ep_ref(ep_arena *a, const char *node, uint32_t creation, size_t nids, const uint32_t *ids) {
  if (nids < 1 || nids > 5) return ep_none();
  size_t nl = strlen(node);
  char *nd = ep_arena_dup(a, node, nl);
  uint32_t *w = ep_arena_alloc(a, nids * sizeof(uint32_t));
  if (!nd || !w) return ep_none();
  memcpy(w, ids, nids * sizeof(uint32_t));
  ep_term t = mk(EP_T_REF);
  t.n = (uint32_t)nids;
  t.v.ref.node = nd;
  t.v.ref.node_len = (uint32_t)nl;
  t.v.ref.creation = creation;
  t.v.ref.ids = w;
  return t;
}

ep_term ep_export_fun(ep_arena *a, ep_term module, ep_term function, uint32_t arity) {
  if (module.type != EP_T_ATOM || function.type != EP_T_ATOM) return ep_none();
  ep_export *e = ep_arena_alloc(a, sizeof *e);
  if (!e) return ep_none();
  e->module = module;
  e->function = function;
  e->arity = arity;
  ep_term t = mk(EP_T_EXPORT);
  t.v.exp = e;
  return t;
}

/* --- inspection ----------------------------------------------------------------- */

bool ep_atom_eq(ep_term t, const char *name) {
  if (t.type != EP_T_ATOM) return false;
  size_t n = strlen(name);
  return n == t.n && memcmp(t.v.str, name, n) == 0;
}

bool ep_is_record(ep_term t, const char *tag, size_t n) {
  return t.type == EP_T_TUPLE && t.n == n && n > 0 && ep_atom_eq(t.v.items[0], tag);
}

ptrdiff_t ep_list_len(ep_term t) {
  switch (t.type) {
    case EP_T_NIL:
      return 0;
    case EP_T_LIST:
    case EP_T_STRING:
      return (ptrdiff_t)t.n;
    default:
      return -1;
  }
}

ep_term ep_list_at(ep_term t, size_t i) {
  if (t.type == EP_T_LIST && i < t.n) return t.v.items[i];
  if (t.type == EP_T_STRING && i < t.n) return ep_int(t.v.bytes[i]);
  return ep_none();
}

ep_term ep_list_tail(ep_term t) {
  if (t.type == EP_T_LIST) return t.v.items[t.n];
  if (t.type == EP_T_STRING || t.type == EP_T_NIL) return ep_nil();
  return ep_none();
}

ep_term ep_map_get(ep_term map, ep_term key) {
  if (map.type != EP_T_MAP) return ep_none();
  for (uint32_t i = 0; i < map.n; i++)
    if (ep_term_eq(map.v.items[2 * i], key)) return map.v.items[2 * i + 1];
  return ep_none();
}

int ep_get_int64(ep_term t, int64_t *out) {
  if (t.type == EP_T_INT) {
    *out = t.v.i;
    return 0;
  }
  return t.type == EP_T_BIG ? EP_ERANGE : EP_EINVAL;
}

int ep_get_text(ep_arena *a, ep_term t, const char **out, size_t *len) {
  const char *s = NULL;
  size_t n = 0;
  switch (t.type) {
    case EP_T_ATOM:
      s = t.v.str, n = t.n;
      break;
    case EP_T_BINARY:
    case EP_T_BITSTR:
      s = (const char *)t.v.bytes, n = t.n;
      break;
    case EP_T_NIL:
      s = "", n = 0;
      break;
    case EP_T_STRING:
    case EP_T_LIST: {
      if (ep_list_tail(t).type != EP_T_NIL) return EP_EINVAL;
      size_t cnt = t.n;
      if (cnt > SIZE_MAX / 4 - 1) return EP_ENOMEM;
      uint8_t *d = ep_arena_alloc(a, cnt * 4 + 1);
      if (!d) return EP_ENOMEM;
      size_t k = 0;
      for (size_t i = 0; i < cnt; i++) {
        ep_term e = ep_list_at(t, i);
        if (e.type != EP_T_INT || e.v.i < 0 || e.v.i > 0x10FFFF || (e.v.i >= 0xD800 && e.v.i <= 0xDFFF))
          return EP_EINVAL;
        k += ep__utf8_encode((uint32_t)e.v.i, d + k);
      }
      d[k] = 0;
      *out = (const char *)d;
      if (len) *len = k;
      return 0;
    }
    default:
      return EP_EINVAL;
  }
  char *d = ep_arena_dup(a, s, n);
  if (!d) return EP_ENOMEM;
  *out = d;
  if (len) *len = n;
  return 0;
}
