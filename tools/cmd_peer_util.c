/* cmd_peer_util.c - shared by erlpeer peer and erlpeer session. */
#include "cmd_peer_util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ep_error.h"
#include "ep_text.h"

int ep_tool_parse_ms(const char *s, uint32_t *out) {
  uint64_t v = 0;
  if (!*s) return EP_EINVAL;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || (v = v * 10 + (uint64_t)(*s - '0')) > UINT32_MAX) return EP_EINVAL;
  }
  *out = (uint32_t)v;
  return 0;
}

int ep_tool_parse_shutdown(ep_peer_opts *o, const char *s) {
  uint32_t v;
  if (!strcmp(s, "close")) return ep_peer_opts_set_shutdown(o, EP_PEER_SHUTDOWN_CLOSE, 0);
  if (!strcmp(s, "halt")) return ep_peer_opts_set_shutdown(o, EP_PEER_SHUTDOWN_HALT, 5000);
  if (!strcmp(s, "infinity"))
    return ep_peer_opts_set_shutdown(o, EP_PEER_SHUTDOWN_STOP, EP_INFINITY);
  if (!strncmp(s, "halt:", 5)) {
    if (!strcmp(s + 5, "infinity"))
      return ep_peer_opts_set_shutdown(o, EP_PEER_SHUTDOWN_HALT, EP_INFINITY);
    if (ep_tool_parse_ms(s + 5, &v)) return EP_EINVAL;
    return ep_peer_opts_set_shutdown(o, EP_PEER_SHUTDOWN_HALT, v);
  }
  if (ep_tool_parse_ms(s, &v)) return EP_EINVAL;
  return ep_peer_opts_set_shutdown(o, EP_PEER_SHUTDOWN_STOP, v);
}

int ep_tool_parse_connection(ep_peer_opts *o, const char *s) {
  if (!strcmp(s, "dist")) return ep_peer_opts_set_connection_dist(o);
  if (!strcmp(s, "stdio") || !strcmp(s, "standard_io")) return ep_peer_opts_set_connection_stdio(o);
  if (!strcmp(s, "tcp")) return ep_peer_opts_set_connection_tcp(o, NULL, 0);
  if (!strncmp(s, "tcp:", 4)) {
    const char *rest = s + 4;
    const char *colon = strrchr(rest, ':');
    char *end;
    if (!colon) {
      unsigned long port = strtoul(rest, &end, 10);
      if (*end || end == rest || port > 65535) return EP_EINVAL;
      return ep_peer_opts_set_connection_tcp(o, NULL, (int)port);
    }
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port > 65535) return EP_EINVAL;
    char ip[64];
    size_t n = (size_t)(colon - rest);
    if (n == 0 || n >= sizeof ip) return EP_EINVAL;
    memcpy(ip, rest, n);
    ip[n] = 0;
    return ep_peer_opts_set_connection_tcp(o, ip, (int)port);
  }
  return EP_EINVAL;
}

/* Splits "Mod:Fun(Args)" at the first ':' outside quotes and the '(' after
 * it; the arguments are parsed as the list [Args]. */
int ep_tool_parse_call(ep_arena *a, const char *text, ep_term *m, ep_term *f, ep_term *args) {
  const char *colon = NULL, *paren = NULL;
  int q = 0;
  for (const char *c = text; *c; c++) {
    if (*c == '\'') q = !q;
    if (!q && *c == ':' && !colon) colon = c;
    if (!q && *c == '(' && colon) {
      paren = c;
      break;
    }
  }
  size_t len = strlen(text);
  while (len && isspace((unsigned char)text[len - 1])) len--;
  if (len && text[len - 1] == '.') len--;
  while (len && isspace((unsigned char)text[len - 1])) len--;
  if (!colon || !paren || len == 0 || text[len - 1] != ')') return EP_ESYNTAX;
  char *ms = strndup(text, (size_t)(colon - text));
  char *fs = strndup(colon + 1, (size_t)(paren - colon - 1));
  size_t al = (size_t)(text + len - 1 - paren - 1);
  char *as = malloc(al + 3);
  if (!ms || !fs || !as) {
    free(ms), free(fs), free(as);
    return EP_ENOMEM;
  }
  as[0] = '[';
  memcpy(as + 1, paren + 1, al);
  as[al + 1] = ']';
  as[al + 2] = 0;
  int rc = ep_parse_str(a, ms, m, NULL);
  if (!rc) rc = ep_parse_str(a, fs, f, NULL);
  if (!rc) rc = ep_parse_str(a, as, args, NULL);
  free(ms), free(fs), free(as);
  if (rc == EP_ENOMEM) return rc;
  if (rc || m->type != EP_T_ATOM || f->type != EP_T_ATOM) return EP_ESYNTAX;
  return 0;
}

int ep_tool_call_text(ep_peer *p, ep_arena *a, const char *text, uint32_t timeout,
                      ep_result *r) {
  memset(r, 0, sizeof *r);
  ep_term m, f, args;
  int rc = ep_tool_parse_call(a, text, &m, &f, &args);
  if (rc) return r->status = rc;
  return ep_peer_call_sync(p, m, f, args, timeout, a, r);
}

/* A step of ep_tool_eval returned an error tuple E instead of {ok, ...}:
 * hand it on as if it had raised error:{Tag, E}. */
static int raised(ep_result *step, const char *tag, ep_result *r) {
  step->status = EP_EEXCEPTION;
  step->cls = ep_atom("error");
  step->reason = EP_TUPLE(step->arena, ep_atom(tag), step->value);
  step->stack = ep_nil();
  *r = *step;
  return r->status;
}

/* erl_scan:string(Text) -> {ok, Tokens, _}; erl_parse:parse_exprs(Tokens) ->
 * {ok, Exprs}; erl_eval:exprs(Exprs, []) -> {value, V, _}: three calls, the
 * parsing runs on the peer so the peer's own syntax applies. */
int ep_tool_eval(ep_peer *p, ep_arena *a, const char *text, uint32_t timeout, ep_result *r) {
  ep_result r1, r2;
  memset(r, 0, sizeof *r);
  int rc = ep_peer_call_sync(p, ep_atom("erl_scan"), ep_atom("string"),
                             EP_LIST(a, ep_string(a, text)), timeout, a, &r1);
  if (rc) {
    *r = r1;
    return rc;
  }
  if (!ep_is_record(r1.value, "ok", 3)) return raised(&r1, "scan_error", r);
  rc = ep_peer_call_sync(p, ep_atom("erl_parse"), ep_atom("parse_exprs"),
                         EP_LIST(a, r1.value.v.items[1]), timeout, a, &r2);
  if (rc) {
    *r = r2;
    return rc;
  }
  if (!ep_is_record(r2.value, "ok", 2)) return raised(&r2, "parse_error", r);
  rc = ep_peer_call_sync(p, ep_atom("erl_eval"), ep_atom("exprs"),
                         EP_LIST(a, r2.value.v.items[1], ep_nil()), timeout, a, r);
  if (rc) return rc;
  if (ep_is_record(r->value, "value", 3)) r->value = r->value.v.items[1];
  return 0;
}

ep_term ep_tool_failure_term(ep_arena *a, const ep_result *r) {
  if (r->status == EP_EEXCEPTION) return EP_TUPLE(a, r->cls, r->reason);
  const char *why;
  switch (r->status) {
    case EP_ETIMEDOUT:
      why = "timeout";
      break;
    case EP_EPEERDOWN:
    case EP_ECLOSED:
      why = "noconnection";
      break;
    case EP_EPEERCRASH:
      why = "peer_crashed";
      break;
    case EP_ESTATE:
      why = "not_running";
      break;
    default:
      why = ep_strerror(r->status);
  }
  return EP_TUPLE(a, ep_atom("exit"), ep_atom_copy(a, why, strlen(why)));
}

void ep_tool_print_failure(FILE *f, const ep_result *r) {
  ep_buf b;
  ep_buf_init(&b, NULL);
  if (r->status == EP_EEXCEPTION) {
    ep_print(&b, r->cls);
    ep_buf_append(&b, ": ", 2);
    ep_print(&b, r->reason);
    if (ep_list_len(r->stack) > 0) {
      ep_buf_append(&b, " in ", 4);
      ep_print(&b, ep_list_at(r->stack, 0));
    }
    fprintf(f, "erlpeer peer: exception %.*s\n", (int)b.len, (const char *)b.data);
  } else {
    fprintf(f, "erlpeer peer: call failed: %s\n", ep_strerror(r->status));
  }
  ep_buf_free(&b);
}

const char *ep_tool_detached_hint(int err, const char *const *argv) {
  if ((err != EP_ETIMEDOUT && err != EP_ENOCONNECT) || !argv || !argv[0]) return NULL;
  const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  if (!strcmp(prog, "erl")) return NULL;
  bool detached = false;
  for (size_t i = 1; argv[i]; i++)
    if (!strcmp(argv[i], "-detached")) detached = true;
  if (!detached) return NULL;
  return "a detached peer behind an exec wrapper never connected: if the wrapper is a container (podman run, "
         "docker run), it ended with its first process, erl -detached's launcher, which exits at once, and took "
         "the emulator with it: start the peer attached (detached => false, --detached false)";
}
