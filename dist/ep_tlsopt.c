/* ep_tlsopt.c - OTP's -ssl_dist_optfile read into TLS options (see
 * ep_tlsopt.h). The term is parsed by ep_parse (dist/ep_text.c); this file
 * only walks it. */
#include "ep_tlsopt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ep_error.h"
#include "ep_term.h"
#include "ep_text.h"

static int say(char *why, size_t cap, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t cap, int err, const char *fmt, ...) {
  if (why && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
  }
  return err;
}

/* A string value: "text" (a list of code points, written as UTF-8) or
 * <<"text">>. NULL when t is neither, holds a NUL, or is empty. */
static const char *text_of(ep_arena *a, ep_term t) {
  if (t.type == EP_T_BINARY) {
    if (t.n == 0 || memchr(t.v.bytes, 0, t.n)) return NULL;
    char *s = ep_arena_alloc(a, (size_t)t.n + 1);
    if (!s) return NULL;
    memcpy(s, t.v.bytes, t.n);
    s[t.n] = 0;
    return s;
  }
  ptrdiff_t n = ep_list_len(t);
  if (n <= 0 || (t.type == EP_T_LIST && t.v.items[n].type != EP_T_NIL)) return NULL;
  char *s = ep_arena_alloc(a, (size_t)n * 4 + 1), *p = s;
  if (!s) return NULL;
  for (ptrdiff_t i = 0; i < n; i++) {
    ep_term c = ep_list_at(t, (size_t)i);
    if (c.type != EP_T_INT || c.v.i <= 0 || c.v.i > 0x10ffff || (c.v.i >= 0xd800 && c.v.i < 0xe000)) return NULL;
    uint32_t u = (uint32_t)c.v.i;
    if (u < 0x80) *p++ = (char)u;
    else if (u < 0x800) *p++ = (char)(0xc0 | u >> 6), *p++ = (char)(0x80 | (u & 0x3f));
    else if (u < 0x10000)
      *p++ = (char)(0xe0 | u >> 12), *p++ = (char)(0x80 | ((u >> 6) & 0x3f)), *p++ = (char)(0x80 | (u & 0x3f));
    else
      *p++ = (char)(0xf0 | u >> 18), *p++ = (char)(0x80 | ((u >> 12) & 0x3f)),
      *p++ = (char)(0x80 | ((u >> 6) & 0x3f)), *p++ = (char)(0x80 | (u & 0x3f));
  }
  *p = 0;
  return s;
}

static int boolean(ep_term t) { return ep_atom_eq(t, "true") ? 1 : ep_atom_eq(t, "false") ? 0 : -1; }

/* Appends s to *acc with a ':' between (the OpenSSL list form). */
static int join(ep_arena *a, const char **acc, const char *s) {
  size_t l0 = *acc ? strlen(*acc) : 0, l1 = strlen(s);
  char *j = ep_arena_alloc(a, l0 + 1 + l1 + 1);
  if (!j) return EP_ENOMEM;
  if (l0) memcpy(j, *acc, l0), j[l0++] = ':';
  memcpy(j + l0, s, l1 + 1);
  *acc = j;
  return 0;
}

/* ciphers: "ECDHE-RSA-AES128-GCM-SHA256:..." or ["TLS_AES_128_GCM_SHA256",
 * "ECDHE-..."]: names of TLS 1.3 suites (TLS_...) go to ciphersuites, the
 * rest to the TLS 1.2 list, as OpenSSL keeps them apart. */
static int ciphers(ep_arena *a, ep_tls_side *s, ep_term v, const char *side, char *why, size_t cap) {
  const char *one = text_of(a, v);
  ptrdiff_t n = one ? 1 : ep_list_len(v);
  if (n <= 0) return say(why, cap, EP_ETLSOPT, "%s option ciphers: an OpenSSL cipher string or a list of them", side);
  for (ptrdiff_t i = 0; i < n; i++) {
    const char *all = one ? one : text_of(a, ep_list_at(v, (size_t)i));
    if (!all)
      return say(why, cap, EP_ETLSOPT,
                 "%s option ciphers: only cipher names are supported (not maps or tuples; e.g. \"ECDHE-RSA-AES128-GCM-SHA256\")",
                 side);
    /* a string may itself be a ':'-list: split it */
    char *dup = ep_arena_dup(a, all, strlen(all) + 1);
    if (!dup) return EP_ENOMEM;
    for (char *tok = dup, *next; tok && *tok; tok = next) {
      next = strchr(tok, ':');
      if (next) *next++ = 0;
      if (!*tok) continue;
      int r = join(a, strncmp(tok, "TLS_", 4) == 0 ? &s->ciphersuites : &s->ciphers, tok);
      if (r) return r;
    }
  }
  return 0;
}

static int versions(ep_tls_side *s, ep_term v, const char *side, char *why, size_t cap) {
  ptrdiff_t n = ep_list_len(v);
  if (n <= 0) return say(why, cap, EP_ETLSOPT, "%s option versions: a non-empty list such as ['tlsv1.2']", side);
  for (ptrdiff_t i = 0; i < n; i++) {
    ep_term e = ep_list_at(v, (size_t)i);
    if (ep_atom_eq(e, "tlsv1.2")) s->versions |= EP_TLS_V12;
    else if (ep_atom_eq(e, "tlsv1.3")) s->versions |= EP_TLS_V13;
    else if (ep_is_atom(e))
      return say(why, cap, EP_ETLSOPT, "%s option versions: '%s' is not supported (only 'tlsv1.2' and 'tlsv1.3')", side,
                 e.v.str);
    else return say(why, cap, EP_ETLSOPT, "%s option versions: a list of atoms such as 'tlsv1.2'", side);
  }
  return 0;
}

static int path_opt(ep_arena *a, const char **dst, ep_term v, const char *key, const char *side, char *why, size_t cap) {
  if (!(*dst = text_of(a, v))) return say(why, cap, EP_ETLSOPT, "%s option %s: a non-empty string", side, key);
  return 0;
}

static int one_opt(ep_arena *a, ep_tls_side *s, bool server, ep_term o, char *why, size_t cap) {
  const char *side = server ? "server" : "client";
  if (!ep_is_tuple(o) || o.n != 2 || !ep_is_atom(o.v.items[0]))
    return say(why, cap, EP_ETLSOPT, "%s options: each must be a {Key, Value} pair", side);
  const char *k = o.v.items[0].v.str;
  ep_term v = o.v.items[1];
  if (!strcmp(k, "certfile")) return path_opt(a, &s->certfile, v, k, side, why, cap);
  if (!strcmp(k, "keyfile")) return path_opt(a, &s->keyfile, v, k, side, why, cap);
  if (!strcmp(k, "cacertfile")) return path_opt(a, &s->cacertfile, v, k, side, why, cap);
  if (!strcmp(k, "password")) {
    /* an empty password is a password (OTP passes it on as is) */
    if (v.type == EP_T_NIL || (v.type == EP_T_BINARY && v.n == 0)) {
      s->password = "";
      return 0;
    }
    return path_opt(a, &s->password, v, k, side, why, cap);
  }
  if (!strcmp(k, "verify")) {
    if (ep_atom_eq(v, "verify_peer")) s->verify = 1;
    else if (ep_atom_eq(v, "verify_none")) s->verify = 0;
    else return say(why, cap, EP_ETLSOPT, "%s option verify: verify_peer or verify_none", side);
    return 0;
  }
  if (!strcmp(k, "fail_if_no_peer_cert") && server) {
    if ((s->fail_if_no_peer_cert = boolean(v)) < 0)
      return say(why, cap, EP_ETLSOPT, "%s option fail_if_no_peer_cert: true or false", side);
    return 0;
  }
  if (!strcmp(k, "secure_renegotiate")) {
    if ((s->secure_renegotiate = boolean(v)) < 0)
      return say(why, cap, EP_ETLSOPT, "%s option secure_renegotiate: true or false", side);
    return 0;
  }
  if (!strcmp(k, "depth")) {
    if (v.type != EP_T_INT || v.v.i < 0 || v.v.i > 100)
      return say(why, cap, EP_ETLSOPT, "%s option depth: an integer 0..100", side);
    s->depth = (int)v.v.i;
    return 0;
  }
  if (!strcmp(k, "versions")) return versions(s, v, side, why, cap);
  if (!strcmp(k, "ciphers")) return ciphers(a, s, v, side, why, cap);
  if (!strcmp(k, "server_name_indication") && !server) {
    if (ep_atom_eq(v, "disable")) s->sni_disable = 1;
    else if (!(s->sni = text_of(a, v)))
      return say(why, cap, EP_ETLSOPT, "%s option server_name_indication: a host name string or disable", side);
    return 0;
  }
  return say(why, cap, EP_ETLSOPT, "%s option %s is not supported by erlpeer%s", side, k,
             !strcmp(k, "fail_if_no_peer_cert") || !strcmp(k, "server_name_indication") ? " on this side" : "");
}

static void side_init(ep_tls_side *s) {
  memset(s, 0, sizeof *s);
  s->verify = s->fail_if_no_peer_cert = s->depth = s->secure_renegotiate = -1;
}

int ep_tlsopt_parse(const ep_mem *mem, const char *text, size_t len, ep_tlsopt *out, char *why, size_t cap) {
  if (why && cap) why[0] = 0;
  ep_tlsopt o;
  memset(&o, 0, sizeof o);
  side_init(&o.server);
  side_init(&o.client);
  if (!(o.arena = ep_arena_new(mem))) return EP_ENOMEM;
  size_t pos = 0;
  ep_term t;
  ep_text_error te = {0};
  int r = ep_parse_ex(o.arena, text, len, &pos, &t, &te, EP_PARSE_DOT);
  if (r) {
    if (r == EP_ESYNTAX || r == EP_EINCOMPLETE)
      say(why, cap, r, "line %u column %u: %s", te.line, te.column,
          r == EP_EINCOMPLETE ? "the term is not finished (a '.' at the end?)" : te.message ? te.message : "syntax error");
    else say(why, cap, r, "%s", ep_strerror(r));
    goto fail;
  }
  if (ep_parse_more(text, len, &pos)) {
    r = say(why, cap, EP_ETLSOPT, "more than one term: the file holds one list [{server, Opts}, {client, Opts}]");
    goto fail;
  }
  ptrdiff_t n = ep_list_len(t);
  if (n < 0 || (t.type == EP_T_LIST && t.v.items[n].type != EP_T_NIL)) {
    r = say(why, cap, EP_ETLSOPT, "not a list: the file holds [{server, Opts}, {client, Opts}]");
    goto fail;
  }
  for (ptrdiff_t i = 0; i < n; i++) {
    ep_term e = ep_list_at(t, (size_t)i);
    bool server = ep_is_record(e, "server", 2), client = ep_is_record(e, "client", 2);
    if (!server && !client) {
      r = say(why, cap, EP_ETLSOPT, "element %d is not {server, Opts} or {client, Opts}", (int)i + 1);
      goto fail;
    }
    ep_tls_side *s = server ? &o.server : &o.client;
    if (s->present) {
      r = say(why, cap, EP_ETLSOPT, "two %s sections", server ? "server" : "client");
      goto fail;
    }
    s->present = true;
    ep_term opts = e.v.items[1];
    ptrdiff_t m = ep_list_len(opts);
    if (m < 0 || (opts.type == EP_T_LIST && opts.v.items[m].type != EP_T_NIL) || opts.type == EP_T_STRING) {
      r = say(why, cap, EP_ETLSOPT, "%s options: not a list of {Key, Value}", server ? "server" : "client");
      goto fail;
    }
    for (ptrdiff_t j = 0; j < m; j++)
      if ((r = one_opt(o.arena, s, server, ep_list_at(opts, (size_t)j), why, cap))) goto fail;
  }
  *out = o;
  return 0;
fail:
  if (r == EP_ENOMEM && why && cap && !why[0]) say(why, cap, r, "out of memory");
  ep_arena_free(o.arena);
  return r;
}

void ep_tlsopt_free(ep_tlsopt *o) {
  if (!o) return;
  ep_arena_free(o->arena);
  o->arena = NULL;
}
