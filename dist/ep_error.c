#include "ep_error.h"

#include <errno.h>

#define EP__STRERR(name, val, msg) \
  case (val):                      \
    return msg;
const char *ep_strerror(int err) {
  switch (err) {
    case 0:
      return "success";
      EP_ERRNO_MAP(EP__STRERR)
    default:
      return "unknown error";
  }
}
#undef EP__STRERR

#define EP__ERRNAME(name, val, msg) \
  case (val):                       \
    return "EP_" #name;
const char *ep_err_name(int err) {
  switch (err) {
    case 0:
      return "EP_OK";
      EP_ERRNO_MAP(EP__ERRNAME)
    default:
      return "EP_EUNKNOWN";
  }
}
#undef EP__ERRNAME

/* EP_ECONTROL is a bad control message: reported and skipped, the
 * connection goes on. */
int ep_is_fatal(int err) { return err != 0 && err != EP_EINCOMPLETE && err != EP_ECONTROL; }

int ep_err_from_errno(int e) {
  /* libuv's own codes, not errno values: end of file (UV_EOF) and the
   * resolver's (UV_EAI_*, -3000..-3014). */
  if (e == -4095) return EP_EEOF;
  if (e <= -3000 && e >= -3014) return e == -3003 /* UV_EAI_CANCELED */ ? EP_ECANCELED : EP_ENOHOST;
  if (e < 0) e = -e; /* libuv on Linux: UV_Exxx == -Exxx */
  switch (e) {
    case 0:
      return 0;
    case ENOMEM:
      return EP_ENOMEM;
    case EINVAL:
      return EP_EINVAL;
    case ECONNREFUSED:
      return EP_ECONNREFUSED;
    case EADDRINUSE:
      return EP_EADDRINUSE;
    case EHOSTUNREACH:
    case ENETUNREACH:
      return EP_EHOSTUNREACH;
    case ETIMEDOUT:
      return EP_ETIMEDOUT;
    case ECONNRESET:
    case EPIPE:
      return EP_ECONNRESET;
    case EIO:
      return EP_EIO;
    case EACCES:
    case EPERM:
      return EP_EPERM;
    case ENOENT:
      return EP_ENOENT;
    case ECANCELED:
      return EP_ECANCELED;
    default:
      return EP_ESYS;
  }
}
