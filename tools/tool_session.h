/* tool_session.h - the command reader of `erlpeer session`, without I/O:
 * one input line (bytes) to a command, or the description of why it is
 * malformed. No peer is touched here: what needs the session's state (is
 * the Id known?) and what only a peer option setter can check is left to
 * tools/cmd_session.c, in the order the session reports it:
 *
 *   line --ep_scmd_parse--> SKIP      (blank or only a comment)
 *                           SYNTAX    {error, badarg, "L:C: message"}
 *                           BADARG    {error, badarg, Why} (shape)
 *                           START     Id, options (opts[0..nopts) that
 *                                     parsed, then late_why for the first
 *                                     one that did not)
 *                           CALL      Id, M, F, Args, timeout (late_why
 *                                     for a bad one: reported only once
 *                                     the Id is known to be a peer)
 *                           CAST | SEND | STATE | STOP
 *
 * Options are kept in map order so that the session applies them one by
 * one and reports the first failure, whether its shape was wrong (found
 * here) or a setter refused it (found there). */
#ifndef EP_TOOL_SESSION_H
#define EP_TOOL_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "ep_mem.h"
#include "ep_term.h"

typedef enum ep_scmd_kind {
  EP_SCMD_SKIP,
  EP_SCMD_SYNTAX,
  EP_SCMD_BADARG,
  EP_SCMD_START,
  EP_SCMD_CALL,
  EP_SCMD_CAST,
  EP_SCMD_SEND,
  EP_SCMD_STATE,
  EP_SCMD_STOP
} ep_scmd_kind;

typedef enum ep_sopt_key {
  EP_SOPT_NAME,       /* str */
  EP_SOPT_HOST,       /* str */
  EP_SOPT_LONGNAMES,  /* mode: 1 for true */
  EP_SOPT_CONN_STDIO,
  EP_SOPT_CONN_DIST,
  EP_SOPT_CONN_TCP,   /* str: the address (NULL: any), num: the port 0..65535 */
  EP_SOPT_EXEC,       /* str: the program, list: pre-arguments or NULL */
  EP_SOPT_ARGS,       /* list[0..n) */
  EP_SOPT_ENV,        /* list[0..2n): key, value, key, value, ... */
  EP_SOPT_WAIT_BOOT,  /* mode EP_SWAIT_*, num: ms for EP_SWAIT_MS */
  EP_SOPT_SHUTDOWN,   /* mode EP_SSHUT_*, num: timeout (UINT32_MAX: infinity) */
  EP_SOPT_PEER_DOWN,  /* mode EP_SDOWN_* */
  EP_SOPT_DETACHED    /* mode: 1 for true */
} ep_sopt_key;

enum { EP_SWAIT_MS, EP_SWAIT_INFINITY, EP_SWAIT_FALSE };
enum { EP_SSHUT_CLOSE, EP_SSHUT_HALT, EP_SSHUT_STOP };
enum { EP_SDOWN_STOP, EP_SDOWN_CONTINUE, EP_SDOWN_CRASH };

typedef struct ep_sopt {
  ep_sopt_key key;
  const char *why; /* what to report when the setter refuses it */
  const char *str;
  const char **list; /* NULL-terminated */
  size_t n;
  int64_t num;
  int mode;
} ep_sopt;

typedef struct ep_scmd {
  ep_scmd_kind kind;
  const char *why;      /* SYNTAX, BADARG */
  ep_term id;           /* START .. STOP (else none) */
  ep_term args[3];      /* CALL, CAST: M, F, Args; SEND: To, Msg (the rest none) */
  int64_t timeout_ms;   /* CALL: -1 for the default, UINT32_MAX for infinity */
  const char *late_why; /* START, CALL: reported after the Id check (NULL: none) */
  const ep_sopt *opts;  /* START */
  size_t nopts;
} ep_scmd;

/* Reads one line (len bytes; like the session, it stops at a NUL byte; a
 * final newline is allowed) into *out, in a (terms, texts and why strings
 * live there). Never fails as such: an allocation failure in a is a SYNTAX
 * or BADARG command naming it. */
void ep_scmd_parse(ep_arena *a, const char *line, size_t len, ep_scmd *out);

#endif
