/* ep_error.h - the one error space of erlpeer.
 *
 * Every fallible function returns 0 (EP_OK) or one of these negative codes.
 * Numbers never change once published: add new codes at the end of their
 * block, never renumber. Blocks: term codec -1.., text syntax -50..,
 * EPMD -100.., distribution -150.., node runtime -200.., peer control -250..,
 * system -300.. (errno and libuv errors are mapped once, where the syscall
 * happens).
 *
 * Fatal vs recoverable: EP_EINCOMPLETE only asks for more bytes and
 * EP_ECONTROL (one bad control message) is skipped; every other error from
 * a decoder is fatal for that input or connection (ep_is_fatal).
 */
#ifndef EP_ERROR_H
#define EP_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* XX(NAME, number, message) */
#define EP_ERRNO_MAP(XX)                                                        \
  XX(EINCOMPLETE, -1, "need more bytes")                                        \
  XX(EVERSION, -2, "term does not start with version byte 131")                 \
  XX(EBADTAG, -3, "unknown term tag")                                           \
  XX(ELOCAL, -4, "LOCAL_EXT term: only the node that encoded it can decode it") \
  XX(EDEPTH, -5, "term nests deeper than the depth limit")                      \
  XX(ETOOBIG, -6, "term larger than the size limit")                            \
  XX(EATOMLEN, -7, "atom longer than the atom length limit")                    \
  XX(EBIGNUM, -8, "bignum larger than the bignum limit")                        \
  XX(EINFLATE, -9, "compressed term inflates beyond the decompressed limit")    \
  XX(EZLIB, -10, "corrupt compressed term")                                     \
  XX(EUTF8, -11, "invalid UTF-8 in atom or string")                             \
  XX(EBADTERM, -12, "malformed term")                                           \
  XX(ETRAILING, -13, "bytes left after the term")                              \
  XX(EATOMTYPE, -14, "an atom was expected")                                    \
  XX(EBADFLOAT, -15, "float is not finite")                                     \
  XX(EBITS, -16, "bit count of a bitstring outside 1..8")                       \
  XX(ENOMEM, -20, "out of memory")                                              \
  XX(EINVAL, -21, "invalid argument")                                           \
  XX(ERANGE, -22, "value out of range")                                         \
  XX(ESYNTAX, -50, "syntax error")                                              \
  XX(ENOTLITERAL, -51, "term has no literal syntax")                            \
  XX(ENOEPMD, -100, "no EPMD listening")                                        \
  XX(ENOTREG, -101, "node not registered in EPMD")                              \
  XX(ENAMETAKEN, -102, "node name already registered in EPMD")                  \
  XX(EEPMDREPLY, -103, "malformed EPMD reply")                                  \
  XX(EEPMDREQ, -104, "malformed EPMD request")                                  \
  XX(EEPMDREFUSED, -105, "EPMD refused the request")                            \
  XX(EEPMDLEN, -106, "EPMD request length out of range")                       \
  XX(EEPMDCODE, -107, "unknown EPMD request code")                              \
  XX(EEPMDNAME, -108, "invalid node name in EPMD message")                      \
  XX(EHANDSHAKE, -150, "malformed handshake message")                           \
  XX(EAUTH, -151, "authentication failed (cookie mismatch)")                    \
  XX(ENOTALLOWED, -152, "remote node refused the connection (not_allowed)")     \
  XX(ENOK, -153, "remote node refused the connection (nok)")                    \
  XX(EALIVE, -154, "remote node already has a connection to a node of this name") \
  XX(EWRONGNODE, -155, "the node that answered is not the node dialled")        \
  XX(EFLAGS, -156, "remote node lacks a mandatory distribution flag")          \
  XX(EFRAME, -157, "malformed distribution frame")                              \
  XX(ECONTROL, -158, "malformed control message")                               \
  XX(ETICK, -159, "connection silent for a whole tick time")                    \
  XX(EFRAGMENT, -160, "fragmented message breaks the reassembly limits")        \
  XX(ENODEDOWN, -200, "node is down")                                           \
  XX(ETIMEDOUT, -201, "timed out")                                              \
  XX(ECLOSED, -202, "handle is closing or closed")                              \
  XX(ENOCOOKIE, -203, "no cookie: cannot read or create ~/.erlang.cookie")      \
  XX(EBADNAME, -204, "invalid node name")                                       \
  XX(ENOTCONN, -205, "not connected")                                           \
  XX(ECANCELED, -206, "operation canceled")                                     \
  XX(EBADRPC, -207, "remote call failed (badrpc)")                              \
  XX(EEXCEPTION, -208, "remote call raised an exception")                       \
  XX(ECOOKIEPERM, -209, "cookie file must be accessible by owner only")        \
  XX(ECOOKIECHARS, -210, "bad characters in cookie file")                      \
  XX(ECOOKIELONG, -211, "cookie longer than 255 characters")                   \
  XX(ECOOKIESHORT, -212, "cookie file holds no cookie")                        \
  XX(ECOOKIETYPE, -213, "cookie file is not a regular file")                   \
  XX(EBOOT, -250, "peer failed to boot")                                        \
  XX(EPEERDOWN, -251, "peer is down")                                           \
  XX(ESTATE, -252, "operation not allowed in the peer's current state")         \
  XX(ESPAWN, -253, "cannot spawn the peer program")                             \
  XX(ECRC, -254, "standard_io frame failed its CRC-32 check")                   \
  XX(EALTFRAME, -255, "malformed frame on an alternative control connection")  \
  XX(ENEEDNODE, -256, "a dist peer on the caller's loop needs a node there first (ep_ctl_set_node)") \
  XX(EPEERCRASH, -257, "peer went down and its peer_down mode is crash")       \
  XX(ENOCONNECT, -258, "peer never connected back to the controller")          \
  XX(EINCALLBACK, -259, "blocking call made inside a callback of the loop it would run, or on the caller's own loop") \
  XX(ESYS, -300, "system call failed")                                          \
  XX(ECONNREFUSED, -301, "connection refused")                                  \
  XX(EADDRINUSE, -302, "address already in use")                                \
  XX(EHOSTUNREACH, -303, "host unreachable")                                    \
  XX(ENOHOST, -304, "host name does not resolve")                               \
  XX(EIO, -305, "I/O error")                                                    \
  XX(ECONNRESET, -306, "connection reset by peer")                              \
  XX(EEOF, -307, "end of file")                                                 \
  XX(EPERM, -308, "permission denied")                                          \
  XX(ENOENT, -309, "no such file or directory")                                 \
  XX(EBACKPRESSURE, -214, "the connection's send queue is full: the peer is not reading") \
  XX(ETOOMANYCALLS, -215, "too many calls in flight to this node")             \
  XX(ETLS, -350, "TLS handshake failed")                                        \
  XX(ETLSOPT, -351, "bad or unsupported TLS distribution option")             \
  XX(ENOTTLS, -352, "the node does not speak TLS distribution (plain -proto_dist inet_tcp?)") \
  XX(EISTLS, -353, "the node may use TLS distribution (-proto_dist inet_tls)")

#define EP_OK 0
#define EP__ERRDEF(name, val, msg) EP_##name = (val),
typedef enum ep_err { EP_ERRNO_MAP(EP__ERRDEF) EP__ERR_END = -10000 } ep_err;
#undef EP__ERRDEF

/* Human-readable message for an error code; never NULL. */
const char *ep_strerror(int err);

/* Symbolic name ("EP_EAUTH") for an error code; never NULL. */
const char *ep_err_name(int err);

/* Non-zero for every error except 0 and EP_EINCOMPLETE: the input or the
 * connection that produced it cannot be used further. */
int ep_is_fatal(int err);

/* Map a POSIX errno value, positive (errno) or negated (-Exxx, as syscall
 * wrappers return it), to an ep_err; 0 stays 0. Unknown values become
 * EP_ESYS. Only errno: the cores do no I/O and know no event library; lib/
 * maps libuv's codes that are no errno value (end of file, the resolver's)
 * itself (lib/ep_uverr_int.h). */
int ep_err_from_errno(int e);

#ifdef __cplusplus
}
#endif
#endif
