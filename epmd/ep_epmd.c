/* ep_epmd.c - EPMD wire format (see ep_epmd.h for the contract). */
#include "ep_epmd.h"

#include <stdio.h>
#include <string.h>

#include "ep_error.h"
#include "ep_limits.h"
#include "ep_utf8.h"

/* Characters of a node name: UTF-8 without NUL bytes (no overlong form,
 * surrogate, code point past U+10FFFF or truncated sequence), else -1. */
static long utf8_chars(const uint8_t *s, size_t n) {
  if (memchr(s, 0, n)) return -1;
  return (long)ep_utf8_count(s, n);
}

int ep_epmd_name_valid(const uint8_t *name, size_t len) {
  if (!name || len == 0 || len > EP_EPMD_NAME_BYTES) return 0;
  long n = utf8_chars(name, len);
  return n >= 1 && n <= (long)EP_EPMD_NAME_CHARS;
}

/* --- requests ------------------------------------------------------------------------ */

/* Every request: Length:16 (of what follows), Code:8, Body. */
static int put_req_head(ep_buf *b, size_t body_len, uint8_t code) {
  if (body_len + 1 > 0xFFFF) return EP_EINVAL;
  ep_buf_put16(b, (uint16_t)(body_len + 1));
  return ep_buf_put8(b, code);
}

/* The node fields ALIVE2_REQ and PORT2_RESP share, in the same order:
 *   Port:16 NodeType:8 Protocol:8 HighVsn:16 LowVsn:16 NameLen:16 Name ExtraLen:16 Extra
 * The caller has checked that both lengths fit in 16 bits. */
static int put_node(ep_buf *b, const ep_epmd_node *n) {
  ep_buf_put16(b, n->port);
  ep_buf_put8(b, n->node_type);
  ep_buf_put8(b, n->protocol);
  ep_buf_put16(b, n->high);
  ep_buf_put16(b, n->low);
  ep_buf_put16(b, (uint16_t)n->name_len);
  ep_buf_append(b, n->name, n->name_len);
  ep_buf_put16(b, (uint16_t)n->extra_len);
  if (n->extra_len) ep_buf_append(b, n->extra, n->extra_len);
  return b->err;
}

/* ALIVE2_REQ:
 *   2      1    2     1         1         2        2       2        N     2         E
 * +-----+-----+-----+---------+--------+--------+-------+---------+------+----------+-------+
 * | Len | 120 |Port |NodeType |Protocol|HighVsn |LowVsn |NameLen  | Name | ExtraLen | Extra |
 * +-----+-----+-----+---------+--------+--------+-------+---------+------+----------+-------+ */
int ep_epmd_encode_alive2_req(ep_buf *b, const ep_epmd_node *n) {
  if (!n || n->name_len > EP_EPMD_NAME_BYTES || n->extra_len > EP_EPMD_EXTRA_BYTES) return EP_EINVAL;
  if (!ep_epmd_name_valid(n->name, n->name_len)) return EP_EBADNAME;
  put_req_head(b, 12 + n->name_len + n->extra_len, EP_EPMD_ALIVE2_REQ);
  return put_node(b, n);
}

/* PORT_PLEASE2_REQ: Len:16, 122, Name (no length: the rest of the request). */
int ep_epmd_encode_port2_req(ep_buf *b, const char *name, size_t name_len) {
  if (!ep_epmd_name_valid((const uint8_t *)name, name_len)) return EP_EBADNAME;
  put_req_head(b, name_len, EP_EPMD_PORT2_REQ);
  ep_buf_append(b, name, name_len);
  return b->err;
}

/* NAMES_REQ, DUMP_REQ, KILL_REQ: Len:16 = 1, Code. */
int ep_epmd_encode_names_req(ep_buf *b) {
  put_req_head(b, 0, EP_EPMD_NAMES_REQ);
  return b->err;
}
int ep_epmd_encode_dump_req(ep_buf *b) {
  put_req_head(b, 0, EP_EPMD_DUMP_REQ);
  return b->err;
}
int ep_epmd_encode_kill_req(ep_buf *b) {
  put_req_head(b, 0, EP_EPMD_KILL_REQ);
  return b->err;
}

/* STOP_REQ: Len:16, 115, Name. */
int ep_epmd_encode_stop_req(ep_buf *b, const char *name, size_t name_len) {
  if (!ep_epmd_name_valid((const uint8_t *)name, name_len)) return EP_EBADNAME;
  put_req_head(b, name_len, EP_EPMD_STOP_REQ);
  ep_buf_append(b, name, name_len);
  return b->err;
}

static int has_nul(const uint8_t *p, size_t n) { return n && memchr(p, 0, n) != NULL; }

int ep_epmd_decode_request(const uint8_t *buf, size_t len, size_t *pos, size_t max_len, ep_epmd_request *req) {
  size_t p = *pos;
  if (max_len == 0) max_len = EP_LIMIT_EPMD_REQUEST;
  if (p > len || len - p < 2) return EP_EINCOMPLETE;
  size_t n = ep_get16(buf + p);
  /* Check the length against the limit before waiting for the body: a
   * hostile length must not make us buffer. */
  if (n == 0 || n > max_len) return EP_EEPMDLEN;
  if (len - p - 2 < n) return EP_EINCOMPLETE;
  const uint8_t *b = buf + p + 2;
  memset(req, 0, sizeof *req);
  req->code = b[0];
  switch (b[0]) {
    case EP_EPMD_ALIVE2_REQ: {
      /* Offsets in b: 0 code, 1 port, 3 type, 4 proto, 5 high, 7 low,
       * 9 namelen, 11 name, 11+N extralen, 13+N extra. */
      if (n < 13) return EP_EEPMDREQ;
      size_t nl = ep_get16(b + 9);
      if (11 + nl + 2 > n) return EP_EEPMDREQ;
      size_t el = ep_get16(b + 11 + nl);
      if (13 + nl + el > n) return EP_EEPMDREQ;
      if (has_nul(b + 11, nl)) return EP_EEPMDNAME;
      req->node.port = ep_get16(b + 1);
      req->node.node_type = b[3];
      req->node.protocol = b[4];
      req->node.high = ep_get16(b + 5);
      req->node.low = ep_get16(b + 7);
      req->node.name = b + 11;
      req->node.name_len = nl;
      req->node.extra = b + 13 + nl;
      req->node.extra_len = el;
      break;
    }
    case EP_EPMD_PORT2_REQ:
    case EP_EPMD_STOP_REQ: {
      size_t nl = n - 1;
      /* Old clients terminate the name with NUL: drop one. */
      if (b[0] == EP_EPMD_PORT2_REQ && nl > 0 && b[n - 1] == 0) nl--;
      if (!ep_epmd_name_valid(b + 1, nl)) return EP_EEPMDNAME;
      req->node.name = b + 1;
      req->node.name_len = nl;
      break;
    }
    case EP_EPMD_NAMES_REQ:
    case EP_EPMD_DUMP_REQ:
    case EP_EPMD_KILL_REQ:
      /* epmd ignores anything after these codes; so do we. */
      break;
    default:
      return EP_EEPMDCODE;
  }
  *pos = p + 2 + n;
  return 0;
}

/* --- replies ------------------------------------------------------------------------------ */

/* ALIVE2_X_RESP: 118, Result:8, Creation:32.  ALIVE2_RESP: 121, Result:8, Creation:16. */
int ep_epmd_encode_alive2_resp(ep_buf *b, int x, uint8_t result, uint32_t creation) {
  ep_buf_put8(b, x ? EP_EPMD_ALIVE2_X_RESP : EP_EPMD_ALIVE2_RESP);
  ep_buf_put8(b, result);
  if (x) ep_buf_put32(b, creation);
  else ep_buf_put16(b, (uint16_t)creation);
  return b->err;
}

/* PORT2_RESP: 119, Result:8; on Result 0 also
 *   Port:16, NodeType:8, Protocol:8, High:16, Low:16, NameLen:16, Name, ExtraLen:16, Extra */
int ep_epmd_encode_port2_resp(ep_buf *b, const ep_epmd_node *n) {
  if (n && (n->name_len > 0xFFFF || n->extra_len > 0xFFFF)) return EP_EINVAL;
  ep_buf_put8(b, EP_EPMD_PORT2_RESP);
  if (!n) return ep_buf_put8(b, 1);
  ep_buf_put8(b, 0);
  return put_node(b, n);
}

/* NAMES and DUMP replies: EpmdPort:32, then text until the connection closes. */
int ep_epmd_encode_names_head(ep_buf *b, uint32_t epmd_port) { return ep_buf_put32(b, epmd_port); }

int ep_epmd_encode_names_line(ep_buf *b, const uint8_t *name, size_t name_len, uint16_t port) {
  char tail[32];
  int t = snprintf(tail, sizeof tail, " at port %u\n", (unsigned)port);
  ep_buf_append(b, "name ", 5);
  ep_buf_append(b, name, name_len);
  return ep_buf_append(b, tail, (size_t)t);
}

/* DUMP lines are NUL-terminated (epmd sends the terminator too). */
int ep_epmd_encode_dump_line(ep_buf *b, int active, const uint8_t *name, size_t name_len, uint16_t port, int fd) {
  char tail[64];
  int t = active ? snprintf(tail, sizeof tail, "> at port %u, fd = %d\n", (unsigned)port, fd)
                 : snprintf(tail, sizeof tail, ">, port = %u, fd = %d \n", (unsigned)port, fd);
  ep_buf_append(b, active ? "active name     <" : "old/unused name <", 17);
  ep_buf_append(b, name, name_len);
  ep_buf_append(b, tail, (size_t)t);
  return ep_buf_put8(b, 0);
}

int ep_epmd_decode_alive2_resp(const uint8_t *buf, size_t len, size_t *pos, uint8_t *result, uint32_t *creation,
                               int *x) {
  size_t p = *pos;
  if (p >= len) return EP_EINCOMPLETE;
  int is_x = buf[p] == EP_EPMD_ALIVE2_X_RESP;
  if (!is_x && buf[p] != EP_EPMD_ALIVE2_RESP) return EP_EEPMDREPLY;
  size_t need = is_x ? 6 : 4;
  if (len - p < need) return EP_EINCOMPLETE;
  *result = buf[p + 1];
  *creation = is_x ? ep_get32(buf + p + 2) : ep_get16(buf + p + 2);
  if (x) *x = is_x;
  *pos = p + need;
  return 0;
}

int ep_epmd_decode_port2_resp(const uint8_t *buf, size_t len, size_t *pos, uint8_t *result, ep_epmd_node *node) {
  size_t p = *pos;
  if (p >= len) return EP_EINCOMPLETE;
  if (buf[p] != EP_EPMD_PORT2_RESP) return EP_EEPMDREPLY;
  if (len - p < 2) return EP_EINCOMPLETE;
  uint8_t r = buf[p + 1];
  if (r != 0) {
    *result = r;
    *pos = p + 2;
    return 0;
  }
  /* Offsets from p: 2 port, 4 type, 5 proto, 6 high, 8 low, 10 namelen, 12 name. */
  if (len - p < 12) return EP_EINCOMPLETE;
  size_t nl = ep_get16(buf + p + 10);
  if (nl > EP_EPMD_NAME_BYTES) return EP_EEPMDREPLY;
  if (len - p < 12 + nl + 2) return EP_EINCOMPLETE;
  size_t el = ep_get16(buf + p + 12 + nl);
  if (el > EP_EPMD_EXTRA_BYTES) return EP_EEPMDREPLY;
  if (len - p < 14 + nl + el) return EP_EINCOMPLETE;
  memset(node, 0, sizeof *node);
  node->port = ep_get16(buf + p + 2);
  node->node_type = buf[p + 4];
  node->protocol = buf[p + 5];
  node->high = ep_get16(buf + p + 6);
  node->low = ep_get16(buf + p + 8);
  node->name = buf + p + 12;
  node->name_len = nl;
  node->extra = buf + p + 14 + nl;
  node->extra_len = el;
  *result = 0;
  *pos = p + 14 + nl + el;
  return 0;
}

int ep_epmd_decode_names_head(const uint8_t *buf, size_t len, size_t *pos, uint32_t *epmd_port) {
  if (*pos > len || len - *pos < 4) return EP_EINCOMPLETE;
  *epmd_port = ep_get32(buf + *pos);
  *pos += 4;
  return 0;
}

/* "name " + NAME + " at port " + digits + "\n": the longest valid line. */
#define NAMES_LINE_MAX (5 + EP_EPMD_NAME_BYTES + 9 + 5 + 1)

int ep_epmd_decode_names_line(const uint8_t *buf, size_t len, size_t *pos, int at_eof, const uint8_t **name,
                              size_t *name_len, uint16_t *port) {
  size_t p = *pos;
  if (p >= len) return EP_EINCOMPLETE;
  size_t avail = len - p;
  size_t scan = avail < NAMES_LINE_MAX ? avail : NAMES_LINE_MAX;
  const uint8_t *nl = memchr(buf + p, '\n', scan);
  size_t line_len, consumed;
  if (nl) {
    line_len = (size_t)(nl - (buf + p));
    consumed = line_len + 1;
  } else if (avail >= NAMES_LINE_MAX) {
    return EP_EEPMDREPLY;
  } else if (at_eof) {
    line_len = consumed = avail;
  } else {
    return EP_EINCOMPLETE;
  }
  const uint8_t *l = buf + p;
  static const char at[] = " at port ";
  if (line_len < 5 + 1 + 9 + 1 || memcmp(l, "name ", 5) != 0) return EP_EEPMDREPLY;
  /* The name runs to the last " at port " (a name cannot contain it: epmd
   * names have no spaces, but be exact about the shape anyway). */
  size_t k = line_len - 9;
  while (k > 5 && memcmp(l + k, at, 9) != 0) k--;
  if (k <= 5) return EP_EEPMDREPLY;
  size_t digits = line_len - (k + 9);
  if (digits < 1 || digits > 5) return EP_EEPMDREPLY;
  uint32_t v = 0;
  for (size_t i = k + 9; i < line_len; i++) {
    if (l[i] < '0' || l[i] > '9') return EP_EEPMDREPLY;
    v = v * 10 + (uint32_t)(l[i] - '0');
  }
  if (v > 65535) return EP_EEPMDREPLY;
  *name = l + 5;
  *name_len = k - 5;
  *port = (uint16_t)v;
  *pos = p + consumed;
  return 0;
}

static int decode_word(const uint8_t *buf, size_t len, size_t *pos, const char *yes, const char *no, size_t n,
                       int *out) {
  size_t p = *pos;
  if (p > len) return EP_EINCOMPLETE;
  size_t avail = len - p < n ? len - p : n;
  int could_yes = memcmp(buf + p, yes, avail) == 0, could_no = memcmp(buf + p, no, avail) == 0;
  if (!could_yes && !could_no) return EP_EEPMDREPLY;
  if (avail < n) return EP_EINCOMPLETE;
  *out = could_yes;
  *pos = p + n;
  return 0;
}

/* KILL reply: the two bytes "OK" or "NO", then epmd closes. */
int ep_epmd_decode_kill_resp(const uint8_t *buf, size_t len, size_t *pos, int *ok) {
  return decode_word(buf, len, pos, "OK", "NO", 2, ok);
}

/* STOP reply: the seven bytes "STOPPED" or "NOEXIST". */
int ep_epmd_decode_stop_resp(const uint8_t *buf, size_t len, size_t *pos, int *stopped) {
  return decode_word(buf, len, pos, "STOPPED", "NOEXIST", 7, stopped);
}
