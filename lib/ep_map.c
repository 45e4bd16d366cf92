#include <string.h>

#include "ep_error.h"
#include "ep_map_int.h"

static char tomb_marker;
#define EP__MAP_TOMB ((void *)&tomb_marker)

static size_t mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  return (size_t)k;
}

void ep__map_init(ep__map *m, const ep_mem *mem) {
  memset(m, 0, sizeof *m);
  m->mem = mem;
}

void ep__map_free(ep__map *m) {
  ep_free(m->mem, m->slots);
  m->slots = NULL;
  m->cap = m->used = m->live = 0;
}

void *ep__map_get(const ep__map *m, uint64_t key) {
  if (!m->cap) return NULL;
  for (size_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    ep__map_slot *s = &m->slots[i];
    if (!s->val) return NULL;
    if (s->val != EP__MAP_TOMB && s->key == key) return s->val;
  }
}

static int grow(ep__map *m) {
  size_t ncap = m->cap ? m->cap * 2 : 16;
  if (m->live * 4 < m->cap) ncap = m->cap; /* mostly tombstones: rehash in place */
  ep__map_slot *ns = ep_malloc(m->mem, ncap * sizeof *ns);
  if (!ns) return EP_ENOMEM;
  memset(ns, 0, ncap * sizeof *ns);
  for (size_t i = 0; i < m->cap; i++) {
    ep__map_slot *s = &m->slots[i];
    if (!s->val || s->val == EP__MAP_TOMB) continue;
    size_t j = mix(s->key) & (ncap - 1);
    while (ns[j].val) j = (j + 1) & (ncap - 1);
    ns[j] = *s;
  }
  ep_free(m->mem, m->slots);
  m->slots = ns;
  m->cap = ncap;
  m->used = m->live;
  m->rehashes++;
  return 0;
}

int ep__map_put(ep__map *m, uint64_t key, void *val) {
  if ((m->used + 1) * 4 >= m->cap * 3) {
    int r = grow(m);
    if (r) return r;
  }
  size_t tomb = SIZE_MAX;
  for (size_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    ep__map_slot *s = &m->slots[i];
    if (!s->val) {
      if (tomb != SIZE_MAX) s = &m->slots[tomb];
      else m->used++;
      s->key = key;
      s->val = val;
      m->live++;
      return 0;
    }
    if (s->val == EP__MAP_TOMB) {
      if (tomb == SIZE_MAX) tomb = i;
    } else if (s->key == key) {
      s->val = val;
      return 0;
    }
  }
}

void *ep__map_del(ep__map *m, uint64_t key) {
  if (!m->cap) return NULL;
  for (size_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    ep__map_slot *s = &m->slots[i];
    if (!s->val) return NULL;
    if (s->val != EP__MAP_TOMB && s->key == key) {
      void *v = s->val;
      s->val = EP__MAP_TOMB;
      m->live--;
      return v;
    }
  }
}

int ep__map_live(const ep__map *m, size_t i) { return m->slots[i].val && m->slots[i].val != EP__MAP_TOMB; }

uint64_t ep__hash_bytes(const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}
