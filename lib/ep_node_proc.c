/* ep_node_proc.c - C-side processes: pids, registered names, links,
 * monitors, and the dispatch of incoming control messages to them.
 *
 * C processes trap exits: an EXIT from a linked process arrives at the
 * callback as EP_MSG_EXIT instead of killing anything; the process ends only
 * through ep_proc_exit (or the node closing), and then every linked remote
 * process gets an EXIT and every remote monitor a DOWN. */
#include <string.h>

#include "ep_error.h"
#include "ep_node_int.h"

/* Pids as erl_interface mints them: 15-bit id, 13-bit serial, so any OTP
 * release accepts them. */
#define EP__PID_ID_MAX 0x7fffu
#define EP__PID_SERIAL_MAX 0x1fffu

static uint64_t pid_key(uint32_t id, uint32_t serial) { return ((uint64_t)serial << 32) | id; }

bool ep__is_our_pid(ep_node *n, ep_term pid) {
  return pid.type == EP_T_PID && pid.v.pid.creation == n->creation && strcmp(pid.v.pid.node, n->name) == 0;
}

ep_proc *ep__proc_by_pid(ep_node *n, ep_term pid) {
  if (!ep__is_our_pid(n, pid)) return NULL;
  return ep__map_get(&n->procs, pid_key(pid.v.pid.id, pid.v.pid.serial));
}

static ep_proc *proc_by_name(ep_node *n, const char *name, size_t len) {
  ep_proc *p = ep__map_get(&n->names, ep__hash_bytes(name, len));
  return p && strlen(p->name) == len && memcmp(p->name, name, len) == 0 ? p : NULL;
}

int ep_proc_new(ep_node *n, const char *name, ep_proc_cb cb, void *ud, ep_proc **out) {
  if (n->closing) return EP_ECLOSED;
  if (name && proc_by_name(n, name, strlen(name))) return EP_ENAMETAKEN;
  if (name && ep__map_get(&n->names, ep__hash_bytes(name, strlen(name)))) return EP_ENAMETAKEN;
  ep_proc *p = ep_malloc(n->mem, sizeof *p);
  if (!p) return EP_ENOMEM;
  memset(p, 0, sizeof *p);
  p->node = n;
  p->cb = cb;
  p->ud = ud;
  /* Next free (id, serial); wraps like the BEAM's pid counter. */
  for (uint32_t tries = 0;; tries++) {
    if (tries > EP__PID_ID_MAX) {
      ep_free(n->mem, p);
      return EP_ENOMEM;
    }
    if (++n->next_id > EP__PID_ID_MAX) {
      n->next_id = 1;
      n->next_serial = (n->next_serial + 1) & EP__PID_SERIAL_MAX;
    }
    if (!ep__map_get(&n->procs, pid_key(n->next_id, n->next_serial))) break;
  }
  p->id = n->next_id;
  p->serial = n->next_serial;
  if (name) {
    size_t l = strlen(name);
    p->name = ep_malloc(n->mem, l + 1);
    if (!p->name) {
      ep_free(n->mem, p);
      return EP_ENOMEM;
    }
    memcpy(p->name, name, l + 1);
  }
  if (ep__map_put(&n->procs, pid_key(p->id, p->serial), p) ||
      (name && ep__map_put(&n->names, ep__hash_bytes(name, strlen(name)), p))) {
    ep__map_del(&n->procs, pid_key(p->id, p->serial));
    ep_free(n->mem, p->name);
    ep_free(n->mem, p);
    return EP_ENOMEM;
  }
  *out = p;
  return 0;
}

ep_term ep_proc_pid(const ep_proc *p) {
  ep_term t = {0};
  t.type = EP_T_PID;
  t.v.pid.node = p->node->name;
  t.v.pid.node_len = (uint32_t)strlen(p->node->name);
  t.v.pid.id = p->id;
  t.v.pid.serial = p->serial;
  t.v.pid.creation = p->node->creation;
  return t;
}

ep_node *ep_proc_node(const ep_proc *p) { return p->node; }

ep_term ep_node_make_ref(ep_node *n, ep_arena *a) {
  uint64_t c = ++n->next_ref;
  uint32_t ids[3] = {(uint32_t)(c & 0x3ffff), (uint32_t)(c >> 18), n->ref_salt};
  return ep_ref(a, n->name, n->creation, 3, ids);
}

/* --- relations (links, monitors) ------------------------------------------------------ */

static ep__rel *rel_new(ep_node *n, ep_term pid, ep_term ref) {
  ep__rel *r = ep_malloc(n->mem, sizeof *r);
  if (!r) return NULL;
  r->arena = ep_arena_new(n->mem);
  if (!r->arena) {
    ep_free(n->mem, r);
    return NULL;
  }
  r->pid = ep_term_copy(r->arena, pid);
  r->ref = ep_is_none(ref) ? ref : ep_term_copy(r->arena, ref);
  r->next = NULL;
  return r;
}

static void rel_free(ep_node *n, ep__rel *r) {
  ep_arena_free(r->arena);
  ep_free(n->mem, r);
}

static void rel_add(ep__rel **list, ep__rel *r) {
  r->next = *list;
  *list = r;
}

/* Removes and frees the first relation matching pid (and ref when given). */
static bool rel_remove(ep_node *n, ep__rel **list, ep_term pid, ep_term ref) {
  for (ep__rel **pp = list; *pp; pp = &(*pp)->next) {
    ep__rel *r = *pp;
    bool match = ep_is_none(ref) ? ep_term_eq(r->pid, pid) : ep_term_eq(r->ref, ref);
    if (match) {
      *pp = r->next;
      rel_free(n, r);
      return true;
    }
  }
  return false;
}

static int send_ctrl_to_rel(ep_node *n, const char *peer, const ep_ctrl *ctrl, ep__release *rel) {
  ep__conn *c;
  int r = ep__conn_get(n, peer, &c);
  return r ? r : ep__conn_send_lent(c, ctrl, rel);
}

static int send_ctrl_to(ep_node *n, const char *peer, const ep_ctrl *ctrl) {
  return send_ctrl_to_rel(n, peer, ctrl, NULL);
}

/* For a link or a monitor, kept once sent: a write that found the
 * connection dead (a reset not read yet) ended it inside the send, and its
 * links and monitors fired before this one was kept, so it is refused. */
static int send_ctrl_kept(ep_node *n, const char *peer, const ep_ctrl *ctrl) {
  ep__conn *c;
  int r = ep__conn_get(n, peer, &c);
  if (!r) r = ep__conn_send(c, ctrl);
  return !r && c->state == EP__C_CLOSING ? EP_ENODEDOWN : r;
}

static ep_ctrl ctrl_init(ep_ctrl_op op) {
  ep_ctrl c;
  memset(&c, 0, sizeof c);
  c.op = op;
  return c;
}

int ep_proc_link(ep_proc *p, ep_term pid) {
  ep_node *n = p->node;
  if (pid.type != EP_T_PID) return EP_EINVAL;
  ep__rel *r = rel_new(n, pid, ep_none());
  if (!r) return EP_ENOMEM;
  ep_ctrl c = ctrl_init(EP_CTRL_LINK);
  c.from = ep_proc_pid(p);
  c.to = pid;
  int e = send_ctrl_kept(n, pid.v.pid.node, &c);
  if (e) {
    rel_free(n, r);
    return e;
  }
  rel_add(&p->links, r);
  return 0;
}

int ep_proc_unlink(ep_proc *p, ep_term pid) {
  ep_node *n = p->node;
  if (!rel_remove(n, &p->links, pid, ep_none())) return 0;
  ep_ctrl c = ctrl_init(EP_CTRL_UNLINK_ID);
  c.from = ep_proc_pid(p);
  c.to = pid;
  c.id = ++n->next_ref;
  return send_ctrl_to(n, pid.v.pid.node, &c);
}

int ep_proc_monitor(ep_proc *p, ep_term target, ep_arena *a, ep_term *ref) {
  ep_node *n = p->node;
  ep_term to = target;
  const char *peer = NULL;
  if (target.type == EP_T_PID) {
    peer = target.v.pid.node;
  } else if (target.type == EP_T_TUPLE && target.n == 2 && target.v.items[0].type == EP_T_ATOM &&
             target.v.items[1].type == EP_T_ATOM) {
    to = target.v.items[0];
    peer = target.v.items[1].v.str;
  } else {
    return EP_EINVAL;
  }
  ep_term r = ep_node_make_ref(n, a);
  if (ep_is_none(r)) return EP_ENOMEM;
  ep__rel *rel = rel_new(n, target, r);
  if (!rel) return EP_ENOMEM;
  ep_ctrl c = ctrl_init(EP_CTRL_MONITOR_P);
  c.from = ep_proc_pid(p);
  c.to = to;
  c.ref = r;
  int e = send_ctrl_kept(n, peer, &c);
  if (e) {
    rel_free(n, rel);
    return e;
  }
  rel_add(&p->monitors, rel);
  *ref = r;
  return 0;
}

int ep_proc_demonitor(ep_proc *p, ep_term ref) {
  ep_node *n = p->node;
  for (ep__rel *r = p->monitors; r; r = r->next) {
    if (!ep_term_eq(r->ref, ref)) continue;
    ep_ctrl c = ctrl_init(EP_CTRL_DEMONITOR_P);
    c.from = ep_proc_pid(p);
    ep_term target = r->pid;
    const char *peer = target.type == EP_T_PID ? target.v.pid.node : target.v.items[1].v.str;
    c.to = target.type == EP_T_PID ? target : target.v.items[0];
    c.ref = r->ref;
    int e = send_ctrl_to(n, peer, &c);
    rel_remove(n, &p->monitors, ep_none(), ref);
    return e;
  }
  return 0;
}

void ep_proc_exit(ep_proc *p, ep_term reason) {
  ep_node *n = p->node;
  if (p->exiting) return;
  p->exiting = true;
  ep_term self = ep_proc_pid(p);
  /* Taken off the process first: a send below may end its connection
   * (a reset not read yet), whose node-down walks the relations of every
   * process, this one included. */
  ep__rel *links = p->links, *monitored_by = p->monitored_by, *monitors = p->monitors;
  p->links = p->monitored_by = p->monitors = NULL;
  for (ep__rel *r = links, *next; r; r = next) {
    next = r->next;
    ep_ctrl c = ctrl_init(EP_CTRL_EXIT);
    c.from = self;
    c.to = r->pid;
    c.reason = reason;
    ep__conn *conn = ep__conn_find(n, r->pid.v.pid.node);
    if (conn) ep__conn_send(conn, &c);
    rel_free(n, r);
  }
  for (ep__rel *r = monitored_by, *next; r; r = next) {
    next = r->next;
    ep_ctrl c = ctrl_init(EP_CTRL_MONITOR_P_EXIT);
    /* The monitor named us by pid or by name: answer in kind. */
    c.from = p->name && r->ref.type != EP_T_NONE && r->pid.type == EP_T_TUPLE ? ep_atom(p->name) : self;
    c.to = r->pid.type == EP_T_TUPLE ? r->pid.v.items[0] : r->pid;
    c.ref = r->ref;
    c.reason = reason;
    ep__conn *conn = ep__conn_find(n, ep__node_of(c.to));
    if (conn) ep__conn_send(conn, &c);
    rel_free(n, r);
  }
  for (ep__rel *r = monitors, *next; r; r = next) {
    next = r->next;
    rel_free(n, r);
  }
  ep__map_del(&n->procs, pid_key(p->id, p->serial));
  if (p->name) ep__map_del(&n->names, ep__hash_bytes(p->name, strlen(p->name)));
  if (p == n->net) n->net = NULL;
  if (p == n->gl) n->gl = NULL;
  if (p == n->rex) n->rex = NULL;
  ep_free(n->mem, p->name);
  ep_free(n->mem, p);
}

/* --- sending ------------------------------------------------------------------------------ */

/* ep_node_send and ep_node_send_lent: rel (may be NULL) is the node's on success. */
static int send_msg(ep_node *n, ep_proc *from, ep_term to, ep_term msg, ep__release *rel) {
  if (n->closing) return EP_ECLOSED;
  ep_term self = from ? ep_proc_pid(from) : ep_proc_pid(n->net);
  ep_ctrl c = ctrl_init(EP_CTRL_SEND);
  c.from = self;
  c.msg = msg;
  if (to.type == EP_T_PID) {
    ep_proc *local = ep__proc_by_pid(n, to);
    if (local) {
      ep_msg m = {EP_MSG_SEND, self, to, msg, ep_none(), ep_none(), n->scratch};
      local->cb(local, &m, local->ud);
      if (rel) ep__release_later(n, rel);
      return 0;
    }
    c.to = to;
    return send_ctrl_to_rel(n, to.v.pid.node, &c, rel);
  }
  if (to.type == EP_T_REF) {
    c.op = EP_CTRL_ALIAS_SEND;
    c.to = to;
    return send_ctrl_to_rel(n, to.v.ref.node, &c, rel);
  }
  if (to.type == EP_T_TUPLE && to.n == 2 && to.v.items[0].type == EP_T_ATOM && to.v.items[1].type == EP_T_ATOM) {
    c.op = EP_CTRL_REG_SEND;
    c.to = to.v.items[0];
    return send_ctrl_to_rel(n, to.v.items[1].v.str, &c, rel);
  }
  return EP_EINVAL;
}

int ep_node_send(ep_node *n, ep_proc *from, ep_term to, ep_term msg) { return send_msg(n, from, to, msg, NULL); }

bool ep__gen_call(ep_term msg, ep_term *from, ep_term *req) {
  if (!ep_is_record(msg, "$gen_call", 3)) return false;
  ep_term f = msg.v.items[1];
  if (f.type != EP_T_TUPLE || f.n != 2) return false;
  *from = f;
  *req = msg.v.items[2];
  return true;
}

/* gen:reply/2: {Tag, Reply} to the caller. A tag [alias | Ref] (OTP 24+)
 * names the alias the caller waits on; a plain send to the caller's pid
 * would reach it all the same, but the alias is what OTP answers to. */
int ep__gen_reply(ep_node *n, ep_proc *self, ep_term from, ep_term reply, ep_arena *a) {
  if (from.type != EP_T_TUPLE || from.n != 2) return EP_EINVAL;
  ep_term to = from.v.items[0], tag = from.v.items[1];
  if (tag.type == EP_T_LIST && tag.n == 1 && ep_atom_eq(tag.v.items[0], "alias") && tag.v.items[1].type == EP_T_REF)
    to = tag.v.items[1];
  ep_term msg = EP_TUPLE(a, tag, reply);
  if (ep_is_none(msg)) return EP_ENOMEM;
  return ep_node_send(n, self, to, msg);
}

int ep_node_send_lent(ep_node *n, ep_proc *from, ep_term to, ep_term msg, ep_node_send_done_cb done, void *ud) {
  if (!done) return EP_EINVAL;
  ep__release *rel = ep_malloc(n->mem, sizeof *rel);
  if (!rel) return EP_ENOMEM;
  *rel = (ep__release){NULL, done, ud, 0};
  int r = send_msg(n, from, to, msg, rel);
  if (r) ep_free(n->mem, rel);
  return r;
}

int ep_node_send_named(ep_node *n, ep_proc *from, const char *peer, const char *name, ep_term msg) {
  ep_arena_reset(n->scratch);
  ep_term to = EP_TUPLE(n->scratch, ep_atom(name), ep_atom(peer));
  if (ep_is_none(to)) return EP_ENOMEM;
  /* ep_node_send's REG_SEND path takes the node from the tuple (and refuses a
   * closing node, whose own process, the default sender, is gone). */
  return send_msg(n, from, to, msg, NULL);
}

/* --- dispatch ------------------------------------------------------------------------------ */

static void deliver(ep_proc *p, ep__conn *c, ep_msg_kind kind, const ep_ctrl *m) {
  ep_msg msg = {kind, m->from, m->to, m->msg, m->reason, m->ref, c->arena};
  p->cb(p, &msg, p->ud);
}

/* Answers a monitor or link on a process that does not exist. */
static void reply_noproc(ep__conn *c, const ep_ctrl *m, bool link) {
  ep_ctrl r = ctrl_init(link ? EP_CTRL_EXIT : EP_CTRL_MONITOR_P_EXIT);
  r.from = m->to;
  r.to = m->from;
  r.ref = m->ref;
  r.reason = ep_atom("noproc");
  ep__conn_send(c, &r);
}

void ep__dispatch(ep__conn *c, const ep_ctrl *m) {
  ep_node *n = c->node;
  ep_proc *p = NULL;
  switch (m->op) {
    case EP_CTRL_SEND:
    case EP_CTRL_REG_SEND:
    case EP_CTRL_ALIAS_SEND:
      if (m->to.type == EP_T_ATOM) p = proc_by_name(n, m->to.v.str, m->to.n);
      else if (m->to.type == EP_T_PID) p = ep__proc_by_pid(n, m->to);
      if (p) deliver(p, c, EP_MSG_SEND, m);
      return; /* messages to nobody vanish, as on the BEAM */
    case EP_CTRL_LINK:
      p = ep__proc_by_pid(n, m->to);
      if (!p) {
        reply_noproc(c, m, true);
        return;
      }
      {
        ep__rel *r = rel_new(n, m->from, ep_none());
        if (r) rel_add(&p->links, r);
      }
      return;
    case EP_CTRL_UNLINK:
    case EP_CTRL_UNLINK_ID:
      p = ep__proc_by_pid(n, m->to);
      if (p) rel_remove(n, &p->links, m->from, ep_none());
      if (m->op == EP_CTRL_UNLINK_ID) {
        ep_ctrl a = ctrl_init(EP_CTRL_UNLINK_ID_ACK);
        a.id = m->id;
        a.from = m->to;
        a.to = m->from;
        ep__conn_send(c, &a);
      }
      return;
    case EP_CTRL_UNLINK_ID_ACK:
      return;
    case EP_CTRL_EXIT:
    case EP_CTRL_EXIT2:
      p = ep__proc_by_pid(n, m->to);
      if (!p) return;
      if (m->op == EP_CTRL_EXIT) rel_remove(n, &p->links, m->from, ep_none());
      deliver(p, c, EP_MSG_EXIT, m);
      return;
    case EP_CTRL_MONITOR_P: {
      if (m->to.type == EP_T_ATOM) p = proc_by_name(n, m->to.v.str, m->to.n);
      else p = ep__proc_by_pid(n, m->to);
      if (!p) {
        reply_noproc(c, m, false);
        return;
      }
      /* Remember how we were named, to answer the DOWN in kind. */
      ep_term who = m->from;
      ep__rel *r;
      if (m->to.type == EP_T_ATOM) {
        ep_arena_reset(n->scratch);
        who = EP_TUPLE(c->arena, m->from, m->to);
      }
      r = rel_new(n, who, m->ref);
      if (r) rel_add(&p->monitored_by, r);
      return;
    }
    case EP_CTRL_DEMONITOR_P:
      if (m->to.type == EP_T_ATOM) p = proc_by_name(n, m->to.v.str, m->to.n);
      else p = ep__proc_by_pid(n, m->to);
      if (p) rel_remove(n, &p->monitored_by, ep_none(), m->ref);
      return;
    case EP_CTRL_MONITOR_P_EXIT:
      p = ep__proc_by_pid(n, m->to);
      if (p && rel_remove(n, &p->monitors, ep_none(), m->ref)) deliver(p, c, EP_MSG_DOWN, m);
      return;
    case EP_CTRL_SPAWN_REPLY: /* we send no spawn requests */
    case EP_CTRL_SPAWN_REQUEST: {
      /* We run no Erlang code: refuse as a node without the module would. */
      ep_ctrl r = ctrl_init(EP_CTRL_SPAWN_REPLY);
      r.ref = m->ref;
      r.to = m->from;
      r.spawn_flags = 0;
      r.result = ep_atom("notsup");
      ep__conn_send(c, &r);
      return;
    }
    case EP_CTRL_GROUP_LEADER:
    case EP_CTRL_NODE_LINK:
    default:
      return;
  }
}

/* Moves the relations of *list whose remote side lives on peer to *out. */
static void take_rels(ep__rel **list, const char *peer, bool target_is_named, ep__rel **out) {
  for (ep__rel **pp = list; *pp;) {
    ep__rel *r = *pp;
    ep_term who = r->pid;
    const char *node;
    if (who.type == EP_T_TUPLE) /* {Name, Node} (our monitor) or {Pid, Name} (theirs) */
      node = target_is_named ? who.v.items[1].v.str : ep__node_of(who.v.items[0]);
    else
      node = ep__node_of(who);
    if (node && strcmp(node, peer) == 0) {
      *pp = r->next;
      r->next = *out;
      *out = r;
    } else {
      pp = &r->next;
    }
  }
}

/* The connection to peer is gone: links and monitors to its processes fire
 * with reason noconnection, and relations to it are forgotten. Callbacks may
 * do anything, ending the process included, or making new ones: the table
 * is walked from a snapshot of pids, relations are detached before they are
 * delivered, and the process is looked up again after every callback. */
void ep__proc_nodedown(ep_node *n, const char *peer, int reason) {
  (void)reason;
  size_t cnt = 0;
  uint64_t *keys = n->procs.live ? ep_malloc(n->mem, n->procs.live * sizeof *keys) : NULL;
  if (n->procs.live && !keys) return;
  for (size_t i = 0; i < n->procs.cap && cnt < n->procs.live; i++)
    if (ep__map_live(&n->procs, i)) keys[cnt++] = n->procs.slots[i].key;
  ep_arena *a = ep_arena_new(n->mem);
  for (size_t k = 0; k < cnt && a; k++) {
    ep_proc *p = ep__map_get(&n->procs, keys[k]);
    if (!p) continue;
    ep__rel *links = NULL, *mons = NULL, *theirs = NULL;
    take_rels(&p->links, peer, false, &links);
    take_rels(&p->monitors, peer, true, &mons);
    take_rels(&p->monitored_by, peer, false, &theirs);
    while (theirs) { /* their monitors on us: nobody left to tell */
      ep__rel *r = theirs;
      theirs = r->next;
      rel_free(n, r);
    }
    ep__rel *todo[2] = {links, mons};
    for (int t = 0; t < 2; t++) {
      while (todo[t]) {
        ep__rel *r = todo[t];
        todo[t] = r->next;
        p = ep__map_get(&n->procs, keys[k]);
        if (p) {
          ep_arena_reset(a);
          ep_msg m = {t == 0 ? EP_MSG_EXIT : EP_MSG_DOWN, r->pid, ep_proc_pid(p), ep_none(),
                      ep_atom("noconnection"), t == 0 ? ep_none() : r->ref, a};
          p->cb(p, &m, p->ud);
        }
        rel_free(n, r);
      }
    }
  }
  ep_arena_free(a);
  ep_free(n->mem, keys);
}
