/* ep_tlsopt.h - OTP's -ssl_dist_optfile, read sans-I/O: the text of the
 * file in, the TLS options of each side out, or one clear error.
 *
 * The file is what OTP's ssl_dist_sup reads: one Erlang term ending in a
 * dot, a list of {server, Opts} and {client, Opts} (either may be missing),
 * Opts a list of {Key, Value} ssl options:
 *
 *   [{server, [{certfile, "/etc/ssl/node.pem"}, {keyfile, "/etc/ssl/node.key"},
 *              {cacertfile, "/etc/ssl/ca.pem"}, {verify, verify_peer},
 *              {fail_if_no_peer_cert, true}]},
 *    {client, [{certfile, "..."}, {cacertfile, "..."}, {verify, verify_peer}]}].
 *
 * Options read (both sides unless said): certfile, keyfile, password,
 * cacertfile (strings: "..." or <<"...">>), verify (verify_peer |
 * verify_none), fail_if_no_peer_cert (server; a boolean), depth (0..100),
 * versions (a list of 'tlsv1.2' and 'tlsv1.3'), ciphers (an OpenSSL cipher
 * string, or a list of such strings), server_name_indication (client: a
 * host string or disable), secure_renegotiate (a boolean). Anything else
 * (crl_check, verify_fun, dhfile, reuse_sessions, a cipher given as a map,
 * ...) is EP_ETLSOPT with a message naming it: an option we would otherwise
 * ignore could be one the user relies on for security.
 */
#ifndef EP_TLSOPT_H
#define EP_TLSOPT_H

#include <stdbool.h>
#include <stddef.h>

#include "ep_mem.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EP_TLS_V12 0x1u
#define EP_TLS_V13 0x2u

/* One side's options. Strings are NUL-terminated UTF-8 owned by the
 * ep_tlsopt's arena; NULL when not given. Tri-states: -1 not given. */
typedef struct ep_tls_side {
  bool present;       /* the file has this side's section */
  const char *certfile, *keyfile, *password, *cacertfile;
  int verify;         /* 1 verify_peer, 0 verify_none, -1 not given */
  int fail_if_no_peer_cert;
  int depth;
  unsigned versions;  /* EP_TLS_V12 | EP_TLS_V13; 0 not given (OTP's
                         inet_tls_dist then forces ['tlsv1.2']) */
  const char *ciphers;      /* TLS 1.2 and older: OpenSSL's cipher list form */
  const char *ciphersuites; /* TLS 1.3 names (TLS_...), ':'-separated */
  int sni_disable;          /* client: {server_name_indication, disable} */
  const char *sni;          /* client: the name given instead of the host */
  int secure_renegotiate;
} ep_tls_side;

typedef struct ep_tlsopt {
  ep_tls_side server, client;
  ep_arena *arena;
} ep_tlsopt;

/* Reads the text of an optfile. On success *out holds both sides (free
 * with ep_tlsopt_free). On error nothing needs freeing and why (cap bytes,
 * may be NULL) says what is wrong, naming the option or the place of a
 * syntax error. Returns 0, EP_ETLSOPT (a term that is not an options file,
 * an unsupported option or a bad value), EP_ESYNTAX / EP_EINCOMPLETE /
 * EP_EDEPTH / EP_ETOOBIG (the text, as ep_parse), EP_ENOMEM. mem may be
 * NULL. */
int ep_tlsopt_parse(const ep_mem *mem, const char *text, size_t len, ep_tlsopt *out, char *why, size_t cap);
void ep_tlsopt_free(ep_tlsopt *o);

#ifdef __cplusplus
}
#endif
#endif
