/* cmd_peer_util.h - what `erlpeer peer` and `erlpeer session` share: option
 * text parsing, calls written as text, printing results. */
#ifndef EP_CMD_PEER_UTIL_H
#define EP_CMD_PEER_UTIL_H

#include <stdio.h>

#include "ep_peer.h"

/* Milliseconds: decimal digits only, at most UINT32_MAX. 0 or EP_EINVAL. */
int ep_tool_parse_ms(const char *s, uint32_t *out);
/* close | halt | halt:MS | halt:infinity | MS | infinity. 0 or EP_EINVAL. */
int ep_tool_parse_shutdown(ep_peer_opts *o, const char *s);
/* dist | tcp | tcp:IP:PORT | tcp:PORT | stdio. 0 or EP_EINVAL. */
int ep_tool_parse_connection(ep_peer_opts *o, const char *s);
/* 'Mod:Fun(Arg, ...)' (a final '.' allowed) into the atoms *m, *f and the
 * list *args, in a. 0, EP_ESYNTAX or EP_ENOMEM. */
int ep_tool_parse_call(ep_arena *a, const char *text, ep_term *m, ep_term *f, ep_term *args);
/* Runs 'Mod:Fun(Arg, ...)' (blocking controller). EP_ESYNTAX when the text
 * does not parse (r->arena is then NULL), else r->status. */
int ep_tool_call_text(ep_peer *p, ep_arena *a, const char *text, uint32_t timeout,
                      ep_result *r);
/* Evaluates 'Exprs.' on the peer through erl_scan, erl_parse and erl_eval. */
int ep_tool_eval(ep_peer *p, ep_arena *a, const char *text, uint32_t timeout, ep_result *r);
/* One line on f for a failed call: "exception Class: Reason" or the error. */
void ep_tool_print_failure(FILE *f, const ep_result *r);
/* {Class, Reason} for a failed result, built in a ({exit, timeout} for a
 * timeout, {exit, noconnection} for a peer that is down, ...). */
ep_term ep_tool_failure_term(ep_arena *a, const ep_result *r);

/* Why a start that failed with err (EP_ETIMEDOUT, EP_ENOCONNECT) may have
 * failed, when the peer was a detached tcp peer behind an exec wrapper
 * (argv: the command line, program first; argv[0] not erl): erl -detached's
 * launcher exits at once, and a wrapper whose exit ends everything it
 * started (a container whose first process it is: podman run --rm, docker
 * run) takes the emulator with it before it connects. NULL otherwise. */
const char *ep_tool_detached_hint(int err, const char *const *argv);

#endif
