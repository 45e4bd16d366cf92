/* ep_uverr.c - libuv's error codes onto ep_err (see ep_uverr_int.h). */
#include "ep_uverr_int.h"

#include <errno.h>
#include <uv.h>

#include "ep_error.h"

/* lib/ hands libuv statuses to ep_err_from_errno: true only while a libuv
 * code is the negated errno, which libuv promises on Unix only. */
#define EP__SAME(name) _Static_assert(UV_##name == -name, "UV_" #name " is not -" #name)
EP__SAME(ENOMEM);
EP__SAME(EINVAL);
EP__SAME(ECONNREFUSED);
EP__SAME(EADDRINUSE);
EP__SAME(EHOSTUNREACH);
EP__SAME(ENETUNREACH);
EP__SAME(ETIMEDOUT);
EP__SAME(ECONNRESET);
EP__SAME(EPIPE);
EP__SAME(EIO);
EP__SAME(EACCES);
EP__SAME(EPERM);
EP__SAME(ENOENT);
EP__SAME(ECANCELED);
#undef EP__SAME

int ep__err_from_uv(int e) {
  switch (e) {
    case UV_EOF:
      return EP_EEOF;
    case UV_EAI_CANCELED:
      return EP_ECANCELED;
    case UV_EAI_ADDRFAMILY:
    case UV_EAI_AGAIN:
    case UV_EAI_BADFLAGS:
    case UV_EAI_BADHINTS:
    case UV_EAI_FAIL:
    case UV_EAI_FAMILY:
    case UV_EAI_MEMORY:
    case UV_EAI_NODATA:
    case UV_EAI_NONAME:
    case UV_EAI_OVERFLOW:
    case UV_EAI_PROTOCOL:
    case UV_EAI_SERVICE:
    case UV_EAI_SOCKTYPE:
      return EP_ENOHOST;
    default:
      return ep_err_from_errno(e);
  }
}
