/* ep_epmd.h - the EPMD wire format, sans-I/O: encoders for every request and
 * reply, decoders for requests (server side) and replies (client side).
 *
 * Every request on the wire is `Length:16, Code:8, Body` (Length counts Code
 * and Body); replies carry no length and end where their layout says, or at
 * connection close (NAMES, DUMP). All integers are big-endian. The exact
 * layouts are next to each encoder/decoder in ep_epmd.c.
 *
 * Decoders follow the erlpeer contract: (buf, len, *pos, ...) reads from
 * buf[*pos], advances *pos only on success, returns 0, EP_EINCOMPLETE (more
 * bytes needed; nothing is wrong yet) or a specific fatal error. Decoded
 * names and extra data point into buf (no allocation): they live as long as
 * the caller's buffer.
 *
 * Encoders append to an ep_buf and return 0 or the buffer's sticky error
 * (EP_ENOMEM); EP_EINVAL / EP_EBADNAME for arguments that do not fit the
 * format (nothing appended then).
 */
#ifndef EP_EPMD_H
#define EP_EPMD_H

#include <stddef.h>
#include <stdint.h>

#include "ep_mem.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EP_EPMD_PORT_DEFAULT 4369

/* Request and reply codes (the first byte after the length). */
enum {
  EP_EPMD_ALIVE2_REQ = 120,    /* 'x' */
  EP_EPMD_ALIVE2_X_RESP = 118, /* 'v': 32-bit creation (highest version >= 6) */
  EP_EPMD_ALIVE2_RESP = 121,   /* 'y': legacy 16-bit creation */
  EP_EPMD_PORT2_REQ = 122,     /* 'z' */
  EP_EPMD_PORT2_RESP = 119,    /* 'w' */
  EP_EPMD_NAMES_REQ = 110,     /* 'n' */
  EP_EPMD_DUMP_REQ = 100,      /* 'd' */
  EP_EPMD_KILL_REQ = 107,      /* 'k' */
  EP_EPMD_STOP_REQ = 115       /* 's' */
};

#define EP_EPMD_NODE_NORMAL 77 /* 'M' */
#define EP_EPMD_NODE_HIDDEN 72 /* 'H' */
#define EP_EPMD_PROTO_TCP 0
#define EP_EPMD_DIST_VERSION 6 /* OTP 23+ */

/* Node names: at most 255 characters of UTF-8 (epmd's own rule). */
#define EP_EPMD_NAME_CHARS 255u
#define EP_EPMD_NAME_BYTES (4u * EP_EPMD_NAME_CHARS)
/* Extra data in ALIVE2: at most this many bytes (epmd's MAXSYMLEN). */
#define EP_EPMD_EXTRA_BYTES (4u * EP_EPMD_NAME_CHARS)

/* What ALIVE2_REQ registers and PORT2_RESP reports about a node. */
typedef struct ep_epmd_node {
  uint16_t port;
  uint8_t node_type;
  uint8_t protocol;
  uint16_t high, low;
  const uint8_t *name; /* not NUL-terminated */
  size_t name_len;
  const uint8_t *extra;
  size_t extra_len;
} ep_epmd_node;

/* A decoded request. For ALIVE2 every node field is set; for PORT2 and STOP
 * only name/name_len; NAMES, DUMP, KILL carry nothing. */
typedef struct ep_epmd_request {
  int code;
  ep_epmd_node node;
} ep_epmd_request;

/* Non-zero when name[0..len) is a node name EPMD accepts: 1..255 characters
 * of valid UTF-8 (no overlongs, no surrogates), no NUL. '@' is not checked
 * here (epmd does not); clients check it. */
int ep_epmd_name_valid(const uint8_t *name, size_t len);

/* --- requests: client encodes, server decodes ------------------------------------ */

int ep_epmd_encode_alive2_req(ep_buf *b, const ep_epmd_node *node);
int ep_epmd_encode_port2_req(ep_buf *b, const char *name, size_t name_len);
int ep_epmd_encode_names_req(ep_buf *b);
int ep_epmd_encode_dump_req(ep_buf *b);
int ep_epmd_encode_kill_req(ep_buf *b);
int ep_epmd_encode_stop_req(ep_buf *b, const char *name, size_t name_len);

/* Decodes one framed request. Errors:
 *   EP_EINCOMPLETE  the length header or the body has not all arrived
 *   EP_EEPMDLEN     Length is 0 or larger than max_len (0 = EP_LIMIT_EPMD_REQUEST)
 *   EP_EEPMDCODE    unknown request code
 *   EP_EEPMDREQ     a length inside the request overruns it, or a body is too
 *                   short for its code
 *   EP_EEPMDNAME    PORT2/STOP: name empty, with NUL, not UTF-8 or too long;
 *                   ALIVE2: name with NUL (epmd closes without a reply; other
 *                   bad ALIVE2 names get a refusal from the registry)
 * Trailing bytes after an ALIVE2 body's extra data are ignored, as epmd does;
 * a PORT2 name may end with one NUL (old clients), which is dropped. */
int ep_epmd_decode_request(const uint8_t *buf, size_t len, size_t *pos, size_t max_len, ep_epmd_request *req);

/* --- replies: server encodes, client decodes ------------------------------------------ */

/* ALIVE2 reply: x != 0 gives ALIVE2_X_RESP (32-bit creation), else the
 * legacy ALIVE2_RESP (creation truncated to 16 bits). */
int ep_epmd_encode_alive2_resp(ep_buf *b, int x, uint8_t result, uint32_t creation);
/* PORT2 reply: node NULL gives the "not found" reply (119, 1). */
int ep_epmd_encode_port2_resp(ep_buf *b, const ep_epmd_node *node);
/* NAMES/DUMP replies start with the EPMD port as 32 bits, then text. */
int ep_epmd_encode_names_head(ep_buf *b, uint32_t epmd_port);
/* "name NAME at port PORT\n" */
int ep_epmd_encode_names_line(ep_buf *b, const uint8_t *name, size_t name_len, uint16_t port);
/* "active name     <NAME> at port PORT, fd = FD\n\0" (active) or
 * "old/unused name <NAME>, port = PORT, fd = FD \n\0" (!active). */
int ep_epmd_encode_dump_line(ep_buf *b, int active, const uint8_t *name, size_t name_len, uint16_t port, int fd);

/* ALIVE2 reply, either form. *result is the result byte (0 = registered),
 * *creation the creation (16-bit form widened), *x whether it was the 32-bit
 * form (may be NULL). Errors: EP_EINCOMPLETE, EP_EEPMDREPLY (other code). */
int ep_epmd_decode_alive2_resp(const uint8_t *buf, size_t len, size_t *pos, uint8_t *result, uint32_t *creation,
                               int *x);

/* PORT2 reply. On *result == 0, *node is filled (pointing into buf). Errors:
 * EP_EINCOMPLETE, EP_EEPMDREPLY (other code, name longer than the limit). */
int ep_epmd_decode_port2_resp(const uint8_t *buf, size_t len, size_t *pos, uint8_t *result, ep_epmd_node *node);

/* The 4-byte EPMD port that starts a NAMES or DUMP reply. */
int ep_epmd_decode_names_head(const uint8_t *buf, size_t len, size_t *pos, uint32_t *epmd_port);

/* One "name NAME at port PORT\n" line. at_eof says the connection has
 * closed: a last line without '\n' is then accepted (erl accepts it).
 * Errors: EP_EINCOMPLETE (no '\n' yet), EP_EEPMDREPLY (line longer than the
 * longest valid line, or not of that shape, or port > 65535). *name points
 * into buf. */
int ep_epmd_decode_names_line(const uint8_t *buf, size_t len, size_t *pos, int at_eof, const uint8_t **name,
                              size_t *name_len, uint16_t *port);

/* KILL reply: "OK" (*ok = 1) or "NO" (*ok = 0). EP_EEPMDREPLY otherwise. */
int ep_epmd_decode_kill_resp(const uint8_t *buf, size_t len, size_t *pos, int *ok);

/* STOP reply: "STOPPED" (*stopped = 1) or "NOEXIST" (*stopped = 0; epmd then
 * also sends "STOPPED", which the caller may ignore). */
int ep_epmd_decode_stop_resp(const uint8_t *buf, size_t len, size_t *pos, int *stopped);

#ifdef __cplusplus
}
#endif
#endif
