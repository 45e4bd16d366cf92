#include "ep_cookie.h"

#include <string.h>

#include "ep_error.h"

void ep_cookie_parser_init(ep_cookie_parser *p) { memset(p, 0, sizeof *p); }

void ep_cookie_parser_wipe(ep_cookie_parser *p) {
  volatile uint8_t *c = p->cookie;
  for (size_t i = 0; i < sizeof p->cookie; i++) c[i] = 0;
  p->len = 0;
}

static int printable(uint8_t c) { return c >= 0x20 && c <= 0x7e; }

int ep_cookie_parser_feed(ep_cookie_parser *p, const uint8_t *buf, size_t len) {
  if (p->err) return p->err;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = buf[i];
    if (!p->in_tail) {
      if (printable(c)) {
        if (p->len == sizeof p->cookie) return p->err = EP_ECOOKIELONG;
        p->cookie[p->len++] = c;
        p->pos++;
        continue;
      }
      p->in_tail = 1;
    }
    if (c != '\n' && c != '\r' && c != ' ') {
      p->bad = c;
      return p->err = EP_ECOOKIECHARS;
    }
    p->pos++;
  }
  return 0;
}

int ep_cookie_parser_finish(ep_cookie_parser *p) {
  if (p->err) return p->err;
  return p->len ? 0 : EP_ECOOKIESHORT;
}

int ep_cookie_parse(const uint8_t *buf, size_t len, size_t *cookie_len, size_t *err_pos) {
  ep_cookie_parser p;
  ep_cookie_parser_init(&p);
  int r = ep_cookie_parser_feed(&p, buf, len);
  if (!r) r = ep_cookie_parser_finish(&p);
  if (err_pos) *err_pos = (size_t)p.pos;
  *cookie_len = r ? 0 : p.len;
  ep_cookie_parser_wipe(&p);
  return r;
}
