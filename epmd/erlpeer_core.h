/* erlpeer_core.h - the sans-I/O protocol cores, for protocol testers: bytes
 * in, bytes out, no sockets, no clock, no randomness of their own (time and
 * challenges are passed in). Installed under erlpeer/core/; the terms they
 * speak are the runtime layer's (erlpeer/erlpeer.h). docs/architecture.md
 * lists the layers; docs/distribution.md and docs/epmd.md the protocols. */
#ifndef ERLPEER_CORE_H
#define ERLPEER_CORE_H

#include "ep_alt.h"       /* the alternative control connections' framing (TCP, standard_io) */
#include "ep_cookie.h"    /* the cookie file's format, as erl reads it */
#include "ep_dflags.h"    /* distribution flags */
#include "ep_dist.h"      /* distribution frames, control messages, the atom cache */
#include "ep_epmd_registry.h" /* an EPMD server's registry and its connections' state machine */
#include "ep_handshake.h" /* the distribution handshake, both roles */
#include "ep_iolib.h"     /* io_lib:format */
#include "ep_ioserv.h"    /* the Erlang I/O protocol, served */

#endif
