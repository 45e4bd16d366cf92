/* OTP's -ssl_dist_optfile read by dist/ep_tlsopt.c: what each option maps
 * to, and a clear error naming anything we do not support. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_failmem.h"
#include "ep_tlsopt.h"

static int parse(const char *text, ep_tlsopt *o, char *why, size_t cap) {
  return ep_tlsopt_parse(NULL, text, strlen(text), o, why, cap);
}

START_TEST(full_file) {
  const char *text =
      "%% the file from OTP's ssl_distribution guide\n"
      "[{server, [{certfile, \"/etc/s.pem\"}, {keyfile, <<\"/etc/s.key\">>}, {password, \"pw\"},\n"
      "           {cacertfile, \"/etc/ca.pem\"}, {verify, verify_peer}, {fail_if_no_peer_cert, true},\n"
      "           {depth, 3}, {versions, ['tlsv1.2', 'tlsv1.3']}, {secure_renegotiate, true},\n"
      "           {ciphers, [\"TLS_AES_128_GCM_SHA256\", \"ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA\"]}]},\n"
      " {client, [{certfile, \"/etc/c\\x{e9}.pem\"}, {verify, verify_none},\n"
      "           {server_name_indication, \"node.example\"}]}].\n";
  ep_tlsopt o;
  char why[200];
  ck_assert_int_eq(parse(text, &o, why, sizeof why), 0);
  ck_assert(o.server.present && o.client.present);
  ck_assert_str_eq(o.server.certfile, "/etc/s.pem");
  ck_assert_str_eq(o.server.keyfile, "/etc/s.key");
  ck_assert_str_eq(o.server.password, "pw");
  ck_assert_str_eq(o.server.cacertfile, "/etc/ca.pem");
  ck_assert_int_eq(o.server.verify, 1);
  ck_assert_int_eq(o.server.fail_if_no_peer_cert, 1);
  ck_assert_int_eq(o.server.depth, 3);
  ck_assert_uint_eq(o.server.versions, EP_TLS_V12 | EP_TLS_V13);
  ck_assert_int_eq(o.server.secure_renegotiate, 1);
  ck_assert_str_eq(o.server.ciphersuites, "TLS_AES_128_GCM_SHA256");
  ck_assert_str_eq(o.server.ciphers, "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA");
  ck_assert_str_eq(o.client.certfile, "/etc/c\xc3\xa9.pem");
  ck_assert_int_eq(o.client.verify, 0);
  ck_assert_int_eq(o.client.fail_if_no_peer_cert, -1);
  ck_assert_uint_eq(o.client.versions, 0);
  ck_assert_str_eq(o.client.sni, "node.example");
  ck_assert_ptr_null(o.client.keyfile);
  ep_tlsopt_free(&o);
}
END_TEST

START_TEST(one_side_and_empty) {
  ep_tlsopt o;
  ck_assert_int_eq(parse("[{client, [{server_name_indication, disable}]}].", &o, NULL, 0), 0);
  ck_assert(!o.server.present && o.client.present && o.client.sni_disable);
  ep_tlsopt_free(&o);
  ck_assert_int_eq(parse("[].", &o, NULL, 0), 0);
  ck_assert(!o.server.present && !o.client.present);
  ep_tlsopt_free(&o);
}
END_TEST

typedef struct bad {
  const char *text;
  int err;
  const char *says; /* a part of the message */
} bad;

static const bad bads[] = {
    {"[{server, [{crl_check, true}]}].", EP_ETLSOPT, "server option crl_check is not supported"},
    {"[{client, [{verify_fun, {m, f, []}}]}].", EP_ETLSOPT, "client option verify_fun is not supported"},
    {"[{server, [{dhfile, \"x\"}]}].", EP_ETLSOPT, "dhfile"},
    {"[{client, [{fail_if_no_peer_cert, true}]}].", EP_ETLSOPT, "on this side"},
    {"[{server, [{server_name_indication, \"h\"}]}].", EP_ETLSOPT, "on this side"},
    {"[{server, [{verify, maybe}]}].", EP_ETLSOPT, "verify_peer or verify_none"},
    {"[{server, [{versions, ['tlsv1.1']}]}].", EP_ETLSOPT, "'tlsv1.1' is not supported"},
    {"[{server, [{versions, []}]}].", EP_ETLSOPT, "versions"},
    {"[{server, [{depth, -1}]}].", EP_ETLSOPT, "depth"},
    {"[{server, [{certfile, \"\"}]}].", EP_ETLSOPT, "certfile"},
    {"[{server, [{certfile, 'a'}]}].", EP_ETLSOPT, "certfile"},
    {"[{server, [{ciphers, [#{cipher => aes_128_gcm}]}]}].", EP_ETLSOPT, "ciphers"},
    {"[{server, [certfile]}].", EP_ETLSOPT, "{Key, Value}"},
    {"[{server, [{a, b} | c]}].", EP_ETLSOPT, "not a list"},
    {"[{server, []}, {server, []}].", EP_ETLSOPT, "two server"},
    {"[{other, []}].", EP_ETLSOPT, "element 1"},
    {"{server, []}.", EP_ETLSOPT, "not a list"},
    {"[]. [].", EP_ETLSOPT, "more than one term"},
    {"[{server, [}].", EP_ESYNTAX, "line 1"},
    {"[{server, []}]", EP_EINCOMPLETE, "a '.' at the end"},
    {"[{server, [", EP_EINCOMPLETE, "not finished"},
};

START_TEST(errors_name_the_option) {
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    ep_tlsopt o;
    char why[200] = "";
    int r = parse(bads[i].text, &o, why, sizeof why);
    ck_assert_msg(r == bads[i].err, "%s: got %d (%s)", bads[i].text, r, why);
    ck_assert_msg(strstr(why, bads[i].says), "%s: message '%s'", bads[i].text, why);
  }
}
END_TEST

START_TEST(allocation_failures) {
  const char *text = "[{server, [{certfile, \"/a\"}, {ciphers, \"A:B:TLS_C\"}]}, {client, [{cacertfile, <<\"/c\">>}]}].";
  ep_failmem fm;
  ep_failmem_init(&fm);
  for (long fail_at = 1; fail_at < 200; fail_at++) {
    ep_failmem_fail_once(&fm, fail_at);
    ep_tlsopt o;
    int r = ep_tlsopt_parse(&fm.mem, text, strlen(text), &o, NULL, 0);
    if (r == 0) {
      ck_assert_str_eq(o.server.ciphers, "A:B");
      ep_tlsopt_free(&o);
    } else {
      ck_assert_int_eq(r, EP_ENOMEM);
    }
    ck_assert_int_eq(fm.live, 0);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("tlsopt");
  TCase *tc = tcase_create("parse");
  tcase_add_test(tc, full_file);
  tcase_add_test(tc, one_side_and_empty);
  tcase_add_test(tc, errors_name_the_option);
  tcase_add_test(tc, allocation_failures);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
