/* TLS distribution against real nodes: erl -proto_dist inet_tls with
 * mutual TLS (verify_peer and fail_if_no_peer_cert on both sides), from an
 * -ssl_dist_optfile that our node reads too. Ping both ways, hidden
 * membership, RPC of many term kinds, 64 MiB both ways, and each failure
 * named in one line with OpenSSL's reason. Certificates are made here
 * (lib/ep_tls_certs.c) into the test's private HOME; no key is committed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_node.h"
#include "ep_otproot.h"
#include "ep_peer.h"
#include "ep_testenv.h"
#include "ep_text.h"
#include "ep_tls_certs_int.h"

static ep_testenv *env;
static char dir[512];
static char tnode[256]; /* TLS */
static char pnode[256]; /* plain */
/* OTP 27 and 29 run from Debian roots through chroot (tests/support/
 * ep_otproot.h): the certificates and optfiles are mirrored there at the
 * same paths. NULL: the system's OTP 25. */
static const char *otp_root;
static char home_copy[600];

/* Copies the certificate folder into the root, at the same path. */
static void mirror_into_root(void) {
  if (!otp_root) return;
  char cmd[2000];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s%s' && cp -p '%s'/* '%s%s'/", otp_root, dir, dir, otp_root, dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

static void write_file(const char *name, const char *text) {
  char p[700];
  path(p, sizeof p, name);
  FILE *f = fopen(p, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

/* An optfile: both sides with this cert/key (NULL: none) and CA, mutual;
 * extra client options appended. */
static void optfile(const char *name, const char *cert, const char *ca, const char *client_extra) {
  char text[8192], c[700], k[700], a[700], certopts[1600] = "";
  path(a, sizeof a, ca);
  if (cert) {
    char kn[64];
    snprintf(kn, sizeof kn, "%.*s.key", (int)(strlen(cert) - 4), cert);
    path(c, sizeof c, cert);
    path(k, sizeof k, kn);
    snprintf(certopts, sizeof certopts, "{certfile, \"%s\"}, {keyfile, \"%s\"}, ", c, k);
  }
  snprintf(text, sizeof text,
           "[{server, [%s{cacertfile, \"%s\"}, {verify, verify_peer}, {fail_if_no_peer_cert, true}]},\n"
           " {client, [%s{cacertfile, \"%s\"}, {verify, verify_peer}%s]}].\n",
           certopts, a, certopts, a, client_extra ? client_extra : "");
  write_file(name, text);
}

static void world_up(void) {
  env = ep_testenv_new();
  if (otp_root) {
    char bindir[700];
    snprintf(home_copy, sizeof home_copy, "%s", ep_testenv_home(env));
    ck_assert_int_eq(ep_otproot_enter(env, otp_root, bindir, sizeof bindir), 0);
    ep_otproot_use_path(bindir);
  }
  ck_assert_int_eq(ep_testenv_start_epmd(env), 0);
  snprintf(dir, sizeof dir, "%s/tls", ep_testenv_home(env));
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  char san[300], p[700], k[700];
  snprintf(san, sizeof san, "DNS:%s,DNS:localhost,IP:127.0.0.1", ep_testenv_host());
  ep__tls_ca *ca, *other;
  ck_assert_int_eq(ep__tls_ca_new("test CA", &ca), 0);
  ck_assert_int_eq(ep__tls_ca_new("another CA", &other), 0);
  path(p, sizeof p, "ca.pem");
  ck_assert_int_eq(ep__tls_ca_write(ca, p), 0);
  path(p, sizeof p, "other_ca.pem");
  ck_assert_int_eq(ep__tls_ca_write(other, p), 0);
  struct {
    const char *name;
    ep__tls_ca *by;
    long from, until;
  } certs[] = {{"node", ca, -3600, 86400}, {"ctl", ca, -3600, 86400}, {"stranger", other, -3600, 86400},
               {"expired", ca, -3 * 86400, -86400}};
  for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++) {
    char cn[64], kn[64];
    snprintf(cn, sizeof cn, "%s.pem", certs[i].name);
    snprintf(kn, sizeof kn, "%s.key", certs[i].name);
    path(p, sizeof p, cn);
    path(k, sizeof k, kn);
    ck_assert_int_eq(ep__tls_ca_issue(certs[i].by, certs[i].name, san, certs[i].from, certs[i].until, p, k), 0);
  }
  ep__tls_ca_free(ca);
  ep__tls_ca_free(other);
  optfile("node.conf", "node.pem", "ca.pem", NULL);
  optfile("ctl.conf", "ctl.pem", "ca.pem", NULL);
  optfile("stranger.conf", "stranger.pem", "ca.pem", NULL);   /* the node does not know our CA */
  optfile("distrust.conf", "ctl.pem", "other_ca.pem", NULL);  /* we do not know the node's */
  optfile("expired.conf", "expired.pem", "ca.pem", NULL);
  optfile("nocert.conf", NULL, "ca.pem", NULL);
  optfile("wronghost.conf", "ctl.pem", "ca.pem", ", {server_name_indication, \"wrong.example\"}");
  write_file("crl.conf", "[{client, [{crl_check, true}]}].\n");
  /* an encrypted copy of our key, with and without its password */
  char cmd[4000];
  snprintf(cmd, sizeof cmd,
           "openssl pkey -in '%s/ctl.key' -aes256 -passout pass:s3cret -out '%s/enc.key' 2>/dev/null && "
           "chmod 600 '%s/enc.key' && sed 's|ctl.key\"}|enc.key\"}, {password, \"s3cret\"}|g' '%s/ctl.conf' > '%s/enc.conf' && "
           "sed 's|ctl.key|enc.key|g' '%s/ctl.conf' > '%s/nopw.conf'",
           dir, dir, dir, dir, dir, dir, dir);
  ck_assert_int_eq(system(cmd), 0);
  mirror_into_root();
  char nodeconf[700];
  path(nodeconf, sizeof nodeconf, "node.conf");
  const char *targs[] = {"-proto_dist", "inet_tls", "-ssl_dist_optfile", nodeconf, "-kernel", "net_ticktime", "4",
                         NULL};
  ck_assert_int_gt(ep_testenv_start_erl(env, "tnode", targs, tnode, sizeof tnode), 0);
  ck_assert_int_gt(ep_testenv_start_erl(env, "pnode", NULL, pnode, sizeof pnode), 0);
}

static void world_down(void) {
  ep_testenv_free(env);
  env = NULL;
  if (otp_root && home_copy[0]) ep_otproot_leave(otp_root, home_copy);
  ep_otproot_use_path("");
}

/* Our node with TLS from conf (NULL: plain); client profile unless listen. */
static ep_node *start(const char *conf, bool listen, ep_node_event_cb cb, void *ud) {
  ep_node_opts *o = ep_node_opts_new();
  char p[700];
  if (conf) {
    path(p, sizeof p, conf);
    int r = ep_node_opts_set_ssl_dist_optfile(o, p);
    ck_assert_msg(r == 0, "%s: %s", conf, ep_node_opts_error(o));
    ck_assert(ep_node_opts_tls(o));
  }
  if (listen) {
    ck_assert_int_eq(ep_node_opts_set_name(o, "ctl"), 0);
    ep_node_opts_set_epmd_mode(o, EP_EPMD_EXTERNAL);
  } else {
    ep_node_opts_set_client(o, true);
  }
  if (cb) ep_node_opts_set_event_cb(o, cb, ud);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  return n;
}

START_TEST(rpc_of_every_kind_over_tls) {
  ep_node *n = start("ctl.conf", false, NULL, NULL);
  ck_assert_int_eq(ep_node_ping_sync(n, tnode, 10000), 0);
  ep_arena *a = ep_arena_new(NULL);
  const char *texts[] = {"ok", "'with space'", "42", "-7", "123456789012345678901234567890", "3.25", "\"text\"",
                         "<<1,2,3>>", "<<\"bin\">>", "{a, [1 | 2], #{k => v}}", "[]", "{}", "fun erlang:node/0",
                         "[{deep, [{deeper, [x]}]}]"};
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    ep_term t;
    ck_assert_int_eq(ep_parse_str(a, texts[i], &t, NULL), 0);
    ep_result r;
    ck_assert_int_eq(ep_rpc_call_sync(n, tnode, "erlang", "hd", EP_LIST(a, EP_LIST(a, t)), 10000, a, &r), 0);
    ck_assert_msg(ep_term_eq(r.value, t), "%s came back as %s", texts[i], ep_print_str(a, r.value));
  }
  /* kinds only the remote node makes: a pid, a ref, its name */
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(n, tnode, "erlang", "whereis", EP_LIST(a, ep_atom("init")), 10000, a, &r), 0);
  ck_assert_int_eq(r.value.type, EP_T_PID);
  ck_assert_int_eq(ep_rpc_call_sync(n, tnode, "erlang", "make_ref", ep_nil(), 10000, a, &r), 0);
  ck_assert_int_eq(r.value.type, EP_T_REF);
  /* the node runs TLS distribution, we are hidden there */
  ck_assert_int_eq(ep_rpc_call_sync(n, tnode, "init", "get_argument", EP_LIST(a, ep_atom("proto_dist")), 10000, a, &r),
                   0);
  ck_assert_str_eq(ep_print_str(a, r.value), "{ok,[[\"inet_tls\"]]}");
  ck_assert_int_eq(ep_rpc_call_sync(n, tnode, "erlang", "nodes", EP_LIST(a, ep_atom("hidden")), 10000, a, &r), 0);
  ck_assert_int_eq(ep_list_len(r.value), 1);
  ep_arena_free(a);
  ep_node_free(n);
}
END_TEST

typedef struct ups {
  int up;
  char peer[256];
} ups;

static void on_event(ep_node *n, ep_node_event_kind k, const char *peer, int reason, void *ud) {
  ups *u = ud;
  (void)n, (void)reason;
  if (k == EP_NODE_UP) u->up++, snprintf(u->peer, sizeof u->peer, "%s", peer);
}
static bool seen_up(void *ud) { return ((ups *)ud)->up > 0; }

/* Ticks inside TLS: with net_ticktime 4 on both sides, an idle
 * connection outlives several tick times (each side's ticks are records
 * the other decrypts and counts as traffic). */
static bool never(void *ud) { return (void)ud, false; }
START_TEST(ticks_keep_an_idle_connection) {
  ep_node_opts *o = ep_node_opts_new();
  char p[700];
  path(p, sizeof p, "ctl.conf");
  ck_assert_int_eq(ep_node_opts_set_ssl_dist_optfile(o, p), 0);
  ep_node_opts_set_client(o, true);
  ep_node_opts_set_ticktime(o, 4);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  ck_assert_int_eq(ep_node_ping_sync(n, tnode, 10000), 0);
  ck_assert_int_eq(ep_node_run_until(n, never, NULL, 9000), EP_ETIMEDOUT); /* over two tick times */
  ck_assert(ep_node_is_connected(n, tnode));
  ep_node_free(n);
}
END_TEST

/* Three PEM files instead of an optfile: mutual TLS both ways. */
START_TEST(explicit_files) {
  ep_node_opts *o = ep_node_opts_new();
  char c[700], k[700], ca[700], other[700];
  path(c, sizeof c, "ctl.pem");
  path(k, sizeof k, "ctl.key");
  path(ca, sizeof ca, "ca.pem");
  path(other, sizeof other, "other_ca.pem");
  /* a key that is not the certificate's: refused when set, by name */
  char sk[700];
  path(sk, sizeof sk, "stranger.key");
  ck_assert_int_eq(ep_node_opts_set_tls_files(o, c, sk, ca), EP_ETLSOPT);
  ck_assert_msg(strstr(ep_node_opts_error(o), "does not match"), "%s", ep_node_opts_error(o));
  ck_assert_int_eq(ep_node_opts_set_tls_files(o, c, k, ca), 0);
  ep_node_opts_set_client(o, true);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ck_assert_int_eq(ep_node_ping_sync(n, tnode, 10000), 0);
  ep_node_free(n);
  /* the same files with a CA that does not know the node: rejected */
  ck_assert_int_eq(ep_node_opts_set_tls_files(o, c, k, other), 0);
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ck_assert_int_eq(ep_node_ping_sync(n, tnode, 10000), EP_ETLS);
  ep_node_free(n);
  ep_node_opts_free(o);
}
END_TEST

/* password: an encrypted key opens with it, and without it the error
 * says a password is needed. */
START_TEST(encrypted_key) {
  ep_node *n = start("enc.conf", false, NULL, NULL);
  ck_assert_int_eq(ep_node_ping_sync(n, tnode, 10000), 0);
  ep_node_free(n);
  ep_node_opts *o = ep_node_opts_new();
  char p[700];
  path(p, sizeof p, "nopw.conf");
  ck_assert_int_eq(ep_node_opts_set_ssl_dist_optfile(o, p), EP_ETLSOPT);
  ck_assert_msg(strstr(ep_node_opts_error(o), "needs password"), "%s", ep_node_opts_error(o));
  ep_node_opts_free(o);
}
END_TEST

/* The cookie is still checked inside TLS: certificates do not replace it. */
START_TEST(cookie_still_checked) {
  ep_node_opts *o = ep_node_opts_new();
  char p[700];
  path(p, sizeof p, "ctl.conf");
  ck_assert_int_eq(ep_node_opts_set_ssl_dist_optfile(o, p), 0);
  ep_node_opts_set_client(o, true);
  ck_assert_int_eq(ep_node_opts_set_cookie(o, "not-the-cookie"), 0);
  ep_node *n;
  ck_assert_int_eq(ep_node_start_sync(o, &n), 0);
  ep_node_opts_free(o);
  ck_assert_int_eq(ep_node_ping_sync(n, tnode, 10000), EP_EAUTH);
  ep_node_free(n);
}
END_TEST

/* Their net_adm:ping to us: they dial us over TLS, verify our certificate
 * and we theirs; we are hidden in their nodes(hidden). */
START_TEST(their_ping_reaches_us_over_tls) {
  ups u = {0};
  ep_node *n = start("ctl.conf", true, on_event, &u);
  /* one call in to have it schedule the ping, then hang up: the ping must
   * make a new connection, this time from their side */
  ep_arena *a = ep_arena_new(NULL);
  ep_result r;
  char ours[300];
  snprintf(ours, sizeof ours, "%s", ep_node_name(n));
  ep_term args = EP_LIST(a, ep_int(300), ep_atom("net_adm"), ep_atom("ping"), EP_LIST(a, ep_atom(ours)));
  ck_assert_int_eq(ep_rpc_call_sync(n, tnode, "timer", "apply_after", args, 10000, a, &r), 0);
  ck_assert_int_eq(ep_node_disconnect(n, tnode), 0);
  u.up = 0;
  ck_assert_int_eq(ep_node_run_until(n, seen_up, &u, 10000), 0);
  ck_assert_str_eq(u.peer, tnode);
  ck_assert_int_eq(ep_rpc_call_sync(n, tnode, "erlang", "nodes", EP_LIST(a, ep_atom("hidden")), 10000, a, &r), 0);
  ck_assert_str_eq(ep_print_str(a, r.value), ep_print_str(a, EP_LIST(a, ep_atom(ours))));
  ep_arena_free(a);
  ep_node_free(n);
}
END_TEST

/* 64 MiB each way inside TLS: many records, our writes run ahead of TCP by
 * a bounded amount, their frames cross many reads. */
START_TEST(sixty_four_mib_both_ways) {
  ep_node *n = start("ctl.conf", false, NULL, NULL);
  ep_arena *a = ep_arena_new(NULL);
  size_t big = 64u << 20;
  uint8_t *b = malloc(big);
  ck_assert_ptr_nonnull(b);
  for (size_t i = 0; i < big; i++) b[i] = (uint8_t)(i * 131 + 7);
  ep_result r;
  ck_assert_int_eq(ep_rpc_call_sync(n, tnode, "erlang", "md5", EP_LIST(a, ep_binary(a, b, big)), 60000, a, &r), 0);
  ck_assert_int_eq(r.value.type, EP_T_BINARY);
  ck_assert_uint_eq(r.value.n, 16);
  uint8_t theirs[16];
  memcpy(theirs, r.value.v.bytes, 16);
  /* and back: they make 64 MiB, we get it whole */
  ck_assert_int_eq(ep_rpc_call_sync(n, tnode, "binary", "copy",
                                    EP_LIST(a, ep_binary(a, (const uint8_t *)"\x5a", 1), ep_int((int64_t)big)), 60000,
                                    a, &r),
                   0);
  ck_assert_int_eq(r.value.type, EP_T_BINARY);
  ck_assert_uint_eq(r.value.n, big);
  ck_assert(r.value.v.bytes[0] == 0x5a && r.value.v.bytes[big - 1] == 0x5a);
  ep_result r2;
  ck_assert_int_eq(ep_rpc_call_sync(n, tnode, "erlang", "md5", EP_LIST(a, ep_binary(a, b, big)), 60000, a, &r2), 0);
  ck_assert(memcmp(r2.value.v.bytes, theirs, 16) == 0);
  free(b);
  ep_arena_free(a);
  ep_node_free(n);
}
END_TEST

/* Each failure: its code, and its one line names the cause. */
typedef struct failure {
  const char *conf; /* NULL: plain */
  const char *node; /* "t" or "p" */
  int err, or_err; /* or_err: a race decides (0: none) */
  const char *says;
} failure;

static const failure failures[] = {
    {"stranger.conf", "t", EP_ETLS, 0, "unknown ca"}, /* it does not know our CA */
    /* we do not know its CA (it sends the CA in its chain: "self-signed
     * certificate in certificate chain") */
    {"distrust.conf", "t", EP_ETLS, 0, "the node's certificate was rejected: self-signed certificate in certificate chain"},
    {"expired.conf", "t", EP_ETLS, 0, "expired"},
    {"nocert.conf", "t", EP_ETLS, 0, "client certificate"},
    {"wronghost.conf", "t", EP_ETLS, 0, "hostname mismatch"},
    {NULL, "t", EP_EISTLS, 0, NULL},
    /* a plain node waits for the 0x1603 bytes our ClientHello's first two
     * announce, until one side's 7 s setup time: it closes, or we give up */
    {"ctl.conf", "p", EP_ETIMEDOUT, EP_ENOTTLS, "may not use TLS distribution"},
};

START_TEST(each_failure_in_one_line) {
  const failure *f = &failures[_i];
  ep_node *n = start(f->conf, false, NULL, NULL);
  time_t t0 = time(NULL);
  int r = ep_node_ping_sync(n, *f->node == 't' ? tnode : pnode, 10000);
  const char *why = ep_node_conn_error(n);
  ck_assert_msg(r == f->err || (f->or_err && r == f->or_err), "%s: got %s (%s) why '%s'", f->conf, ep_err_name(r), ep_strerror(r), why);
  if (f->says) ck_assert_msg(strstr(why, f->says), "%s: '%s' lacks '%s'", f->conf, why, f->says);
  ck_assert_ptr_null(strchr(why, '\n'));
  ck_assert_int_le(time(NULL) - t0, 10); /* within the call's timeout, never a hang */
  ep_node_free(n);
}
END_TEST

START_TEST(unsupported_option_is_named) {
  ep_node_opts *o = ep_node_opts_new();
  char p[700];
  path(p, sizeof p, "crl.conf");
  ck_assert_int_eq(ep_node_opts_set_ssl_dist_optfile(o, p), EP_ETLSOPT);
  ck_assert_ptr_nonnull(strstr(ep_node_opts_error(o), "crl_check"));
  ck_assert(!ep_node_opts_tls(o));
  path(p, sizeof p, "missing.conf");
  ck_assert_int_eq(ep_node_opts_set_ssl_dist_optfile(o, p), EP_ENOENT);
  ep_node_opts_free(o);
}
END_TEST

/* The CLI: exit 2 and one line naming the cause. */
START_TEST(cli_says_why_and_exits_2) {
  char conf[700];
  path(conf, sizeof conf, "stranger.conf");
  const char *argv[] = {getenv("EP_CLI"), "ping", "--ssl-dist-optfile", conf, tnode, NULL};
  char *out = NULL, *err = NULL;
  int st = ep_testenv_run(argv, NULL, 0, &out, NULL, &err, 20000);
  ck_assert_int_eq(st, 2);
  ck_assert_msg(strstr(err, "unknown ca"), "stderr: %s", err);
  ck_assert_ptr_null(strchr(err, '\n') ? strchr(strchr(err, '\n') + 1, '\n') : NULL);
  free(out), free(err);
  /* a key others can read: it works, with a warning naming the file */
  char key[700], cmd[4000];
  path(key, sizeof key, "loose.key");
  snprintf(cmd, sizeof cmd, "cp '%s/ctl.key' '%s' && chmod 644 '%s' && sed 's|ctl.key|loose.key|g' '%s/ctl.conf' > '%s/loose.conf'",
           dir, key, key, dir, dir);
  ck_assert_int_eq(system(cmd), 0);
  path(conf, sizeof conf, "loose.conf");
  const char *loose[] = {getenv("EP_CLI"), "ping", "--ssl-dist-optfile", conf, tnode, NULL};
  st = ep_testenv_run(loose, NULL, 0, &out, NULL, &err, 20000);
  ck_assert_int_eq(st, 0);
  ck_assert_msg(strstr(err, "loose.key is readable by others (mode 644)"), "stderr: %s", err);
  free(out), free(err);
  path(conf, sizeof conf, "ctl.conf");
  const char *ok[] = {getenv("EP_CLI"), "call", "--ssl-dist-optfile", conf, tnode, "erlang", "node", NULL};
  st = ep_testenv_run(ok, NULL, 0, &out, NULL, &err, 20000);
  ck_assert_int_eq(st, 0);
  ck_assert_msg(strstr(out, tnode), "stdout: %s", out);
  free(out), free(err);
}
END_TEST

/* Peers over TLS distribution, from the CLI: with the user's optfile, and
 * with --tls (a throwaway CA in a private folder, gone once the peer has
 * stopped). The peer's own arguments show -proto_dist inet_tls, and it
 * reached this program's node over TLS (it is the controller's peer). */
static int count_throwaways(const char *tmp) {
  char cmd[800];
  snprintf(cmd, sizeof cmd, "ls -d '%s'/erlpeer-tls.* 2>/dev/null | wc -l", tmp);
  FILE *f = popen(cmd, "r");
  int n = -1;
  if (f && fscanf(f, "%d", &n) != 1) n = -1;
  if (f) pclose(f);
  return n;
}

/* A dist peer of this release over TLS distribution, from an optfile the
 * user gives (mirrored into the release's root at the same path). */
START_TEST(peer_over_tls_from_optfile) {
  char conf[700];
  path(conf, sizeof conf, "ctl.conf");
  const char *with_file[] = {getenv("EP_CLI"), "peer", "--name", "tp1", "--ssl-dist-optfile", conf,
                             "--call", "init:get_argument(proto_dist)", "--call", "erlang:nodes(hidden)", NULL};
  char *out = NULL, *err = NULL;
  int st = ep_testenv_run(with_file, NULL, 0, &out, NULL, &err, 60000);
  ck_assert_msg(st == 0, "exit %d: %s", st, err);
  /* TLS, and this program's node among the peer's hidden nodes */
  static const char want[] = "{ok,[[\"inet_tls\"]]}\n['";
  ck_assert_msg(strncmp(out, want, sizeof want - 1) == 0, "%s", out);
  free(out), free(err);
}
END_TEST

/* --tls (throwaway certificates in TMPDIR, outside the releases' roots:
 * the system's OTP only) */
START_TEST(peers_over_tls) {
  char tmp[700];
  snprintf(tmp, sizeof tmp, "%s/tmp", ep_testenv_home(env));
  mkdir(tmp, 0700);
  setenv("TMPDIR", tmp, 1);
  char *out = NULL, *err = NULL;
  int st;
  const char *throwaway[] = {getenv("EP_CLI"), "peer", "--name", "tp2", "--tls", "--call",
                             "init:get_argument(proto_dist)", "--eval",
                             "{ok, [[F]]} = init:get_argument(ssl_dist_optfile), {ok, S} = file:read_file_info(filename:dirname(F)), element(8, S) band 8#777.",
                             NULL};
  st = ep_testenv_run(throwaway, NULL, 0, &out, NULL, &err, 60000);
  ck_assert_msg(st == 0, "exit %d: %s", st, err);
  ck_assert_str_eq(out, "{ok,[[\"inet_tls\"]]}\n448\n"); /* 448 = 8#700 */
  free(out), free(err);
  ck_assert_int_eq(count_throwaways(tmp), 0);
  /* the peer's certificate is its own, beside the controller's */
  const char *own[] = {getenv("EP_CLI"), "peer", "--name", "tp4", "--tls", "--eval",
                       "{ok, [[F]]} = init:get_argument(ssl_dist_optfile), {ok, [L]} = file:consult(F), "
                       "[filename:basename(proplists:get_value(certfile, O)) || {_, O} <- L] ++ "
                       "[lists:member(\"controller.pem\", element(2, file:list_dir(filename:dirname(F))))].",
                       NULL};
  st = ep_testenv_run(own, NULL, 0, &out, NULL, &err, 60000);
  ck_assert_msg(st == 0, "exit %d: %s", st, err);
  ck_assert_str_eq(out, "[\"peer1.pem\",\"peer1.pem\",true]\n");
  free(out), free(err);
  ck_assert_int_eq(count_throwaways(tmp), 0);
  /* a session: each dist peer has an optfile (and certificate) of its own */
  const char *session[] = {getenv("EP_CLI"), "session", "--tls", NULL};
  const char *cmds = "{start, s, #{name => \"tp3\"}}.\n{start, t, #{name => \"tp5\"}}.\n"
                     "{call, s, init, get_argument, [proto_dist]}.\n"
                     "{call, s, init, get_argument, [ssl_dist_optfile]}.\n"
                     "{call, t, init, get_argument, [ssl_dist_optfile]}.\n";
  st = ep_testenv_run(session, cmds, strlen(cmds), &out, NULL, &err, 60000);
  ck_assert_msg(st == 0, "exit %d: %s", st, err);
  ck_assert_msg(strstr(out, "{ok,s,{ok,[[\"inet_tls\"]]}}."), "session: %s", out);
  ck_assert_msg(strstr(out, "/peer1.conf\"]]}}.") && strstr(out, "/peer2.conf\"]]}}."), "session: %s", out);
  free(out), free(err);
  ck_assert_int_eq(count_throwaways(tmp), 0);
  unsetenv("TMPDIR");
}
END_TEST

/* The library's throwaway set: the controller and each peer have a
 * certificate and key of their own (another serial, another CN, another
 * key) from one CA, in a 0700 folder that ep_tls_throwaway_free removes. */
static void x509_line(const char *file, const char *what, char *buf, size_t cap) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "openssl %s -noout -in '%s' 2>&1", what, file);
  FILE *f = popen(cmd, "r");
  buf[0] = 0;
  if (f && !fgets(buf, (int)cap, f)) buf[0] = 0;
  if (f) pclose(f);
}

START_TEST(throwaway_certificates_are_each_nodes_own) {
  char tmp[700];
  snprintf(tmp, sizeof tmp, "%s/tmp2", ep_testenv_home(env));
  mkdir(tmp, 0700);
  setenv("TMPDIR", tmp, 1);
  ep_tls_throwaway *t;
  ck_assert_int_eq(ep_tls_throwaway_new(&t), 0);
  unsetenv("TMPDIR");
  const char *p1, *p2;
  ck_assert_int_eq(ep_tls_throwaway_add_peer(t, &p1), 0);
  ck_assert_int_eq(ep_tls_throwaway_add_peer(t, &p2), 0);
  const char *conf[3] = {ep_tls_throwaway_optfile(t), p1, p2};
  ck_assert_str_ne(conf[0], conf[1]);
  ck_assert_str_ne(conf[1], conf[2]);
  struct stat sb;
  ck_assert_int_eq(stat(ep_tls_throwaway_dir(t), &sb), 0);
  ck_assert_int_eq(sb.st_mode & 0777, 0700);
  const char *stem[3] = {"controller", "peer1", "peer2"};
  char serial[3][200], subject[3][200], pub[3][400];
  for (int i = 0; i < 3; i++) {
    char f[800], k[800];
    snprintf(f, sizeof f, "%s/%s.pem", ep_tls_throwaway_dir(t), stem[i]);
    snprintf(k, sizeof k, "%s/%s.key", ep_tls_throwaway_dir(t), stem[i]);
    ck_assert_int_eq(stat(k, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    x509_line(f, "x509 -serial", serial[i], sizeof serial[i]);
    x509_line(f, "x509 -subject", subject[i], sizeof subject[i]);
    char cmd[1200]; /* the public key's first base64 line (line 1 is the PEM header) */
    snprintf(cmd, sizeof cmd, "openssl pkey -pubout -in '%s' 2>&1 | sed -n 2p", k);
    FILE *pf = popen(cmd, "r");
    if (!pf || !fgets(pub[i], sizeof pub[i], pf)) pub[i][0] = 0;
    if (pf) pclose(pf);
    ck_assert_msg(!strncmp(serial[i], "serial=", 7), "%s: %s", f, serial[i]);
    ck_assert_msg(strlen(pub[i]) > 20, "%s: %s", k, pub[i]);
    /* the optfile names this node's own files */
    char *text = NULL;
    FILE *cf = fopen(conf[i], "r");
    ck_assert_ptr_nonnull(cf);
    char line[2000];
    size_t n = fread(line, 1, sizeof line - 1, cf);
    fclose(cf);
    line[n] = 0;
    text = strstr(line, f);
    ck_assert_msg(text != NULL, "%s does not name %s: %s", conf[i], f, line);
  }
  ck_assert_msg(strstr(subject[0], "erlpeer controller"), "%s", subject[0]);
  ck_assert_msg(strstr(subject[1], "erlpeer peer 1"), "%s", subject[1]);
  ck_assert_msg(strstr(subject[2], "erlpeer peer 2"), "%s", subject[2]);
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++) {
      ck_assert_str_ne(serial[i], serial[j]);
      ck_assert_str_ne(pub[i], pub[j]);
    }
  char d[600];
  snprintf(d, sizeof d, "%s", ep_tls_throwaway_dir(t));
  ep_tls_throwaway_free(t);
  ck_assert_int_eq(stat(d, &sb), -1); /* gone, with everything in it */
  ck_assert_int_eq(count_throwaways(tmp), 0);
}
END_TEST

static int run_suite(const char *label, bool all) {
  Suite *s = suite_create(label);
  TCase *tc = tcase_create("tls");
  tcase_add_unchecked_fixture(tc, world_up, world_down);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, rpc_of_every_kind_over_tls);
  tcase_add_test(tc, their_ping_reaches_us_over_tls);
  tcase_add_test(tc, sixty_four_mib_both_ways);
  tcase_add_test(tc, ticks_keep_an_idle_connection);
  tcase_add_test(tc, cookie_still_checked);
  tcase_add_test(tc, explicit_files);
  tcase_add_test(tc, encrypted_key);
  tcase_add_loop_test(tc, each_failure_in_one_line, 0, sizeof failures / sizeof failures[0]);
  tcase_add_test(tc, peer_over_tls_from_optfile);
  if (all) {
    tcase_add_test(tc, unsupported_option_is_named);
    tcase_add_test(tc, cli_says_why_and_exits_2);
    tcase_add_test(tc, peers_over_tls);
    tcase_add_test(tc, throwaway_certificates_are_each_nodes_own);
  }
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL);
}

int main(void) {
  int failed = run_suite("tls (system OTP)", true);
  for (size_t i = 0; i < EP_OTP_NRELEASES; i++) {
    const ep_otp_release *rel = &ep_otp_releases[i];
    if (!rel->suite) continue;
    static char root[512];
    char why[1024], label[64];
    if (!ep_otproot_available(rel, root, sizeof root, why, sizeof why)) {
      printf("tls: %s: skipped\n", why);
      continue;
    }
    otp_root = root;
    snprintf(label, sizeof label, "tls (%s)", rel->label);
    failed += run_suite(label, false);
  }
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
