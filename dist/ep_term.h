/* ep_term.h - Erlang terms in C: a small value type and arena-owned arrays.
 *
 * An ep_term is a 32-byte value (copy it freely). Scalars (integers, floats,
 * atoms made from string literals, nil) need no memory at all; compound terms
 * (tuples, lists, maps, binaries, ...) point at arrays that live in an
 * ep_arena and die with it. Decoded terms live entirely in the arena they
 * were decoded into. See docs/terms.md for why this shape was chosen.
 *
 *   ep_arena *a = ep_arena_new(NULL);
 *   ep_term t = EP_TUPLE(a, ep_atom("call"), ep_atom("lists"), ep_atom("seq"),
 *                        EP_LIST(a, ep_int(1), ep_int(10)));
 *   ...
 *   ep_arena_free(a);
 *
 * Constructors that allocate return an EP_T_NONE term when the arena is out
 * of memory; EP_T_NONE propagates through every constructor and makes the
 * encoder fail with EP_ENOMEM, so one check at the end is enough.
 *
 * Lists: a non-empty list is n elements plus a tail (items[n]); a proper
 * list has a NIL tail. A list of bytes may also be stored compactly as
 * EP_T_STRING (that is how the wire sends it); both are "lists": use
 * ep_is_list / ep_list_len / ep_list_at to read either.
 */
#ifndef EP_TERM_H
#define EP_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ep_mem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ep_type {
  EP_T_NONE = 0, /* no term: allocation failure or "absent" */
  EP_T_INT,      /* v.i: any integer that fits int64_t */
  EP_T_BIG,      /* n magnitude bytes little-endian at v.bytes, aux = sign (1 = negative);
                    only for values outside int64_t */
  EP_T_FLOAT,    /* v.f */
  EP_T_ATOM,     /* n bytes of UTF-8 at v.str, NUL-terminated */
  EP_T_NIL,      /* [] */
  EP_T_LIST,     /* n >= 1 elements at v.items, then the tail at v.items[n] */
  EP_T_STRING,   /* proper list of n bytes (0..255) at v.bytes, n >= 1 */
  EP_T_TUPLE,    /* n elements at v.items */
  EP_T_MAP,      /* n pairs at v.items: key 0, value 0, key 1, value 1, ... */
  EP_T_BINARY,   /* n bytes at v.bytes */
  EP_T_BITSTR,   /* n bytes at v.bytes, aux = bits used in the last byte (1..7) */
  EP_T_PID,      /* v.pid */
  EP_T_PORT,     /* v.port */
  EP_T_REF,      /* v.ref, n = number of 32-bit id words (1..5) */
  EP_T_FUN,      /* v.fun */
  EP_T_EXPORT    /* v.exp (fun M:F/A) */
} ep_type;

typedef struct ep_term ep_term;
typedef struct ep_fun ep_fun;
typedef struct ep_export ep_export;

struct ep_term {
  uint8_t type; /* ep_type */
  uint8_t aux;  /* EP_T_BIG: sign; EP_T_BITSTR: bits in last byte */
  uint16_t reserved;
  uint32_t n; /* count: elements, pairs, bytes, digits, words */
  union {
    int64_t i;
    double f;
    const char *str;
    const uint8_t *bytes;
    ep_term *items;
    struct {
      const char *node; /* node name atom text, NUL-terminated */
      uint32_t node_len;
      uint32_t id, serial, creation;
    } pid;
    struct {
      const char *node;
      uint64_t id;
      uint32_t node_len;
      uint32_t creation;
    } port;
    struct {
      const char *node;
      const uint32_t *ids; /* n words, as NEWER_REFERENCE_EXT orders them */
      uint32_t node_len;
      uint32_t creation;
    } ref;
    const ep_fun *fun;
    const ep_export *exp;
  } v;
};

/* fun M:F/A */
struct ep_export {
  ep_term module;   /* atom */
  ep_term function; /* atom */
  uint32_t arity;
};

/* A closure, as NEW_FUN_EXT carries it; re-encoded losslessly. */
struct ep_fun {
  uint32_t arity;
  uint8_t uniq[16];
  uint32_t index;
  ep_term module;    /* atom */
  ep_term old_index; /* integer */
  ep_term old_uniq;  /* integer */
  ep_term pid;       /* pid of the creator */
  uint32_t num_free;
  const ep_term *free_vars; /* num_free terms */
};

/* --- scalars: no memory needed ------------------------------------------------ */

static inline ep_term ep_none(void) {
  ep_term t = {0};
  return t;
}
static inline ep_term ep_int(int64_t i) {
  ep_term t = {0};
  t.type = EP_T_INT;
  t.v.i = i;
  return t;
}
static inline ep_term ep_float(double f) {
  ep_term t = {0};
  t.type = EP_T_FLOAT;
  t.v.f = f;
  return t;
}
static inline ep_term ep_nil(void) {
  ep_term t = {0};
  t.type = EP_T_NIL;
  return t;
}
/* An atom that borrows name (UTF-8, NUL-terminated): use it with string
 * literals or any text that outlives the term. */
ep_term ep_atom(const char *name);
/* An atom whose text is copied into the arena. */
ep_term ep_atom_copy(ep_arena *a, const char *name, size_t len);
static inline ep_term ep_bool(bool b) { return ep_atom(b ? "true" : "false"); }

/* An integer of any size from a sign and little-endian magnitude bytes;
 * normalised to EP_T_INT when it fits. Copies. */
ep_term ep_big(ep_arena *a, bool negative, const uint8_t *le_bytes, size_t n);
ep_term ep_uint64(ep_arena *a, uint64_t u);

/* --- compounds: arrays in the arena ---------------------------------------------- */

/* Each copies its input array into the arena. */
ep_term ep_tuple(ep_arena *a, size_t n, const ep_term *elems);
ep_term ep_list(ep_arena *a, size_t n, const ep_term *elems); /* proper; n == 0 gives [] */
ep_term ep_list_improper(ep_arena *a, size_t n, const ep_term *elems, ep_term tail);
ep_term ep_map(ep_arena *a, size_t npairs, const ep_term *kv); /* k0, v0, k1, v1, ... */
ep_term ep_binary(ep_arena *a, const void *data, size_t n);
ep_term ep_bitstr(ep_arena *a, const void *data, size_t nbytes, unsigned last_bits);
/* A string as Erlang has it: a list of Unicode code points from UTF-8 text
 * (bytes only: EP_T_STRING; otherwise a list of integers). */
ep_term ep_string(ep_arena *a, const char *utf8);
ep_term ep_string_n(ep_arena *a, const char *utf8, size_t n);
/* <<"text">> */
ep_term ep_binary_str(ep_arena *a, const char *text);

ep_term ep_pid(ep_arena *a, const char *node, uint32_t id, uint32_t serial, uint32_t creation);
ep_term ep_port(ep_arena *a, const char *node, uint64_t id, uint32_t creation);
ep_term ep_ref(ep_arena *a, const char *node, uint32_t creation, size_t nids, const uint32_t *ids);
ep_term ep_export_fun(ep_arena *a, ep_term module, ep_term function, uint32_t arity);

/* Uninitialised arrays to fill in place (faster than building twice).
 * Each returns the term and sets *items; fill every slot before use. */
ep_term ep_tuple_new(ep_arena *a, size_t n, ep_term **items);
ep_term ep_list_new(ep_arena *a, size_t n, ep_term **items); /* tail set to [] */
ep_term ep_map_new(ep_arena *a, size_t npairs, ep_term **kv);

#define EP__NARGS(...) (sizeof((ep_term[]){__VA_ARGS__}) / sizeof(ep_term))
/* EP_TUPLE(a, e1, e2, ...) and EP_LIST(a, e1, ...): at least one element. */
#define EP_TUPLE(a, ...) ep_tuple((a), EP__NARGS(__VA_ARGS__), (ep_term[]){__VA_ARGS__})
#define EP_LIST(a, ...) ep_list((a), EP__NARGS(__VA_ARGS__), (ep_term[]){__VA_ARGS__})
/* EP_MAP(a, k1, v1, k2, v2, ...) */
#define EP_MAP(a, ...) ep_map((a), EP__NARGS(__VA_ARGS__) / 2, (ep_term[]){__VA_ARGS__})

/* --- inspection ------------------------------------------------------------------ */

static inline bool ep_is_none(ep_term t) { return t.type == EP_T_NONE; }
static inline bool ep_is_atom(ep_term t) { return t.type == EP_T_ATOM; }
static inline bool ep_is_integer(ep_term t) { return t.type == EP_T_INT || t.type == EP_T_BIG; }
static inline bool ep_is_list(ep_term t) {
  return t.type == EP_T_NIL || t.type == EP_T_LIST || t.type == EP_T_STRING;
}
static inline bool ep_is_tuple(ep_term t) { return t.type == EP_T_TUPLE; }
/* true when t is the atom with this name */
bool ep_atom_eq(ep_term t, const char *name);
/* true when t is a tuple of arity n whose first element is the atom tag */
bool ep_is_record(ep_term t, const char *tag, size_t n);
/* Number of elements before the tail (0 for []; -1 when not a list). */
ptrdiff_t ep_list_len(ep_term t);
/* Element i of a list of any representation; EP_T_NONE when out of range. */
ep_term ep_list_at(ep_term t, size_t i);
/* The tail after the last element ([] for proper lists). */
ep_term ep_list_tail(ep_term t);
/* Value for key in a map; EP_T_NONE when absent. */
ep_term ep_map_get(ep_term map, ep_term key);
/* The integer as int64_t; EP_ERANGE when it does not fit, EP_EINVAL when not
 * an integer. */
int ep_get_int64(ep_term t, int64_t *out);
/* Copies the text of an atom, string (list of code points, as UTF-8),
 * binary or bitstring into a NUL-terminated arena string. */
int ep_get_text(ep_arena *a, ep_term t, const char **out, size_t *len);

/* Exact equality (=:=). Iterative: safe on any depth. */
bool ep_term_eq(ep_term x, ep_term y);
/* Standard Erlang term order: negative, 0 or positive. Iterative. */
int ep_term_cmp(ep_term x, ep_term y);

/* Deep copy of t into arena a (for keeping a term when its arena dies).
 * Iterative. Returns EP_T_NONE on allocation failure. */
ep_term ep_term_copy(ep_arena *a, ep_term t);

#ifdef __cplusplus
}
#endif
#endif
