/* ep_uverr_int.h - libuv's error codes onto ep_err, in one place. Internal
 * to lib/, the only layer that knows libuv.
 *
 * On Unix a libuv error is the negated errno (UV_ECONNREFUSED ==
 * -ECONNREFUSED; ep_uverr.c checks it at compile time for every code
 * ep_err_from_errno knows), so the status of a socket, pipe, timer or spawn
 * call may go straight to ep_err_from_errno, as most of lib/ does. libuv
 * also has codes that are no errno value: UV_EOF from a read and the
 * resolver's UV_EAI_*. A status that can carry one of them goes through
 * ep__err_from_uv. */
#ifndef EP_UVERR_INT_H
#define EP_UVERR_INT_H

/* Any libuv status to an ep_err: 0 stays 0; UV_EOF -> EP_EEOF;
 * UV_EAI_CANCELED -> EP_ECANCELED; every other UV_EAI_* -> EP_ENOHOST;
 * the rest as ep_err_from_errno maps them (unknown: EP_ESYS). */
int ep__err_from_uv(int uv_err);

#endif
