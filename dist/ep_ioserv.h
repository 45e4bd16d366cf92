/* ep_ioserv.h - the server side of Erlang's I/O protocol, sans I/O.
 *
 * Every group leader erlpeer hands out (the node's, for its remote calls;
 * a dist peer's; the standard_io and TCP peers' relayed `user`) gets
 *   {io_request, From, ReplyAs, Request}
 * and answers From with {io_reply, ReplyAs, Reply}. This module reads the
 * Request, appends the text it prints to a buffer (UTF-8) and gives the
 * Reply; the caller writes the text to its output callback and sends the
 * reply. The answers follow OTP's group.erl (kernel/src/group.erl), a group
 * leader without input:
 *
 *   {put_chars, Enc, Chars}          Enc unicode or latin1 (latin1: the
 *   {put_chars, Chars}  (= latin1)   binaries are Latin-1 bytes)
 *                                    -> ok | {error, put_chars} (not chardata)
 *   {put_chars, Enc, M, F, A}        formatted here with dist/ep_iolib for
 *   {put_chars, M, F, A} (= latin1)  io_lib:format/2 and fwrite/2 (io:format,
 *                                    io:fwrite), io_lib:write/1 (io:write),
 *                                    io_lib:print/1, io_lib:nl/0
 *                                    -> ok | {error, F} where io_lib would
 *                                    raise (io:format then raises badarg);
 *                                    any other M:F -> {error, request}: we
 *                                    run no Erlang code
 *   {get_chars|get_line|get_until|get_password, ...}, get_password -> eof
 *   getopts                          -> [{binary, false}, {encoding, unicode}]
 *   {setopts, Opts} (a list)         -> ok
 *   {get_geometry, _}                -> {error, enotsup}
 *   {requests, [R, ...]}             each in order until one answers
 *                                    something else than ok; the last answer
 *                                    (nested up to EP_LIMIT_IO_REQUESTS_NESTING)
 *   anything else                    -> {error, request}
 *
 * Known differences from formatting on the BEAM are those of ep_iolib.h
 * (~P and ~W print the whole term; pids, ports and references print with
 * their node name, as ep_print writes them).
 */
#ifndef EP_IOSERV_H
#define EP_IOSERV_H

#include "ep_mem.h"
#include "ep_term.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Splits {io_request, From, ReplyAs, Request}: 0, or EP_EINVAL when msg is
 * not one. */
int ep_ioserv_parse(ep_term msg, ep_term *from, ep_term *reply_as, ep_term *request);

/* Serves one Request: appends what it prints to text (UTF-8; a request that
 * fails prints nothing of its own, a batch keeps what its earlier requests
 * printed) and sets *reply, built in a. Returns 0, or EP_ENOMEM (text or a
 * ran out; *reply is then EP_T_NONE). */
int ep_ioserv_serve(ep_buf *text, ep_arena *a, ep_term request, ep_term *reply);

/* {io_reply, ReplyAs, Reply} in a (EP_T_NONE when a is out of memory). */
ep_term ep_ioserv_reply(ep_arena *a, ep_term reply_as, ep_term reply);

#ifdef __cplusplus
}
#endif
#endif
