#include "ep_error.h"

#include <errno.h>
#include <limits.h>

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
  if (e == INT_MIN) return EP_ESYS; /* no positive form */
  if (e < 0) e = -e;                 /* the negated form -Exxx of syscall wrappers */
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
