/* ep_io.c - the group leader side of Erlang's I/O protocol.
 *
 * Remote processes whose group leader is one of our pids (our remote calls,
 * and peers relaying their `user` to us) send
 *   {io_request, From, ReplyAs, Request}
 * and wait for {io_reply, ReplyAs, Reply}. Output is written to a callback;
 * input requests get eof. {put_chars, Enc, io_lib, format, [Fmt, Args]}
 * arrives unformatted: we evaluate the formatting function on the node that
 * sent the request (an RPC of M:F(A...) there), so the text is exactly what
 * that node would have printed, with its own io_lib and its own printing of
 * its own terms, and only then reply. */
#include <stdio.h>
#include <string.h>

#include "ep_error.h"
#include "ep_node_int.h"
#include "ep_utf8.h"

static void default_output(const char *text, size_t len) {
  fwrite(text, 1, len, stderr);
  fflush(stderr);
}

static void emit(ep_node *n, ep_node_output_cb cb, void *ud, const char *text, size_t len) {
  if (!len) return;
  if (cb) cb(n, text, len, ud);
  else default_output(text, len);
}

/* Flattens chardata (nested lists of code points and binaries) into UTF-8.
 * latin1: binaries hold Latin-1 bytes. Iterative: an explicit stack of list
 * positions, so deep iolists cost heap, not C stack. Returns 0 or EP_EINVAL. */
int ep_chardata_utf8(ep_term t, bool latin1, ep_buf *out) {
  typedef struct {
    ep_term list;
    size_t i;
  } frame;
  frame local[16], *st = local;
  size_t depth = 0, cap = 16;
  int r = 0;
  /* The root is walked as the one-element list [t]. */
  ep_term root_items[2] = {t, ep_nil()};
  st[0].list = ep_nil();
  st[0].list.type = EP_T_LIST;
  st[0].list.n = 1;
  st[0].list.v.items = root_items;
  st[0].i = 0;
  depth = 1;
  while (depth && !r) {
    frame *f = &st[depth - 1];
    ptrdiff_t len = ep_list_len(f->list);
    if ((ptrdiff_t)f->i >= len) {
      ep_term tail = ep_list_tail(f->list);
      depth--;
      if (tail.type == EP_T_BINARY) goto binary_tail; /* [Chars | <<"bin">>] */
      if (tail.type != EP_T_NIL) r = EP_EINVAL;
      continue;
    binary_tail:
      t = tail;
      goto do_binary;
    }
    ep_term e = ep_list_at(f->list, f->i++);
    switch (e.type) {
      case EP_T_INT:
        if (e.v.i < 0 || e.v.i > 0x10FFFF) r = EP_EINVAL;
        else ep_utf8_put(out, e.v.i);
        break;
      case EP_T_BINARY:
        t = e;
      do_binary:
        if (latin1)
          for (uint32_t i = 0; i < t.n; i++) ep_utf8_put(out, t.v.bytes[i]);
        else
          ep_buf_append(out, t.v.bytes, t.n);
        break;
      case EP_T_NIL:
        break;
      case EP_T_LIST:
      case EP_T_STRING:
        if (depth == cap) {
          frame *ns = ep_malloc(NULL, cap * 2 * sizeof *ns);
          if (!ns) {
            r = EP_ENOMEM;
            break;
          }
          memcpy(ns, st, depth * sizeof *ns);
          if (st != local) ep_free(NULL, st);
          st = ns;
          cap *= 2;
        }
        st[depth++] = (frame){e, 0};
        break;
      default:
        r = EP_EINVAL;
    }
  }
  if (st != local) ep_free(NULL, st);
  if (!r && out->err) r = out->err;
  return r;
}

typedef struct {
  ep_node *node;
  ep_term gl; /* by pid: the process may end while the formatting call runs */
  ep_arena *a; /* holds from and reply_as */
  ep_term from, reply_as;
  ep_node_output_cb out_cb;
  void *out_ud;
} ep__io_pending;

static void io_reply(ep_node *n, ep_proc *gl, ep_term from, ep_term reply_as, ep_term reply, ep_arena *a) {
  ep_term msg = EP_TUPLE(a, ep_atom("io_reply"), reply_as, reply);
  if (!ep_is_none(msg)) ep_send(n, gl, from, msg);
}

static void on_formatted(ep_node *n, const ep_rpc_result *r, void *ud) {
  ep__io_pending *p = ud;
  ep_term reply = ep_atom("ok");
  if (r->status == 0) {
    ep_buf b;
    ep_buf_init(&b, n->mem);
    if (ep_chardata_utf8(r->value, false, &b) == 0) emit(n, p->out_cb, p->out_ud, (const char *)b.data, b.len);
    ep_buf_free(&b);
  } else {
    reply = EP_TUPLE(p->a, ep_atom("error"), ep_atom("format"));
  }
  ep_proc *gl = ep__proc_by_pid(n, p->gl);
  if (gl) io_reply(n, gl, p->from, p->reply_as, reply, p->a);
  ep_arena_free(p->a);
  ep_free(n->mem, p);
}

/* One request; returns the reply, or EP_T_NONE when the reply comes later
 * (a put_chars with a formatting function). */
static ep_term one_request(ep_node *n, ep_proc *gl, ep_term req, ep_term from, ep_term reply_as,
                           ep_node_output_cb cb, void *ud, ep_arena *a) {
  ep_term ok = ep_atom("ok");
  if (req.type != EP_T_TUPLE || req.n == 0 || req.v.items[0].type != EP_T_ATOM)
    return EP_TUPLE(a, ep_atom("error"), ep_atom("request"));
  ep_term *it = req.v.items;
  if (ep_atom_eq(it[0], "put_chars") && (req.n == 3 || req.n == 2)) {
    bool latin1 = req.n == 3 ? ep_atom_eq(it[1], "latin1") : true;
    ep_buf b;
    ep_buf_init(&b, n->mem);
    int r = ep_chardata_utf8(it[req.n - 1], latin1, &b);
    if (!r) emit(n, cb, ud, (const char *)b.data, b.len);
    ep_buf_free(&b);
    return r ? EP_TUPLE(a, ep_atom("error"), ep_atom("put_chars")) : ok;
  }
  if (ep_atom_eq(it[0], "put_chars") && (req.n == 5 || req.n == 4)) {
    ep_term m = it[req.n - 3], f = it[req.n - 2], args = it[req.n - 1];
    const char *peer = ep__node_of(from);
    ep__io_pending *p = ep_malloc(n->mem, sizeof *p);
    if (!p || m.type != EP_T_ATOM || f.type != EP_T_ATOM || !peer) {
      ep_free(n->mem, p);
      return EP_TUPLE(a, ep_atom("error"), ep_atom("request"));
    }
    p->node = n;
    p->gl = ep_proc_pid(gl);
    p->out_cb = cb;
    p->out_ud = ud;
    p->a = ep_arena_new(n->mem);
    if (!p->a) {
      ep_free(n->mem, p);
      return EP_TUPLE(a, ep_atom("error"), ep_atom("enomem"));
    }
    p->from = ep_term_copy(p->a, from);
    p->reply_as = ep_term_copy(p->a, reply_as);
    const char *mod, *fun;
    char peer_copy[600];
    snprintf(peer_copy, sizeof peer_copy, "%s", peer);
    if (ep_get_text(p->a, m, &mod, NULL) || ep_get_text(p->a, f, &fun, NULL) ||
        ep_rpc_call(n, peer_copy, mod, fun, args, 10000, on_formatted, p) != 0) {
      ep_arena_free(p->a);
      ep_free(n->mem, p);
      return EP_TUPLE(a, ep_atom("error"), ep_atom("format"));
    }
    return ep_none();
  }
  if (ep_atom_eq(it[0], "get_chars") || ep_atom_eq(it[0], "get_line") || ep_atom_eq(it[0], "get_until") ||
      ep_atom_eq(it[0], "get_password"))
    return ep_atom("eof");
  if (ep_atom_eq(it[0], "getopts"))
    return EP_LIST(a, EP_TUPLE(a, ep_atom("binary"), ep_atom("false")),
                   EP_TUPLE(a, ep_atom("encoding"), ep_atom("unicode")));
  if (ep_atom_eq(it[0], "setopts")) return ok;
  if (ep_atom_eq(it[0], "get_geometry")) return EP_TUPLE(a, ep_atom("error"), ep_atom("enotsup"));
  return EP_TUPLE(a, ep_atom("error"), ep_atom("request"));
}

void ep__io_request(ep_node *n, ep_proc *gl, ep_term msg, ep_node_output_cb cb, void *ud) {
  if (!ep_is_record(msg, "io_request", 4)) return;
  ep_term from = msg.v.items[1], reply_as = msg.v.items[2], req = msg.v.items[3];
  ep_arena *a = ep_arena_new(n->mem);
  if (!a) return;
  ep_term reply;
  if (ep_is_record(req, "requests", 2)) {
    /* A batch: run in order; a formatted put_chars inside is rare, so for
     * simplicity the batch replies once every request has been served. */
    reply = ep_atom("ok");
    ptrdiff_t len = ep_list_len(req.v.items[1]);
    for (ptrdiff_t i = 0; i < len; i++) {
      ep_term one = one_request(n, gl, ep_list_at(req.v.items[1], (size_t)i), from, ep_none(), cb, ud, a);
      if (!ep_is_none(one) && !ep_atom_eq(one, "ok")) reply = one;
    }
  } else {
    reply = one_request(n, gl, req, from, reply_as, cb, ud, a);
  }
  if (!ep_is_none(reply)) io_reply(n, gl, from, reply_as, reply, a);
  ep_arena_free(a);
}
