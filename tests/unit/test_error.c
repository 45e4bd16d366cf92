/* The error space: every code has a message and a name of its own, and
 * errno values map the same whether positive or negated. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_error.h"

static const int codes[] = {
#define EP__CODE(name, val, msg) (val),
    EP_ERRNO_MAP(EP__CODE)
#undef EP__CODE
};

START_TEST(every_code_named_once) {
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    ck_assert_int_lt(codes[i], 0);
    ck_assert_str_ne(ep_strerror(codes[i]), "unknown error");
    ck_assert_str_ne(ep_err_name(codes[i]), "EP_EUNKNOWN");
    for (size_t j = 0; j < i; j++) ck_assert_str_ne(ep_err_name(codes[i]), ep_err_name(codes[j]));
  }
  ck_assert_str_eq(ep_err_name(0), "EP_OK");
  ck_assert_str_eq(ep_err_name(-9999), "EP_EUNKNOWN");
}
END_TEST

START_TEST(errno_either_sign) {
  static const struct {
    int e, want;
  } map[] = {{ENOMEM, EP_ENOMEM},         {EINVAL, EP_EINVAL},       {ECONNREFUSED, EP_ECONNREFUSED},
             {EADDRINUSE, EP_EADDRINUSE}, {EHOSTUNREACH, EP_EHOSTUNREACH}, {ENETUNREACH, EP_EHOSTUNREACH},
             {ETIMEDOUT, EP_ETIMEDOUT},   {ECONNRESET, EP_ECONNRESET}, {EPIPE, EP_ECONNRESET},
             {EIO, EP_EIO},               {EACCES, EP_EPERM},        {EPERM, EP_EPERM},
             {ENOENT, EP_ENOENT},         {ECANCELED, EP_ECANCELED}, {EXDEV, EP_ESYS}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
    ck_assert_int_eq(ep_err_from_errno(map[i].e), map[i].want);
    ck_assert_int_eq(ep_err_from_errno(-map[i].e), map[i].want);
  }
  ck_assert_int_eq(ep_err_from_errno(0), 0);
  /* Not errno values: no error code of anyone's, and no overflow negating. */
  ck_assert_int_eq(ep_err_from_errno(INT_MIN), EP_ESYS);
  ck_assert_int_eq(ep_err_from_errno(INT_MAX), EP_ESYS);
}
END_TEST

int main(void) {
  Suite *s = suite_create("error");
  TCase *tc = tcase_create("error");
  tcase_add_test(tc, every_code_named_once);
  tcase_add_test(tc, errno_either_sign);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
