/* ep_peer_dist.c - the distribution control connection: the peer runs
 * stdlib's own peer:start() as its -user and dials the controller's hidden
 * node; we play the origin's part.
 *
 * What the peer does (PROTOCOL-NOTES.md, "The peer side"), and what we do:
 *   command line   erl -sname N ... -noinput -peer_detached -user peer
 *                  -origin BASE64(term_to_binary(OriginPid))
 *   dials us       our node accepts (it is registered in EPMD)
 *   MONITOR_P      on the origin pid: the node records it, so the peer
 *                  halts when the origin goes (or the connection drops)
 *   gen_call       {starting, Node} (OTP 27+)  -> ok
 *                  group_leader                -> a group leader pid of ours
 *   {started, Node} from its watcher: the peer is up
 *   io_request     to that group leader: relayed as the core relays the
 *                  alternative connections' (same text, same replies)
 * Calls are RPCs over the node (erpc); their results are handed to the core
 * as {reply, Seq, Class, Result} frames, so timeouts, states and the
 * blocking API are the same code for every connection. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "ep_error.h"
#include "ep_etf.h"
#include "ep_node_ctl_int.h"
#include "ep_peer_int.h"

typedef struct ep__dcall ep__dcall;
struct ep__dcall {
  ep__dcall *next;
  ep_peer *p; /* NULL once the peer is gone: the answer is dropped */
  const ep_mem *mem; /* the peer's: it may be gone when the answer comes */
  uint64_t seq;
  bool halt; /* the shutdown's erlang:halt(): any answer is fine */
};

typedef struct ep__dist {
  ep_proc *origin; /* the pid on the peer's -origin */
  ep_proc *gl;     /* the group leader we hand out */
  ep__dcall *calls;
  bool connected;
  char home[256]; /* the private HOME holding the cookie, when we made one */
} ep__dist;

static ep__dist *D(ep_peer *p) { return p->conn_state; }

/* Out of memory for something the peer waits for (a reply, its start):
 * the connection cannot go on, the peer goes down saying why. */
static void lost_for_memory(ep_peer *p) { ep__peer_on_conn_lost(p, EP_ENOMEM, "out_of_memory"); }

/* Hands the core a control message ({started, Node}, {reply, ...},
 * {message, ...}, an io_request) as decoded, in the arena of the node's
 * callback that brought it (no encoding and decoding again, as when this
 * went through the alternative connections' frames, and no copy: the core
 * lends its callbacks what it is given). none: it could not be built. */
static void to_core(ep_peer *p, ep_term t, ep_arena *a) {
  ep_alt_msg m;
  if (ep_is_none(t) || !a) {
    lost_for_memory(p);
    return;
  }
  if (ep_alt_parse(t, &m) == 0) ep__peer_on_event(p, &m, a);
}

/* Whether node is the one p runs (or will run, before it said so: an OTP 25
 * peer names itself only in {started, Node}; its name is ours to give). */
static bool is_peer_node(const ep_peer *p, const char *node) {
  if (p->node) return strcmp(p->node, node) == 0;
  if (!p->o.name) return false;
  size_t l = strlen(p->o.name);
  const char *at = strchr(node, '@');
  if (!at || (size_t)(at - node) != l || strncmp(node, p->o.name, l) != 0) return false;
  return !p->o.host || strcmp(at + 1, p->o.host) == 0;
}

/* The controller's node saw a connection come or go: the dist peer of
 * that name is connected, or lost (out of memory: it says so). */
void ep__peer_dist_node_event(ep_ctl *c, ep_node_event_kind k, const char *peer, int reason) {
  for (ep_peer *p = c->peers, *next; p; p = next) {
    next = p->next_in_ctl;
    if (p->o.conn != EP_PEER_CONN_DIST || !D(p) || !is_peer_node(p, peer)) continue;
    if (k == EP_NODE_UP) {
      D(p)->connected = true;
    } else if (D(p)->connected) {
      D(p)->connected = false;
      if (reason == EP_ENOMEM)
        ep__peer_on_conn_lost(p, EP_ENOMEM, "out_of_memory");
      else
        ep__peer_on_conn_lost(p, EP_EPEERDOWN, "noconnection");
    }
  }
}

/* --- the origin and the group leader ------------------------------------------------ */

static void remove_home(ep__dist *d);

static void origin_cb(ep_proc *self, const ep_msg *m, void *ud) {
  ep_peer *p = ud;
  ep_node *n = ep_proc_node(self);
  if (m->kind != EP_MSG_SEND) return;
  ep_term t = m->msg, from, req;
  if (ep__gen_call(t, &from, &req)) {
    int r;
    if (ep_atom_eq(req, "group_leader")) {
      r = ep__gen_reply(n, self, from, ep_proc_pid(D(p)->gl), m->arena);
    } else if (ep_is_record(req, "starting", 2)) {
      /* OTP 27+: the peer tells its node name before it boots further. */
      if (req.v.items[1].type == EP_T_ATOM && !p->node) p->node = ep__peer_strdup(p->mem, req.v.items[1].v.str);
      r = ep__gen_reply(n, self, from, ep_atom("ok"), m->arena);
    } else {
      r = ep__gen_reply(n, self, from, EP_TUPLE(m->arena, ep_atom("error"), ep_atom("badcall")), m->arena);
    }
    /* the peer waits for the answer: one that cannot be sent is not lost quietly */
    if (r == EP_ENOMEM) lost_for_memory(p);
    return;
  }
  if (ep_is_record(t, "started", 2) && t.v.items[1].type == EP_T_ATOM) {
    ep_free(p->mem, p->node);
    if (!(p->node = ep__peer_strdup(p->mem, t.v.items[1].v.str))) {
      ep__peer_on_conn_lost(p, EP_ENOMEM, "out_of_memory");
      return;
    }
    D(p)->connected = ep_node_is_connected(n, p->node);
    /* Booted: its node read the cookie long ago (it dialled us with it).
     * The private HOME that held it goes now, not when the peer stops: a
     * controller killed later leaves no cookie on disk. */
    remove_home(D(p));
    to_core(p, t, m->arena);
    return;
  }
  /* Anything else the peer sends the origin is a message for the owner. */
  to_core(p, EP_TUPLE(m->arena, ep_atom("message"), ep_proc_pid(self), t), m->arena);
}

static void gl_cb(ep_proc *self, const ep_msg *m, void *ud) {
  ep_peer *p = ud;
  (void)self;
  if (m->kind == EP_MSG_SEND && ep_is_record(m->msg, "io_request", 4)) to_core(p, m->msg, m->arena);
}

/* --- the vtable ------------------------------------------------------------------------ */

/* The controller's cookie was given explicitly: the peer must have it
 * before it dials us, and never on a command line. erl reads
 * $HOME/.erlang.cookie first, so the peer gets a private HOME (mode 0700)
 * holding only that file (mode 0400), removed when the connection closes.
 * Not when the user set HOME for the peer, or runs it through an exec
 * wrapper (another host or container reads its own cookie). */
static int private_home(ep_peer *p, ep__dist *d, ep_node *n) {
  size_t cookie_len;
  bool explicit_;
  const uint8_t *cookie = ep__node_cookie(n, &cookie_len, &explicit_);
  if (!explicit_ || p->o.prog) return 0;
  for (size_t i = 0; i < p->o.env.n; i++)
    if (!strncmp(p->o.env.v[i], "HOME=", 5)) return 0;
  const char *tmp = getenv("TMPDIR");
  snprintf(d->home, sizeof d->home, "%s/erlpeer-home.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(d->home)) {
    d->home[0] = 0;
    return ep_err_from_errno(errno);
  }
  char path[300], env[300];
  snprintf(path, sizeof path, "%s/.erlang.cookie", d->home);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
  if (fd < 0 || write(fd, cookie, cookie_len) != (ssize_t)cookie_len) {
    if (fd >= 0) close(fd);
    return EP_EIO;
  }
  close(fd);
  snprintf(env, sizeof env, "HOME=%s", d->home);
  return ep__strv_push(&p->o.env, env) ? EP_ENOMEM : 0;
}

static void remove_home(ep__dist *d) {
  if (!d->home[0]) return;
  char path[300];
  snprintf(path, sizeof path, "%s/.erlang.cookie", d->home);
  unlink(path);
  rmdir(d->home);
  d->home[0] = 0;
}

static int dist_prepare(ep_peer *p, ep__strv *argv) {
  ep_node *n = p->ctl->node; /* in the peer's naming mode: ep__ctl_node_for */
  if (!n) return EP_ENEEDNODE;
  int r;
  ep__dist *d = ep_malloc(p->mem, sizeof *d);
  if (!d) return EP_ENOMEM;
  memset(d, 0, sizeof *d);
  p->conn_state = d;
  if ((r = ep_proc_new(n, NULL, origin_cb, p, &d->origin)) || (r = ep_proc_new(n, NULL, gl_cb, p, &d->gl)))
    return r;
  if ((r = private_home(p, d, n))) return r;
  ep_buf b;
  ep_buf_init(&b, p->mem);
  r = ep_encode(&b, ep_proc_pid(d->origin));
  char b64[512];
  if (!r && (b.len * 4 / 3 + 4 >= sizeof b64)) r = EP_ERANGE;
  if (!r) EVP_EncodeBlock((unsigned char *)b64, b.data, (int)b.len); /* a pure function: loads nothing */
  ep_buf_free(&b);
  if (r) return r;
  /* Never erl's -detached: its launcher exits at once and the emulator's
   * fate during boot is invisible (a name already in use made the peer
   * exit 1 while we waited the whole wait_boot). With -noinput the emulator
   * stays our child (stdio on /dev/null, which is what -detached gives it
   * too): a boot failure arrives at once with its exit status, and a stop
   * knows when it is gone. -peer_detached still tells an OTP 27+ peer to
   * relay its I/O to us, as a detached one does. */
  if (ep__strv_push(argv, "-noinput")) return EP_ENOMEM;
  if (p->o.detached && ep__strv_push(argv, "-peer_detached")) return EP_ENOMEM;
  /* We serve EPMD ourselves: a local peer uses ours (it inherits
   * ERL_EPMD_PORT) and must not start a daemon that would outlive us. A peer
   * behind an exec wrapper may be on another host: it keeps erl's default. */
  if (ep__node_serves_epmd(n) && !p->o.prog && (ep__strv_push(argv, "-start_epmd") || ep__strv_push(argv, "false")))
    return EP_ENOMEM;
  if (ep__strv_push(argv, "-user") || ep__strv_push(argv, "peer") || ep__strv_push(argv, "-origin") ||
      ep__strv_push(argv, b64))
    return EP_ENOMEM;
  return 0;
}

static int dist_spawned(ep_peer *p) {
  (void)p;
  return 0;
}

static void on_dist_reply(ep_node *n, const ep_result *r, void *ud) {
  (void)n;
  ep__dcall *c = ud;
  ep_peer *p = c->p;
  if (p) {
    ep__dist *d = D(p);
    for (ep__dcall **pp = &d->calls; *pp; pp = &(*pp)->next)
      if (*pp == c) {
        *pp = c->next;
        break;
      }
    ep_arena *a = r->arena;
    ep_term t;
    if (!c->halt && !a) {
      /* A failure with no arena: the node could not get one to fail the
       * call in (lib/ep_rpc.c, ep__rpc_nodedown), so no reply can be built. */
      ep_free(c->mem, c);
      lost_for_memory(p);
      return;
    }
    if (!c->halt && r->status == EP_ENODEDOWN) {
      /* The connection went while the call was in flight: that is the peer
       * going down (EP_EPEERDOWN, or EP_EPEERCRASH with peer_down crash) for
       * this call and every other, as on the alternative connections, not
       * a crash class reply the caller could take for the callee's. The
       * nodedown event that follows finds the connection closed. */
      ep_free(c->mem, c);
      ep__peer_on_conn_lost(p, EP_EPEERDOWN, "noconnection");
      return;
    }
    if (c->halt) {
      t = ep_none();
    } else if (r->status == 0) {
      t = EP_TUPLE(a, ep_atom("reply"), ep_int((int64_t)c->seq), ep_atom("ok"), r->value);
    } else if (r->status == EP_EEXCEPTION) {
      t = EP_TUPLE(a, ep_atom("reply"), ep_int((int64_t)c->seq), r->cls, EP_TUPLE(a, r->reason, r->stack));
    } else {
      /* The call's process died some other way, or the node went down:
       * the reference's `crash` class, with the reason. */
      ep_term why = ep_is_none(r->reason) ? ep_atom(ep_err_name(r->status)) : r->reason;
      t = EP_TUPLE(a, ep_atom("reply"), ep_int((int64_t)c->seq), ep_atom("crash"), why);
    }
    if (!c->halt) to_core(p, t, a);
  }
  ep_free(c->mem, c);
}

static int dist_rpc(ep_peer *p, uint64_t seq, bool halt, ep_term m, ep_term f, ep_term args) {
  ep__dist *d = D(p);
  if (!d || !p->node) return EP_EPEERDOWN;
  const char *mod, *fun;
  ep_arena *a = ep_arena_new(p->mem);
  if (!a) return EP_ENOMEM;
  int r = ep_get_text(a, m, &mod, NULL);
  if (!r) r = ep_get_text(a, f, &fun, NULL);
  ep__dcall *c = r ? NULL : ep_malloc(p->mem, sizeof *c);
  if (!r && !c) r = EP_ENOMEM;
  if (!r) {
    memset(c, 0, sizeof *c);
    c->mem = p->mem;
    c->p = p;
    c->seq = seq;
    c->halt = halt;
    /* The core keeps the call's deadline: no timeout here. */
    r = ep__rpc_call_gl(p->ctl->node, d->gl, p->node, mod, fun, args, EP_INFINITY, on_dist_reply, c);
  }
  if (r) {
    ep_free(p->mem, c);
  } else {
    c->next = d->calls;
    d->calls = c;
  }
  ep_arena_free(a);
  return r;
}

static int dist_call(ep_peer *p, uint64_t seq, ep_term m, ep_term f, ep_term args) {
  return dist_rpc(p, seq, false, m, f, args);
}

static int dist_cast(ep_peer *p, ep_term m, ep_term f, ep_term args) {
  if (!D(p) || !p->node) return EP_EPEERDOWN;
  ep_arena *a = ep_arena_new(p->mem);
  const char *mod, *fun;
  int r = a ? 0 : EP_ENOMEM;
  if (!r) r = ep_get_text(a, m, &mod, NULL);
  if (!r) r = ep_get_text(a, f, &fun, NULL);
  if (!r) r = ep__rpc_cast_gl(p->ctl->node, D(p)->gl, p->node, mod, fun, args);
  ep_arena_free(a);
  return r;
}

static int dist_send(ep_peer *p, ep_term to, ep_term msg) {
  if (!D(p) || !p->node) return EP_EPEERDOWN;
  if (to.type == EP_T_ATOM) {
    ep_arena *a = ep_arena_new(p->mem);
    if (!a) return EP_ENOMEM;
    int r = ep_node_send(p->ctl->node, D(p)->origin, EP_TUPLE(a, to, ep_atom(p->node)), msg);
    ep_arena_free(a);
    return r;
  }
  return ep_node_send(p->ctl->node, D(p)->origin, to, msg);
}

static int dist_io_reply(ep_peer *p, ep_term from, ep_term ref, ep_term reply) {
  if (!D(p)) return EP_EPEERDOWN;
  ep_arena *a = ep_arena_new(p->mem);
  if (!a) return EP_ENOMEM;
  int r = ep_node_send(p->ctl->node, D(p)->gl, from, EP_TUPLE(a, ep_atom("io_reply"), ref, reply));
  ep_arena_free(a);
  return r;
}

/* Drops the control connection: the origin process ends (the peer's
 * monitor on it fires and it halts) and the connection closes. */
static void dist_close(ep_peer *p) {
  ep__dist *d = D(p);
  if (!d) return;
  /* Detached first: the disconnect below reports nodedown, which comes back
   * here through the core; it must find nothing left to close. */
  p->conn_state = NULL;
  for (ep__dcall *c = d->calls; c; c = c->next) c->p = NULL;
  if (d->origin) ep_proc_exit(d->origin, ep_atom("normal"));
  if (d->gl) ep_proc_exit(d->gl, ep_atom("normal"));
  if (p->node && p->ctl->node) ep_node_disconnect(p->ctl->node, p->node);
  remove_home(d);
  ep_free(p->mem, d);
}

static int dist_is_open(ep_peer *p) { return D(p) && D(p)->connected; }

/* peer.erl's terminate/2 for the distribution: halt -> erlang:halt() (a lost
 * connection counts as success), T -> init:stop(), close -> disconnect. The
 * core then waits for the connection to drop and the process to go. */
static int dist_shutdown(ep_peer *p, ep_peer_shutdown mode) {
  if (mode == EP_PEER_SHUTDOWN_CLOSE || !dist_is_open(p)) return EP_EPEERDOWN; /* core closes */
  if (mode == EP_PEER_SHUTDOWN_HALT) return dist_rpc(p, 0, true, ep_atom("erlang"), ep_atom("halt"), ep_nil());
  return dist_cast(p, ep_atom("init"), ep_atom("stop"), ep_nil());
}

static int dist_close_handles(ep_peer *p) {
  dist_close(p);
  return 0;
}

const ep__peer_conn_vt ep__peer_dist_vt = {
    .name = "dist",
    .own_session = true, /* not erl's -detached, but its setsid(): see dist_prepare */
    .prepare = dist_prepare,
    .spawned = dist_spawned,
    .call = dist_call,
    .cast = dist_cast,
    .send = dist_send,
    .io_reply = dist_io_reply,
    .close = dist_close,
    .is_open = dist_is_open,
    .shutdown = dist_shutdown,
    .close_handles = dist_close_handles,
};
