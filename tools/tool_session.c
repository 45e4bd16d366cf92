/* tool_session.c - the command reader of `erlpeer session` (see
 * tool_session.h): text to a command, no I/O, no peer. */
#include "tool_session.h"

#include <stdio.h>
#include <string.h>

#include "ep_error.h"
#include "ep_text.h"

static int text_of(ep_arena *a, ep_term t, const char **out) {
  size_t n;
  return ep_get_text(a, t, out, &n);
}

/* The texts of list l as a NULL-terminated array in a (*n of them). */
static int texts_of(ep_arena *a, ep_term l, const char ***out, size_t *n) {
  ptrdiff_t len = ep_list_len(l);
  if (len < 0) return EP_EINVAL;
  const char **v = ep_arena_alloc(a, ((size_t)len + 1) * sizeof *v);
  if (!v) return EP_ENOMEM;
  for (ptrdiff_t j = 0; j < len; j++)
    if (text_of(a, ep_list_at(l, (size_t)j), &v[j])) return EP_EINVAL;
  v[len] = NULL;
  *out = v;
  *n = (size_t)len;
  return 0;
}

/* Port numbers are range-checked before narrowing: 4294967376 is not 80. */
static int connection(ep_arena *a, ep_term v, ep_sopt *o) {
  int64_t port = 0;
  if (ep_atom_eq(v, "standard_io")) {
    o->key = EP_SOPT_CONN_STDIO;
    return 0;
  }
  if (ep_atom_eq(v, "dist")) {
    o->key = EP_SOPT_CONN_DIST;
    return 0;
  }
  o->key = EP_SOPT_CONN_TCP;
  if (ep_get_int64(v, &port) == 0) {
    if (port < 0 || port > 65535) return EP_EINVAL;
    o->num = port;
    return 0;
  }
  if (v.type != EP_T_TUPLE || v.n != 2 || ep_get_int64(v.v.items[1], &port) != 0) return EP_EINVAL;
  if (port < 0 || port > 65535) return EP_EINVAL;
  o->num = port;
  ep_term ip = v.v.items[0];
  if (ip.type == EP_T_TUPLE && ip.n == 4) {
    int64_t q[4];
    for (int j = 0; j < 4; j++)
      if (ep_get_int64(ip.v.items[j], &q[j]) || q[j] < 0 || q[j] > 255) return EP_EINVAL;
    char *buf = ep_arena_alloc(a, 16);
    if (!buf) return EP_ENOMEM;
    snprintf(buf, 16, "%d.%d.%d.%d", (int)q[0], (int)q[1], (int)q[2], (int)q[3]);
    o->str = buf;
    return 0;
  }
  return text_of(a, ip, &o->str) ? EP_EINVAL : 0;
}

static int shutdown_mode(ep_term v, ep_sopt *o) {
  int64_t ms;
  if (ep_atom_eq(v, "close"))
    o->mode = EP_SSHUT_CLOSE, o->num = 0;
  else if (ep_atom_eq(v, "halt"))
    o->mode = EP_SSHUT_HALT, o->num = 5000;
  else if (ep_atom_eq(v, "infinity"))
    o->mode = EP_SSHUT_STOP, o->num = UINT32_MAX;
  else if (ep_is_record(v, "halt", 2) && ep_atom_eq(v.v.items[1], "infinity"))
    o->mode = EP_SSHUT_HALT, o->num = UINT32_MAX;
  else if (ep_is_record(v, "halt", 2) && ep_get_int64(v.v.items[1], &ms) == 0 && ms >= 0 &&
           ms <= UINT32_MAX)
    o->mode = EP_SSHUT_HALT, o->num = ms;
  else if (ep_get_int64(v, &ms) == 0 && ms >= 0 && ms <= UINT32_MAX)
    o->mode = EP_SSHUT_STOP, o->num = ms;
  else
    return EP_EINVAL;
  return 0;
}

/* One start option into *o (o->why set first: it is also the report when
 * its shape is wrong). 0 or an error. */
static int start_opt(ep_arena *a, ep_term k, ep_term v, ep_sopt *o) {
  memset(o, 0, sizeof *o);
  o->why = "bad start option";
  if (ep_atom_eq(k, "name") || ep_atom_eq(k, "host")) {
    o->key = ep_atom_eq(k, "name") ? EP_SOPT_NAME : EP_SOPT_HOST;
    return text_of(a, v, &o->str);
  }
  if (ep_atom_eq(k, "longnames") || ep_atom_eq(k, "detached")) {
    o->key = ep_atom_eq(k, "longnames") ? EP_SOPT_LONGNAMES : EP_SOPT_DETACHED;
    o->mode = ep_atom_eq(v, "true");
    return 0;
  }
  if (ep_atom_eq(k, "connection")) {
    o->why = "connection: 0 | Port | {IP, Port} | standard_io | dist";
    return connection(a, v, o);
  }
  if (ep_atom_eq(k, "exec")) {
    o->why = "exec: Prog | {Prog, [Arg]}";
    o->key = EP_SOPT_EXEC;
    if (v.type == EP_T_TUPLE && v.n == 2) {
      if (ep_list_len(v.v.items[1]) < 0 || text_of(a, v.v.items[0], &o->str)) return EP_EINVAL;
      return texts_of(a, v.v.items[1], &o->list, &o->n);
    }
    return text_of(a, v, &o->str);
  }
  if (ep_atom_eq(k, "args")) {
    o->why = "args: [string()]";
    o->key = EP_SOPT_ARGS;
    return texts_of(a, v, &o->list, &o->n);
  }
  if (ep_atom_eq(k, "env")) {
    o->why = "env: [{K, V}]";
    o->key = EP_SOPT_ENV;
    ptrdiff_t n = ep_list_len(v);
    if (n < 0) return EP_EINVAL;
    const char **kv = ep_arena_alloc(a, (2 * (size_t)n + 1) * sizeof *kv);
    if (!kv) return EP_ENOMEM;
    for (ptrdiff_t j = 0; j < n; j++) {
      ep_term e = ep_list_at(v, (size_t)j);
      if (e.type != EP_T_TUPLE || e.n != 2 || text_of(a, e.v.items[0], &kv[2 * j]) ||
          text_of(a, e.v.items[1], &kv[2 * j + 1]))
        return EP_EINVAL;
    }
    kv[2 * n] = NULL;
    o->list = kv;
    o->n = (size_t)n;
    return 0;
  }
  if (ep_atom_eq(k, "wait_boot")) {
    o->why = "wait_boot: ms | infinity | false";
    o->key = EP_SOPT_WAIT_BOOT;
    if (ep_atom_eq(v, "false"))
      o->mode = EP_SWAIT_FALSE;
    else if (ep_atom_eq(v, "infinity"))
      o->mode = EP_SWAIT_INFINITY;
    else if (ep_get_int64(v, &o->num) == 0)
      o->mode = EP_SWAIT_MS;
    else
      return EP_EINVAL;
    return 0;
  }
  if (ep_atom_eq(k, "shutdown")) {
    o->why = "shutdown: close | halt | {halt, T} | T | infinity (T >= 1000)";
    o->key = EP_SOPT_SHUTDOWN;
    return shutdown_mode(v, o);
  }
  if (ep_atom_eq(k, "peer_down")) {
    o->why = "peer_down: stop | continue | crash";
    o->key = EP_SOPT_PEER_DOWN;
    o->mode = ep_atom_eq(v, "stop")       ? EP_SDOWN_STOP
              : ep_atom_eq(v, "continue") ? EP_SDOWN_CONTINUE
              : ep_atom_eq(v, "crash")    ? EP_SDOWN_CRASH
                                          : -1;
    return o->mode < 0 ? EP_EINVAL : 0;
  }
  o->why = "unknown start option";
  return EP_EINVAL;
}

static void start(ep_arena *a, ep_term map, ep_scmd *c) {
  ep_sopt *opts = ep_arena_alloc(a, ((size_t)map.n + 1) * sizeof *opts);
  if (!opts) {
    c->late_why = ep_strerror(EP_ENOMEM);
    return;
  }
  c->opts = opts;
  for (uint32_t i = 0; i < map.n; i++) {
    if (start_opt(a, map.v.items[2 * i], map.v.items[2 * i + 1], &opts[i])) {
      c->late_why = opts[i].why;
      return;
    }
    c->nopts++;
  }
}

static void badarg(ep_scmd *c, const char *why) {
  c->kind = EP_SCMD_BADARG;
  c->why = why;
}

void ep_scmd_parse(ep_arena *a, const char *line, size_t len, ep_scmd *c) {
  memset(c, 0, sizeof *c);
  c->id = c->args[0] = c->args[1] = c->args[2] = ep_none();
  c->timeout_ms = -1;
  len = strnlen(line, len);
  char *text = ep_arena_dup(a, line, len);
  if (!text) {
    c->kind = EP_SCMD_SYNTAX;
    c->why = ep_strerror(EP_ENOMEM);
    return;
  }
  size_t pos = 0;
  if (!ep_parse_more(text, len, &pos)) { /* blank line or comment */
    c->kind = EP_SCMD_SKIP;
    return;
  }
  ep_term t;
  ep_text_error err;
  memset(&err, 0, sizeof err);
  int rc = ep_parse_str(a, text, &t, &err);
  if (rc) {
    const char *msg = err.message ? err.message : ep_strerror(rc);
    char *why = ep_arena_alloc(a, 200);
    if (why) snprintf(why, 200, "%u:%u: %s", err.line, err.column, msg);
    c->kind = EP_SCMD_SYNTAX;
    c->why = why ? why : msg;
    return;
  }
  if (t.type != EP_T_TUPLE || t.n < 2 || t.v.items[0].type != EP_T_ATOM) {
    badarg(c, "a command is a tuple {Command, Id, ...}");
    return;
  }
  c->id = t.v.items[1];
  if (ep_is_record(t, "start", 3)) {
    if (t.v.items[2].type != EP_T_MAP) {
      badarg(c, "start wants {start, Id, #{...}}");
      return;
    }
    c->kind = EP_SCMD_START;
    start(a, t.v.items[2], c);
    return;
  }
  if (ep_is_record(t, "call", 5) || ep_is_record(t, "call", 6)) {
    c->kind = EP_SCMD_CALL;
    if (t.n == 6) {
      int64_t v;
      if (ep_atom_eq(t.v.items[5], "infinity"))
        c->timeout_ms = UINT32_MAX;
      else if (ep_get_int64(t.v.items[5], &v) == 0 && v >= 0 && v < UINT32_MAX)
        c->timeout_ms = v;
      else
        c->late_why = "call timeout: ms | infinity";
    }
  } else if (ep_is_record(t, "cast", 5)) {
    c->kind = EP_SCMD_CAST;
  } else if (ep_is_record(t, "send", 4)) {
    c->kind = EP_SCMD_SEND;
  } else if (ep_is_record(t, "state", 2)) {
    c->kind = EP_SCMD_STATE;
  } else if (ep_is_record(t, "stop", 2)) {
    c->kind = EP_SCMD_STOP;
  } else {
    badarg(c, "unknown command (start, call, cast, send, state, stop)");
    return;
  }
  for (uint32_t i = 2; i < t.n && i < 5; i++) c->args[i - 2] = t.v.items[i];
}
