/* ep_epmd_registry.c - the embedded EPMD server's registry and connection
 * state machine (see ep_epmd_registry.h). */
#include "ep_epmd_registry.h"

#include <string.h>

#include "ep_error.h"
#include "ep_limits.h"

/* One name, registered (owner != NULL) or remembered after release so a new
 * registration of it gets the next creation. */
typedef struct entry {
  struct entry *prev, *next;
  ep_epmd_conn *owner;
  uint32_t counter; /* creation counter, epmd's cr_counter */
  uint16_t port;
  uint8_t node_type, protocol;
  uint16_t high, low;
  int serial; /* what DUMP shows as "fd" */
  uint16_t name_len, extra_len;
  uint8_t *extra;
  char name[]; /* NUL-terminated */
} entry;

typedef struct list {
  entry *head, *tail;
  size_t count;
} list;

struct ep_epmd_registry {
  const ep_mem *mem;
  ep_epmd_registry_opts o;
  list reg; /* newest first */
  list old; /* oldest first */
  uint32_t seed;
  int next_serial;
};

typedef enum conn_state { C_READING, C_REGISTERED, C_DONE, C_CUT } conn_state;

struct ep_epmd_conn {
  ep_epmd_registry *r;
  void *user;
  int local_peer;
  conn_state state;
  int sticky; /* the action or error returned once the state is final */
  entry *reg; /* the registration this connection holds */
  ep_buf in;  /* bytes of the request so far, at most max_request + 2 */
};

static void list_unlink(list *l, entry *e) {
  if (e->prev) e->prev->next = e->next;
  else l->head = e->next;
  if (e->next) e->next->prev = e->prev;
  else l->tail = e->prev;
  e->prev = e->next = NULL;
  l->count--;
}
static void list_push_front(list *l, entry *e) {
  e->prev = NULL;
  e->next = l->head;
  if (l->head) l->head->prev = e;
  else l->tail = e;
  l->head = e;
  l->count++;
}
static void list_push_back(list *l, entry *e) {
  e->next = NULL;
  e->prev = l->tail;
  if (l->tail) l->tail->next = e;
  else l->head = e;
  l->tail = e;
  l->count++;
}

static entry *list_find(const list *l, const uint8_t *name, size_t len) {
  for (entry *e = l->head; e; e = e->next)
    if (e->name_len == len && memcmp(e->name, name, len) == 0) return e;
  return NULL;
}

static void entry_free(ep_epmd_registry *r, entry *e) {
  ep_free(r->mem, e->extra);
  ep_free(r->mem, e);
}

ep_epmd_registry *ep_epmd_registry_new(const ep_epmd_registry_opts *opts) {
  ep_epmd_registry_opts o = {0};
  if (opts) o = *opts;
  const ep_mem *mem = o.mem ? o.mem : ep_mem_default();
  ep_epmd_registry *r = ep_malloc(mem, sizeof *r);
  if (!r) return NULL;
  memset(r, 0, sizeof *r);
  r->mem = mem;
  if (!o.max_old_names) o.max_old_names = EP_LIMIT_EPMD_OLD_NAMES;
  if (!o.max_request) o.max_request = EP_LIMIT_EPMD_REQUEST;
  r->o = o;
  r->seed = o.creation_seed;
  r->next_serial = 1;
  return r;
}

void ep_epmd_registry_free(ep_epmd_registry *r) {
  if (!r) return;
  for (list *l = &r->reg; l; l = l == &r->reg ? &r->old : NULL) {
    entry *e = l->head;
    while (e) {
      entry *n = e->next;
      if (e->owner) e->owner->reg = NULL;
      entry_free(r, e);
      e = n;
    }
  }
  ep_free(r->mem, r);
}

size_t ep_epmd_registry_count(const ep_epmd_registry *r) { return r->reg.count; }

static void fill_node(const entry *e, ep_epmd_node *n) {
  n->port = e->port;
  n->node_type = e->node_type;
  n->protocol = e->protocol;
  n->high = e->high;
  n->low = e->low;
  n->name = (const uint8_t *)e->name;
  n->name_len = e->name_len;
  n->extra = e->extra;
  n->extra_len = e->extra_len;
}

/* What a client of this version sees as its creation. */
static uint32_t creation_of(const entry *e) { return e->high >= 6 ? e->counter : e->counter % 3 + 1; }

int ep_epmd_registry_lookup(const ep_epmd_registry *r, const uint8_t *name, size_t len, ep_epmd_node *node,
                            uint32_t *creation) {
  entry *e = list_find(&r->reg, name, len);
  if (!e) return EP_ENOTREG;
  if (node) fill_node(e, node);
  if (creation) *creation = creation_of(e);
  return 0;
}

static void emit(ep_epmd_registry *r, ep_epmd_reg_event_kind k, const entry *e, const char *name, ep_epmd_conn *owner) {
  if (!r->o.event) return;
  if (e) r->o.event(k, e->name, e->port, creation_of(e), owner, r->o.event_ud);
  else r->o.event(k, name, 0, 0, owner, r->o.event_ud);
}

/* epmd's bump: +1, skipping 0..3 (reserved for 2-bit creations). */
static uint32_t bump(uint32_t c) {
  c++;
  return c < 4 ? 4 : c;
}

/* Registers req for c: 0 and *out; REFUSED when the name is taken or
 * invalid (the caller replies result 1); EP_ENOMEM, with the registry as it
 * was (the caller cuts the client off: out of memory is not "name taken"). */
#define REFUSED 1
static int do_register(ep_epmd_registry *r, ep_epmd_conn *c, const ep_epmd_node *n, entry **out) {
  if (!ep_epmd_name_valid(n->name, n->name_len) || n->extra_len > EP_EPMD_EXTRA_BYTES) return REFUSED;
  if (list_find(&r->reg, n->name, n->name_len)) return REFUSED;
  entry *e = list_find(&r->old, n->name, n->name_len);
  uint8_t *extra = NULL;
  if (n->extra_len) {
    extra = ep_malloc(r->mem, n->extra_len);
    if (!extra) return EP_ENOMEM;
    memcpy(extra, n->extra, n->extra_len);
  }
  if (e) {
    list_unlink(&r->old, e);
    e->counter = bump(e->counter);
    ep_free(r->mem, e->extra);
  } else {
    e = ep_malloc(r->mem, sizeof *e + n->name_len + 1);
    if (!e) {
      ep_free(r->mem, extra);
      return EP_ENOMEM;
    }
    memset(e, 0, sizeof *e);
    memcpy(e->name, n->name, n->name_len);
    e->name[n->name_len] = 0;
    e->name_len = (uint16_t)n->name_len;
    /* A new name starts from the seed, as epmd starts from the clock; the
     * seed moves on so two new names never share a counter. */
    e->counter = bump(r->seed);
    r->seed = e->counter;
  }
  e->owner = c;
  e->port = n->port;
  e->node_type = n->node_type;
  e->protocol = n->protocol;
  e->high = n->high;
  e->low = n->low;
  e->extra = extra;
  e->extra_len = (uint16_t)n->extra_len;
  e->serial = r->next_serial++;
  list_push_front(&r->reg, e);
  *out = e;
  return 0;
}

/* Moves a registration to the remembered names; forgets the oldest when
 * there are too many. */
static void do_unregister(ep_epmd_registry *r, entry *e) {
  list_unlink(&r->reg, e);
  e->owner = NULL;
  list_push_back(&r->old, e);
  while (r->old.count > r->o.max_old_names) {
    entry *o = r->old.head;
    list_unlink(&r->old, o);
    entry_free(r, o);
  }
}

/* Ends owner's registration (it keeps its name in the remembered ones) and
 * tells the event callback why. */
static void release(ep_epmd_conn *owner, ep_epmd_reg_event_kind why) {
  entry *e = owner->reg;
  owner->reg = NULL;
  do_unregister(owner->r, e);
  emit(owner->r, why, e, NULL, owner);
}

ep_epmd_conn *ep_epmd_conn_new(ep_epmd_registry *r, int local_peer, void *user) {
  ep_epmd_conn *c = ep_malloc(r->mem, sizeof *c);
  if (!c) return NULL;
  memset(c, 0, sizeof *c);
  c->r = r;
  c->user = user;
  c->local_peer = local_peer;
  c->state = C_READING;
  ep_buf_init(&c->in, r->mem);
  return c;
}

void ep_epmd_conn_free(ep_epmd_conn *c) {
  if (!c) return;
  if (c->reg) release(c, EP_EPMD_REG_REMOVED);
  ep_buf_free(&c->in);
  ep_free(c->r->mem, c);
}

void *ep_epmd_conn_user(const ep_epmd_conn *c) { return c->user; }
int ep_epmd_conn_registered(const ep_epmd_conn *c) { return c->reg != NULL; }

static int finish(ep_epmd_conn *c, conn_state st, int result) {
  c->state = st;
  c->sticky = result;
  ep_buf_free(&c->in); /* the request is handled: release its memory */
  return result;
}

/* A registered node sent more bytes: epmd says "got more than expected on
 * ALIVE socket" and drops it, the node is broken. */
static int cut_registered(ep_epmd_conn *c) {
  if (c->reg) release(c, EP_EPMD_REG_REMOVED);
  return finish(c, C_CUT, EP_EEPMDREQ);
}

/* Answers one complete request. */
static int serve(ep_epmd_conn *c, const ep_epmd_request *q, ep_buf *out) {
  ep_epmd_registry *r = c->r;
  switch (q->code) {
    case EP_EPMD_ALIVE2_REQ: {
      if (!c->local_peer) return finish(c, C_DONE, EP_EPMD_REPLY_CLOSE);
      entry *e = NULL;
      int rc = do_register(r, c, &q->node, &e);
      int x = q->node.high >= 6;
      if (rc < 0) return finish(c, C_CUT, rc);
      if (rc == REFUSED) {
        char name[EP_EPMD_NAME_BYTES + 1];
        size_t nl = q->node.name_len < EP_EPMD_NAME_BYTES ? q->node.name_len : EP_EPMD_NAME_BYTES;
        memcpy(name, q->node.name, nl);
        name[nl] = 0;
        emit(r, EP_EPMD_REG_REFUSED, NULL, name, c);
        /* epmd answers a refusal with result 1 and creation 99. */
        if (ep_epmd_encode_alive2_resp(out, x, 1, 99) != 0) return finish(c, C_CUT, EP_ENOMEM);
        return finish(c, C_DONE, EP_EPMD_REPLY_CLOSE);
      }
      c->reg = e;
      if (ep_epmd_encode_alive2_resp(out, x, 0, creation_of(e)) != 0) {
        c->reg = NULL;
        do_unregister(r, e);
        return finish(c, C_CUT, EP_ENOMEM);
      }
      emit(r, EP_EPMD_REG_ADDED, e, NULL, c);
      c->state = C_REGISTERED;
      ep_buf_free(&c->in);
      return EP_EPMD_KEEP;
    }
    case EP_EPMD_PORT2_REQ: {
      entry *e = list_find(&r->reg, q->node.name, q->node.name_len);
      ep_epmd_node n;
      if (e) fill_node(e, &n);
      if (ep_epmd_encode_port2_resp(out, e ? &n : NULL) != 0) return finish(c, C_CUT, EP_ENOMEM);
      return finish(c, C_DONE, EP_EPMD_REPLY_CLOSE);
    }
    case EP_EPMD_NAMES_REQ:
      ep_epmd_encode_names_head(out, r->o.epmd_port);
      for (entry *e = r->reg.head; e; e = e->next)
        ep_epmd_encode_names_line(out, (const uint8_t *)e->name, e->name_len, e->port);
      if (out->err) return finish(c, C_CUT, EP_ENOMEM);
      return finish(c, C_DONE, EP_EPMD_REPLY_CLOSE);
    case EP_EPMD_DUMP_REQ:
      if (!c->local_peer) return finish(c, C_DONE, EP_EPMD_REPLY_CLOSE);
      ep_epmd_encode_names_head(out, r->o.epmd_port);
      for (entry *e = r->reg.head; e; e = e->next)
        ep_epmd_encode_dump_line(out, 1, (const uint8_t *)e->name, e->name_len, e->port, e->serial);
      for (entry *e = r->old.head; e; e = e->next)
        ep_epmd_encode_dump_line(out, 0, (const uint8_t *)e->name, e->name_len, e->port, e->serial);
      if (out->err) return finish(c, C_CUT, EP_ENOMEM);
      return finish(c, C_DONE, EP_EPMD_REPLY_CLOSE);
    case EP_EPMD_KILL_REQ:
      if (!c->local_peer) return finish(c, C_DONE, EP_EPMD_REPLY_CLOSE);
      if (!r->o.allow_kill || (!r->o.relaxed && r->reg.count > 0)) {
        ep_buf_append(out, "NO", 2);
        return finish(c, out->err ? C_CUT : C_DONE, out->err ? EP_ENOMEM : EP_EPMD_REPLY_CLOSE);
      }
      ep_buf_append(out, "OK", 2);
      return finish(c, out->err ? C_CUT : C_DONE, out->err ? EP_ENOMEM : EP_EPMD_KILL);
    case EP_EPMD_STOP_REQ: {
      /* Without -relaxed_command_check epmd closes without a reply. */
      if (!c->local_peer || !r->o.relaxed) return finish(c, C_DONE, EP_EPMD_REPLY_CLOSE);
      entry *e = list_find(&r->reg, q->node.name, q->node.name_len);
      if (!e) {
        /* epmd sends NOEXIST and then STOPPED as well. */
        ep_buf_append(out, "NOEXIST", 7);
      } else {
        release(e->owner, EP_EPMD_REG_STOPPED);
      }
      ep_buf_append(out, "STOPPED", 7);
      return finish(c, out->err ? C_CUT : C_DONE, out->err ? EP_ENOMEM : EP_EPMD_REPLY_CLOSE);
    }
  }
  return finish(c, C_CUT, EP_EEPMDCODE);
}

int ep_epmd_conn_recv(ep_epmd_conn *c, const uint8_t *buf, size_t len, ep_buf *out) {
  switch (c->state) {
    case C_DONE:
    case C_CUT:
      return c->sticky;
    case C_REGISTERED:
      return len == 0 ? EP_EPMD_KEEP : cut_registered(c);
    case C_READING:
      break;
  }
  /* Take only what the request can still use: never more than its length
   * header allows, so memory stays bounded by the request limit. */
  size_t cap = c->r->o.max_request + 2;
  size_t room = cap - c->in.len;
  size_t take = len < room ? len : room;
  if (take && ep_buf_append(&c->in, buf, take) != 0) return finish(c, C_CUT, EP_ENOMEM);
  ep_epmd_request q;
  size_t pos = 0;
  int rc = ep_epmd_decode_request(c->in.data, c->in.len, &pos, c->r->o.max_request, &q);
  if (rc == EP_EINCOMPLETE) return EP_EPMD_READ;
  if (rc < 0) return finish(c, C_CUT, rc);
  /* Bytes past the request: epmd serves the request and then closes; for a
   * registration the extra bytes end it at once, as on epmd. */
  int extra = pos < c->in.len || take < len;
  rc = serve(c, &q, out);
  return rc == EP_EPMD_KEEP && extra ? cut_registered(c) : rc;
}
