/* The `erlpeer session` command reader (tools/tool_session.c) on arbitrary
 * bytes, cut into lines as the session reads stdin (each line with its
 * newline). Every line must give a command or a description of why not;
 * what the reader hands on must be what the session then uses: a why text
 * for SYNTAX and BADARG (one short line), an Id that prints (it is echoed in
 * every reply), options of known keys carrying the fields their setters
 * take; and the arena stays proportional to the line (binary segments
 * aside, each bounded by EP_LIMIT_TEXT_SEGMENT_BITS). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ep_error.h"
#include "ep_limits.h"
#include "ep_text.h"
#include "tool_session.h"

#define CHECK(c) \
  do {           \
    if (!(c)) __builtin_trap(); \
  } while (0)

static void check_opt(const ep_sopt *o) {
  CHECK(o->why && *o->why);
  switch (o->key) {
    case EP_SOPT_NAME:
    case EP_SOPT_HOST:
      CHECK(o->str);
      break;
    case EP_SOPT_CONN_TCP:
      CHECK(o->num >= 0 && o->num <= 65535);
      break;
    case EP_SOPT_EXEC:
      CHECK(o->str);
      if (o->list) CHECK(o->list[o->n] == NULL);
      for (size_t j = 0; o->list && j < o->n; j++) CHECK(o->list[j]);
      break;
    case EP_SOPT_ARGS:
      CHECK(o->list && o->list[o->n] == NULL);
      for (size_t j = 0; j < o->n; j++) CHECK(o->list[j]);
      break;
    case EP_SOPT_ENV:
      CHECK(o->list && o->list[2 * o->n] == NULL);
      for (size_t j = 0; j < 2 * o->n; j++) CHECK(o->list[j]);
      break;
    case EP_SOPT_WAIT_BOOT:
      CHECK(o->mode >= EP_SWAIT_MS && o->mode <= EP_SWAIT_FALSE);
      break;
    case EP_SOPT_SHUTDOWN:
      CHECK(o->mode >= EP_SSHUT_CLOSE && o->mode <= EP_SSHUT_STOP);
      CHECK(o->num >= 0 && o->num <= UINT32_MAX);
      break;
    case EP_SOPT_PEER_DOWN:
      CHECK(o->mode >= EP_SDOWN_STOP && o->mode <= EP_SDOWN_CRASH);
      break;
    case EP_SOPT_LONGNAMES:
    case EP_SOPT_DETACHED:
      CHECK(o->mode == 0 || o->mode == 1);
      break;
    case EP_SOPT_CONN_STDIO:
    case EP_SOPT_CONN_DIST:
      break;
    default:
      __builtin_trap();
  }
}

static void one_line(ep_arena *a, const char *p, size_t n) {
  ep_scmd c;
  ep_scmd_parse(a, p, n, &c);
  switch (c.kind) {
    case EP_SCMD_SKIP:
      return;
    case EP_SCMD_SYNTAX:
    case EP_SCMD_BADARG:
      CHECK(c.why && strlen(c.why) < 200 && !strchr(c.why, '\n'));
      return;
    case EP_SCMD_START:
      CHECK(c.nopts == 0 || c.opts);
      for (size_t i = 0; i < c.nopts; i++) check_opt(&c.opts[i]);
      if (c.late_why) CHECK(*c.late_why);
      break;
    case EP_SCMD_CALL:
      CHECK(!ep_is_none(c.args[2]));
      CHECK(c.late_why || c.timeout_ms == -1 || (c.timeout_ms >= 0 && c.timeout_ms <= UINT32_MAX));
      break;
    case EP_SCMD_CAST:
      CHECK(!ep_is_none(c.args[2]));
      break;
    case EP_SCMD_SEND:
      CHECK(!ep_is_none(c.args[1]) && ep_is_none(c.args[2]));
      break;
    case EP_SCMD_STATE:
    case EP_SCMD_STOP:
      CHECK(ep_is_none(c.args[0]));
      break;
    default:
      __builtin_trap();
  }
  /* the Id goes back in the reply: it prints, and reads back as itself */
  ep_buf b = EP_BUF_INIT;
  if (ep_print(&b, c.id) == 0) {
    ep_term back;
    size_t pos = 0;
    CHECK(ep_parse(a, b.data ? (const char *)b.data : "", b.len, &pos, &back, NULL) == 0);
    CHECK(ep_term_eq(back, c.id));
  }
  ep_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ep_arena *a = ep_arena_new(NULL);
  if (!a) return 0;
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
    one_line(a, p, n);
    /* a term in memory is a bounded multiple of its text, plus what sized
     * binary segments may build (<<0:16777216>>: at most
     * EP_LIMIT_TEXT_SEGMENT_BITS each, twice while it is built) */
    size_t segs = 0;
    for (size_t i = 0; i < n; i++) segs += p[i] == ':';
    CHECK(ep_arena_used(a) <= 256 * n + 65536 + segs * (EP_LIMIT_TEXT_SEGMENT_BITS / 4));
    ep_arena_reset(a);
    p += n;
  }
  ep_arena_free(a);
  return 0;
}
