/* erlpeer.h - everything erlpeer offers, in one include. */
#ifndef ERLPEER_H
#define ERLPEER_H

#include "ep_error.h"
#include "ep_limits.h"
#include "ep_mem.h"
#include "ep_term.h"
#include "ep_etf.h"
#include "ep_text.h"
#include "ep_epmd.h"
#include "ep_epmd_uv.h"
#include "ep_node.h"
#include "ep_peer.h"
#include "ep_io.h"

#endif
