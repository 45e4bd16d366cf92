/* The I/O server's request reader on arbitrary terms: the input is one
 * external-format term, served as an {io_request, From, ReplyAs, Request}
 * when it is one and as a bare Request otherwise. Whatever a peer sends its
 * group leader must give a reply (or EP_ENOMEM), valid UTF-8 text, and
 * bounded work. */
#include <stddef.h>
#include <stdint.h>

#include "ep_error.h"
#include "ep_etf.h"
#include "ep_ioserv.h"
#include "ep_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ep_arena *a = ep_arena_new(NULL);
  ep_term t, from, reply_as, req, reply;
  size_t pos = 0;
  if (a && ep_decode(a, data, size, &pos, &t, NULL) == 0) {
    if (ep_ioserv_parse(t, &from, &reply_as, &req)) req = t;
    ep_buf text;
    ep_buf_init(&text, NULL);
    int rc = ep_ioserv_serve(&text, a, req, &reply);
    if (rc != 0 && rc != EP_ENOMEM) __builtin_trap();
    if (rc == 0 && ep_is_none(reply)) __builtin_trap();
    if (ep_utf8_count(text.data, text.len) < 0) __builtin_trap(); /* the output callback gets UTF-8 */
    if (rc == 0) (void)ep_ioserv_reply(a, reply_as, reply);
    ep_buf_free(&text);
  }
  ep_arena_free(a);
  return 0;
}
