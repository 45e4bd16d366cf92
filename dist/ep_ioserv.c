/* ep_ioserv.c - Erlang's I/O protocol served without I/O. See ep_ioserv.h. */
#include "ep_ioserv.h"

#include <stdbool.h>

#include "ep_error.h"
#include "ep_iolib.h"
#include "ep_limits.h"
#include "ep_utf8_int.h"

int ep_ioserv_parse(ep_term msg, ep_term *from, ep_term *reply_as, ep_term *request) {
  if (!ep_is_record(msg, "io_request", 4)) return EP_EINVAL;
  *from = msg.v.items[1];
  *reply_as = msg.v.items[2];
  *request = msg.v.items[3];
  return 0;
}

ep_term ep_ioserv_reply(ep_arena *a, ep_term reply_as, ep_term reply) {
  return EP_TUPLE(a, ep_atom("io_reply"), reply_as, reply);
}

static ep_term error_of(ep_arena *a, ep_term why) { return EP_TUPLE(a, ep_atom("error"), why); }

/* Every character of text[from..] is Latin-1: what characters_to_binary(Chars,
 * latin1) asks of a {put_chars, latin1, M, F, A} result. */
static bool all_latin1(const ep_buf *text, size_t from) {
  for (size_t i = from; i < text->len;) {
    uint32_t cp;
    int l = ep__utf8_decode(text->data + i, text->len - i, &cp);
    if (l <= 0 || cp > 255) return false;
    i += (size_t)l;
  }
  return true;
}

/* format_mfa's answer for a function we do not run (not an error code). */
#define NOT_SERVED 1

/* {put_chars, Enc, M, F, A}: 0 printed; EP_EINVAL io_lib would raise;
 * NOT_SERVED; EP_ENOMEM. */
static int format_mfa(ep_buf *text, ep_arena *a, ep_term m, ep_term f, ep_term args, bool latin1) {
  ptrdiff_t n = ep_list_len(args);
  if (!ep_atom_eq(m, "io_lib") || n < 0 || ep_list_tail(args).type != EP_T_NIL) return NOT_SERVED;
  size_t start = text->len;
  int rc;
  if ((ep_atom_eq(f, "format") || ep_atom_eq(f, "fwrite")) && n == 2)
    rc = ep_iolib_format(text, ep_list_at(args, 0), ep_list_at(args, 1));
  else if ((ep_atom_eq(f, "write") || ep_atom_eq(f, "print")) && n == 1) {
    ep_term one = EP_LIST(a, ep_list_at(args, 0));
    if (ep_is_none(one)) return EP_ENOMEM;
    rc = ep_iolib_format(text, ep_atom(ep_atom_eq(f, "write") ? "~w" : "~p"), one);
  } else if (ep_atom_eq(f, "nl") && n == 0)
    rc = ep_buf_put8(text, '\n');
  else
    return NOT_SERVED;
  if (rc) return rc == EP_ENOMEM ? rc : EP_EINVAL;
  if (latin1 && !all_latin1(text, start)) {
    text->len = start;
    return EP_EINVAL;
  }
  return 0;
}

/* Sets *reply, or leaves it EP_T_NONE for "not a request we serve". */
static int serve_known(ep_buf *text, ep_arena *a, ep_term req, int nesting, ep_term *reply);

static int serve(ep_buf *text, ep_arena *a, ep_term req, int nesting, ep_term *reply) {
  *reply = ep_none();
  int rc = serve_known(text, a, req, nesting, reply);
  if (rc) return rc;
  if (ep_is_none(*reply)) *reply = error_of(a, ep_atom("request"));
  return ep_is_none(*reply) ? EP_ENOMEM : 0;
}

static int serve_known(ep_buf *text, ep_arena *a, ep_term req, int nesting, ep_term *reply) {
  ep_term ok = ep_atom("ok"), eof = ep_atom("eof");
  if (ep_atom_eq(req, "getopts")) {
    *reply = EP_LIST(a, EP_TUPLE(a, ep_atom("binary"), ep_atom("false")),
                     EP_TUPLE(a, ep_atom("encoding"), ep_atom("unicode")));
    return ep_is_none(*reply) ? EP_ENOMEM : 0;
  }
  if (ep_atom_eq(req, "get_password")) {
    *reply = eof;
    return 0;
  }
  if (req.type != EP_T_TUPLE || req.n == 0 || req.v.items[0].type != EP_T_ATOM) return 0;
  const ep_term *it = req.v.items;
  ep_term tag = it[0];
  if (ep_atom_eq(tag, "put_chars") && req.n >= 2 && req.n <= 5) {
    /* the encoding is there in the 3- and 5-tuples; the old 2- and 4-tuples
     * mean latin1 */
    bool has_enc = req.n == 3 || req.n == 5;
    bool latin1 = !has_enc || ep_atom_eq(it[1], "latin1");
    if (has_enc && !latin1 && !ep_atom_eq(it[1], "unicode")) return 0;
    int rc;
    if (req.n <= 3) {
      rc = latin1 ? ep_iolib_chardata_latin1(text, it[req.n - 1]) : ep_iolib_chardata(text, it[req.n - 1]);
      if (rc == EP_ENOMEM) return rc;
      *reply = rc ? error_of(a, ep_atom("put_chars")) : ok;
    } else {
      ep_term f = it[req.n - 2];
      rc = format_mfa(text, a, it[req.n - 3], f, it[req.n - 1], latin1);
      if (rc == EP_ENOMEM) return rc;
      if (rc == NOT_SERVED) return 0;
      *reply = rc ? error_of(a, f) : ok;
    }
    return ep_is_none(*reply) ? EP_ENOMEM : 0;
  }
  if (ep_atom_eq(tag, "get_chars") || ep_atom_eq(tag, "get_line") || ep_atom_eq(tag, "get_until") ||
      ep_atom_eq(tag, "get_password")) {
    *reply = eof; /* a group leader without input */
  } else if (ep_atom_eq(tag, "setopts") && req.n == 2 && ep_is_list(it[1])) {
    *reply = ok;
  } else if (ep_atom_eq(tag, "get_geometry") && req.n == 2) {
    *reply = error_of(a, ep_atom("enotsup"));
    if (ep_is_none(*reply)) return EP_ENOMEM;
  } else if (ep_atom_eq(tag, "requests") && req.n == 2 && nesting < EP_LIMIT_IO_REQUESTS_NESTING) {
    /* group.erl's io_requests/5: in order, while each answers ok */
    ptrdiff_t n = ep_list_len(it[1]);
    if (n < 0 || ep_list_tail(it[1]).type != EP_T_NIL) return 0;
    *reply = ok;
    for (ptrdiff_t i = 0; i < n; i++) {
      int rc = serve(text, a, ep_list_at(it[1], (size_t)i), nesting + 1, reply);
      if (rc) return rc;
      if (!ep_atom_eq(*reply, "ok")) break;
    }
  }
  return 0;
}

int ep_ioserv_serve(ep_buf *text, ep_arena *a, ep_term request, ep_term *reply) {
  int rc = serve(text, a, request, 0, reply);
  if (!rc && text->err) rc = text->err;
  if (rc) *reply = ep_none();
  return rc;
}
