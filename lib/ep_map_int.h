/* ep_map_int.h - open-addressing hash map from uint64_t keys to pointers.
 * Internal to lib/: pids, references and registered names are looked up on
 * every message, and 1000 calls in flight must not mean 1000-step scans. */
#ifndef EP_MAP_INT_H
#define EP_MAP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ep_mem.h"

typedef struct ep__map_slot {
  uint64_t key;
  void *val; /* NULL: empty; EP__MAP_TOMB: deleted */
} ep__map_slot;

typedef struct ep__map {
  ep__map_slot *slots;
  size_t cap; /* power of two or 0 */
  size_t used; /* live + tombstones */
  size_t live;
  unsigned rehashes; /* bumped when slots move: a walk that lets callbacks
                      * put must start over then */
  const ep_mem *mem;
} ep__map;

void ep__map_init(ep__map *m, const ep_mem *mem);
void ep__map_free(ep__map *m);
void *ep__map_get(const ep__map *m, uint64_t key);
/* 0 or EP_ENOMEM; replaces an existing value. */
int ep__map_put(ep__map *m, uint64_t key, void *val);
void *ep__map_del(ep__map *m, uint64_t key);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (ep__map_live(m, i)) ... */
int ep__map_live(const ep__map *m, size_t i);

/* FNV-1a of bytes, for keys made from names. */
uint64_t ep__hash_bytes(const void *p, size_t n);

#endif
