/* ep_rpc.c - remote calls through the remote node's rex server.
 *
 * A call is a gen_server call to the registered process rex, from our own
 * process registered as rex:
 *
 *   {'$gen_call', {OurRex, Tag}, {call, erpc, execute_call, [Tag, M, F, A], GL}}
 *
 * Tag is the call's key, a positive integer. rex spawns a worker per call
 * (calls run in parallel), which runs erpc:execute_call(Tag, M, F, A): that
 * function exits with {Tag, return, V}, {Tag, throw, R}, {Tag, exit, R},
 * {Tag, error, R, Stack} or {Tag, error, {erpc, R}}, and rex's own catch
 * turns the exit into the one reply it sends, {Tag, {badrpc, {'EXIT',
 * ExitReason}}}: class, reason and stack survive. If the worker dies any
 * other way (killed), rex answers {Tag, {badrpc, {'EXIT', Why}}} itself,
 * from the worker's DOWN: every call gets exactly one reply carrying its
 * tag. The alternative, a SPAWN_REQUEST of erpc:execute_call/4 (what
 * erpc:call does), costs the remote node a spawn through the distribution
 * and two messages back (SPAWN_REPLY, then the DOWN): measured slower on
 * both sides, see docs/node.md. rex's gen_server interface and
 * erpc:execute_call/4 are the same in OTP 23 through 29. */
#include <string.h>

#include "ep_error.h"
#include "ep_node_int.h"

struct ep__rpc {
  ep__deadline dl; /* first: the deadline's callback gets at the call */
  ep_node *node;
  uint64_t key;
  char *peer;
  struct ep__inflight *count; /* its peer's count of calls in flight */
  ep_rpc_cb cb;
  void *ud;
  bool done;
};

/* Calls in flight per peer node, against the limit (n->max_calls): kept
 * by peer name, not on the connection, so a call outliving a connection it
 * was sent on (replaced in a simultaneous connect, say) still finds its
 * count. A node talks to few peers: a list, an entry only while that peer
 * has calls in flight. */
struct ep__inflight {
  struct ep__inflight *next;
  uint32_t calls;
  char peer[];
};

static struct ep__inflight *inflight_get(ep_node *n, const char *peer, bool make) {
  for (struct ep__inflight *f = n->inflight; f; f = f->next)
    if (strcmp(f->peer, peer) == 0) return f;
  if (!make) return NULL;
  size_t l = strlen(peer);
  struct ep__inflight *f = ep_malloc(n->mem, sizeof *f + l + 1);
  if (!f) return NULL;
  f->calls = 0;
  memcpy(f->peer, peer, l + 1);
  f->next = n->inflight;
  n->inflight = f;
  return f;
}

static void inflight_drop(ep_node *n, struct ep__inflight *f) {
  if (!f || --f->calls) return;
  for (struct ep__inflight **p = &n->inflight; *p; p = &(*p)->next)
    if (*p == f) {
      *p = f->next;
      ep_free(n->mem, f);
      return;
    }
}

/* Completes a call exactly once and frees it. */
static void rpc_finish(ep__rpc *c, ep_result *r) {
  ep_node *n = c->node;
  if (c->done) return;
  c->done = true;
  ep__map_del(&n->rpcs, c->key);
  inflight_drop(n, c->count);
  ep__timers_cancel(&n->tm, &c->dl);
  c->cb(n, r, c->ud);
  ep_free(n->mem, c->peer);
  ep_free(n->mem, c);
}

static void rpc_fail(ep__rpc *c, int status, ep_term reason, ep_arena *a) {
  ep_result r = {status, ep_none(), ep_none(), reason, ep_none(), a};
  rpc_finish(c, &r);
}

/* From the node's deadline timer, which kicked the loop already. */
static void on_rpc_timeout(ep__deadline *d) {
  ep__rpc *c = (ep__rpc *)d;
  ep_node *n = c->node;
  ep_arena_reset(n->scratch);
  rpc_fail(c, EP_ETIMEDOUT, ep_atom("timeout"), n->scratch);
}

/* A call's tag (the gen_server tag and erpc:execute_call/4's Ref) is a
 * positive integer, the call's key: neither needs a reference, and an
 * integer costs the remote node much less to decode and encode than a
 * reference (which carries our node name), four times per call. */
static bool tag_key(ep_term tag, uint64_t *key) {
  if (tag.type != EP_T_INT || tag.v.i <= 0) return false;
  *key = (uint64_t)tag.v.i;
  return true;
}

/* Classifies erpc:execute_call/4's exit reason, as rex hands it back. */
static void classify(ep_term ref, ep_term rs, ep_result *r) {
  if (rs.type == EP_T_TUPLE && rs.n >= 3 && ep_term_eq(rs.v.items[0], ref) && rs.v.items[1].type == EP_T_ATOM) {
    ep_term cls = rs.v.items[1];
    if (ep_atom_eq(cls, "return") && rs.n == 3) {
      r->value = rs.v.items[2];
      return;
    }
    if ((ep_atom_eq(cls, "throw") || ep_atom_eq(cls, "exit")) && rs.n == 3) {
      r->status = EP_EEXCEPTION;
      r->cls = cls;
      r->reason = rs.v.items[2];
      r->stack = ep_nil();
      return;
    }
    if (ep_atom_eq(cls, "error") && (rs.n == 3 || rs.n == 4)) {
      r->status = EP_EEXCEPTION;
      r->cls = cls;
      r->reason = rs.v.items[2];
      r->stack = rs.n == 4 ? rs.v.items[3] : ep_nil();
      return;
    }
  }
  /* The worker died some other way (killed, linked to something that
   * died), or rex could not spawn it (system_limit). */
  r->status = EP_EBADRPC;
  r->reason = EP_TUPLE(r->arena, ep_atom("EXIT"), rs);
}

bool ep__rpc_on_reply(ep_node *n, ep_term msg, ep_arena *a) {
  uint64_t key;
  if (msg.type != EP_T_TUPLE || msg.n != 2 || !tag_key(msg.v.items[0], &key)) return false;
  ep__rpc *c = ep__map_get(&n->rpcs, key);
  /* A late answer to a call that timed out matches nothing. */
  if (!c) return true;
  ep_term ref = msg.v.items[0], reply = msg.v.items[1];
  /* The result's terms live in the arena the message was decoded into,
   * which lives through the callback: no allocation per reply. */
  ep_result r = {0, ep_none(), ep_none(), ep_none(), ep_none(), a};
  if (ep_is_record(reply, "badrpc", 2) && ep_is_record(reply.v.items[1], "EXIT", 2)) {
    classify(ref, reply.v.items[1].v.items[1], &r);
  } else {
    /* Not what rex says: something else answered as rex. */
    r.status = EP_EBADRPC;
    r.reason = reply;
  }
  rpc_finish(c, &r);
  return true;
}

/* Fails the calls to peer (every call when peer is NULL) in flight now.
 * A callback may start calls, even to the same peer on a new connection:
 * those have greater keys and are left alone, and when their insertion
 * moved the slots the walk starts over (the calls failed so far are gone
 * from the table). */
static void fail_calls(ep_node *n, const char *peer, int status, ep_term why, ep_arena *a) {
  uint64_t last = n->next_ref & INT64_MAX;
  for (size_t i = 0; i < n->rpcs.cap; i++) {
    if (!ep__map_live(&n->rpcs, i)) continue;
    ep__rpc *c = n->rpcs.slots[i].val;
    if (c->key > last || (peer && strcmp(c->peer, peer) != 0)) continue;
    unsigned rehashes = n->rpcs.rehashes;
    rpc_fail(c, status, why, a);
    if (n->rpcs.rehashes != rehashes) i = (size_t)-1; /* from slot 0 again */
  }
}

void ep__rpc_nodedown(ep_node *n, const char *peer, int reason) {
  ep_arena *a = ep_arena_new(n->mem);
  ep_term why = reason == EP_ENODEDOWN ? ep_atom("noconnection") : ep_atom(ep_err_name(reason));
  fail_calls(n, peer, reason, why, a);
  ep_arena_free(a);
}

void ep__rpc_close_all(ep_node *n) { fail_calls(n, NULL, EP_ECLOSED, ep_atom("closed"), n->scratch); }

/* REG_SEND to rex on peer: {'$gen_call', {OurRex, Tag}, {call, erpc,
 * execute_call, [Tag, M, F, A], GL}} for a call (tag: reqid), {'$gen_cast', {cast, M, F,
 * A, GL}} for a cast (rex spawns erpc:execute_cast(M, F, A) and answers
 * nothing). */
static int rpc_request(ep_node *n, ep_proc *gl, const char *peer, const char *mod, const char *fun, ep_term args,
                       ep_term reqid, ep__conn **conn) {
  if (ep_list_len(args) < 0 || ep_list_tail(args).type != EP_T_NIL) return EP_EINVAL;
  int r = ep__conn_get(n, peer, conn);
  if (r) return r;
  ep_arena *a = n->scratch;
  ep_ctrl c;
  memset(&c, 0, sizeof c);
  c.op = EP_CTRL_REG_SEND;
  c.from = ep_proc_pid(n->rex);
  c.to = ep_atom("rex");
  ep_term glpid = ep_proc_pid(gl ? gl : n->gl);
  if (!ep_is_none(reqid))
    c.msg = EP_TUPLE(a, ep_atom("$gen_call"), EP_TUPLE(a, c.from, reqid),
                     EP_TUPLE(a, ep_atom("call"), ep_atom("erpc"), ep_atom("execute_call"),
                              EP_LIST(a, reqid, ep_atom(mod), ep_atom(fun), args), glpid));
  else
    c.msg = EP_TUPLE(a, ep_atom("$gen_cast"), EP_TUPLE(a, ep_atom("cast"), ep_atom(mod), ep_atom(fun), args, glpid));
  if (ep_is_none(c.msg)) return EP_ENOMEM;
  return ep__conn_send(*conn, &c);
}

int ep_rpc_call(ep_node *n, const char *peer, const char *mod, const char *fun, ep_term args, uint64_t timeout_ms,
                ep_rpc_cb cb, void *ud) {
  return ep__rpc_call_gl(n, NULL, peer, mod, fun, args, timeout_ms, cb, ud);
}

int ep__rpc_call_gl(ep_node *n, ep_proc *gl, const char *peer, const char *mod, const char *fun, ep_term args,
                    uint64_t timeout_ms, ep_rpc_cb cb, void *ud) {
  if (n->closing) return EP_ECLOSED;
  if (!cb) return EP_EINVAL;
  ep_arena_reset(n->scratch);
  /* The limit before anything is sent: a call refused here costs the peer
   * nothing. (A short name is counted under its full name.) */
  char full[EP__NODE_NAME_MAX];
  const char *name = peer;
  if (!strchr(peer, '@')) {
    int fr = ep__full_name(n, peer, full, sizeof full);
    if (fr) return fr;
    name = full;
  }
  struct ep__inflight *f = inflight_get(n, name, false);
  if (f && f->calls >= n->max_calls) return EP_ETOOMANYCALLS;
  uint64_t key = ++n->next_ref & INT64_MAX;
  if (!key) key = ++n->next_ref;
  ep_term reqid = ep_int((int64_t)key);
  ep__rpc *c = ep_malloc(n->mem, sizeof *c);
  if (!c) return EP_ENOMEM;
  memset(c, 0, sizeof *c);
  c->node = n;
  c->key = key;
  c->cb = cb;
  c->ud = ud;
  /* The deadline first: a call that cannot have one sends nothing. */
  int r = timeout_ms != EP_INFINITY ? ep__timers_add(&n->tm, &c->dl, timeout_ms, on_rpc_timeout) : 0;
  if (r) {
    ep_free(n->mem, c);
    return r;
  }
  ep__conn *conn;
  r = rpc_request(n, gl, peer, mod, fun, args, reqid, &conn);
  /* The write found the connection dead (a reset not read yet): its calls
   * were failed inside the send, before this one was in the table, and
   * nothing would end it now. */
  if (!r && conn->state == EP__C_CLOSING) r = EP_ENODEDOWN;
  if (!r) {
    size_t l = strlen(conn->peer);
    if (!(c->peer = ep_malloc(n->mem, l + 1))) r = EP_ENOMEM;
    else memcpy(c->peer, conn->peer, l + 1);
  }
  if (!r && !(c->count = inflight_get(n, c->peer, true))) r = EP_ENOMEM;
  if (!r) c->count->calls++;
  if (!r && (r = ep__map_put(&n->rpcs, key, c))) inflight_drop(n, c->count);
  if (r) {
    ep__timers_cancel(&n->tm, &c->dl);
    ep_free(n->mem, c->peer);
    ep_free(n->mem, c);
    return r;
  }
  return 0;
}

int ep_rpc_cast(ep_node *n, const char *peer, const char *mod, const char *fun, ep_term args) {
  return ep__rpc_cast_gl(n, NULL, peer, mod, fun, args);
}

int ep__rpc_cast_gl(ep_node *n, ep_proc *gl, const char *peer, const char *mod, const char *fun, ep_term args) {
  if (n->closing) return EP_ECLOSED;
  ep_arena_reset(n->scratch);
  ep__conn *conn;
  return rpc_request(n, gl, peer, mod, fun, args, ep_none(), &conn);
}

void ep__rpc_classify(ep_term ref, ep_term exit_reason, ep_result *r) { classify(ref, exit_reason, r); }
