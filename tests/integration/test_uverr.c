/* lib/'s mapping of libuv's errors (ep_uverr_int.h): the codes that are no
 * errno value, and the errno ones through ep_err_from_errno. No erl, no
 * sockets: it lives here because only lib/ may know libuv. */
#include <check.h>
#include <stdlib.h>
#include <uv.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_uverr_int.h"

START_TEST(libuv_codes) {
  ck_assert_int_eq(ep__err_from_uv(0), 0);
  ck_assert_int_eq(ep__err_from_uv(UV_EOF), EP_EEOF);
  ck_assert_int_eq(ep__err_from_uv(UV_EAI_CANCELED), EP_ECANCELED);
  ck_assert_int_eq(ep__err_from_uv(UV_ECANCELED), EP_ECANCELED);
  static const int resolver[] = {UV_EAI_ADDRFAMILY, UV_EAI_AGAIN,   UV_EAI_BADFLAGS, UV_EAI_BADHINTS, UV_EAI_FAIL,
                                 UV_EAI_FAMILY,     UV_EAI_MEMORY,  UV_EAI_NODATA,   UV_EAI_NONAME,   UV_EAI_OVERFLOW,
                                 UV_EAI_PROTOCOL,   UV_EAI_SERVICE, UV_EAI_SOCKTYPE};
  for (size_t i = 0; i < sizeof resolver / sizeof resolver[0]; i++)
    ck_assert_int_eq(ep__err_from_uv(resolver[i]), EP_ENOHOST);
  /* The errno codes come out as ep_err_from_errno maps them. */
  ck_assert_int_eq(ep__err_from_uv(UV_ECONNREFUSED), EP_ECONNREFUSED);
  ck_assert_int_eq(ep__err_from_uv(UV_ECONNREFUSED), ep_err_from_errno(UV_ECONNREFUSED));
  ck_assert_int_eq(ep__err_from_uv(UV_EPIPE), EP_ECONNRESET);
  ck_assert_int_eq(ep__err_from_uv(UV_ENOMEM), EP_ENOMEM);
  ck_assert_int_eq(ep__err_from_uv(UV_E2BIG), EP_ESYS);
}
END_TEST

int main(void) {
  Suite *s = suite_create("uverr");
  TCase *tc = tcase_create("uverr");
  tcase_add_test(tc, libuv_codes);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
