/* erlpeer.h - the runtime in one include: the hidden node, the peer
 * controller, EPMD on libuv, and the terms they hand out. The sans-I/O
 * protocol cores have their own umbrella, <erlpeer/core/erlpeer_core.h>. */
#ifndef ERLPEER_H
#define ERLPEER_H

#include "ep_error.h"
#include "ep_limits.h"
#include "ep_mem.h"
#include "ep_term.h"
#include "ep_etf.h"
#include "ep_text.h"
#include "ep_utf8.h"
#include "ep_epmd.h"
#include "ep_epmd_uv.h"
#include "ep_cookie_file.h"
#include "ep_io.h"
#include "ep_log.h"
#include "ep_node.h"
#include "ep_peer.h"

#endif
