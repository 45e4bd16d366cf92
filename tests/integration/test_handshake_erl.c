/* The distribution core against a real erl node: we dial it as the
 * initiator over a plain blocking socket (the test is the I/O driver here,
 * not lib/) and get DONE with the right cookie, a refusal with a wrong one,
 * EP_EWRONGNODE when the node is not the one we meant; then, connected, an
 * RPC through rex, ticks answered past the node's tick time, and a reply
 * big enough for the BEAM to fragment. The node runs with net_ticktime 4:
 * it ticks every second and drops a silent connection after 4 s. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ep_checkrun.h"
#include "ep_dflags.h"
#include "ep_dist.h"
#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "ep_handshake.h"
#include "ep_mem.h"
#include "ep_otproot.h"
#include "ep_testenv.h"

static ep_testenv *env;
static char node[256];
static int dist_port;
static pid_t erl_pid;

/* Newer OTP releases live in Debian roots (scripts/otp-roots.sh) and run
 * through `chroot ROOT erl`: a wrapper named erl first in PATH, and the
 * private HOME (with its cookie) mirrored inside the root, so the cookie
 * never goes on a command line. NULL: the system's erl. */
static const char *otp_root;
static const char *expected_release; /* "27", "29"; NULL: whatever erl is */
static char home_copy[600]; /* the HOME mirrored into otp_root, for stop_node */

static void start_node(void) {
  env = ep_testenv_new();
  if (otp_root) {
    char bindir[700];
    snprintf(home_copy, sizeof home_copy, "%s", ep_testenv_home(env));
    ck_assert_int_eq(ep_otproot_enter(env, otp_root, bindir, sizeof bindir), 0);
    ep_otproot_use_path(bindir);
  }
  /* The node listens where the kernel puts it and we ask its EPMD, as a
   * dialling node would: a port picked here and handed to erl could be
   * taken by anyone in between. */
  const char *args[] = {"-kernel", "net_ticktime", "4", NULL};
  erl_pid = ep_testenv_start_erl(env, "hsnode", args, node, sizeof node);
  ck_assert_int_gt(erl_pid, 0);
  ep_epmd_port_info info;
  ck_assert_int_eq(ep_epmd_port_please_sync(NULL, "hsnode", &info), 0);
  dist_port = info.port;
}

static void stop_node(void) {
  ep_testenv_free(env);
  if (otp_root && home_copy[0]) ep_otproot_leave(otp_root, home_copy);
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    ck_assert_int_gt(w, 0);
    p += w;
    n -= (size_t)w;
  }
}

/* Drives hs over fd until it is no longer RUNNING or the peer closes.
 * Returns 1 when the peer closed the socket, 0 otherwise. */
static int drive(int fd, ep_handshake *hs, uint8_t *rest, size_t *rest_len) {
  uint8_t buf[4096];
  *rest_len = 0;
  for (;;) {
    const uint8_t *d;
    size_t n;
    ep_hs_output(hs, &d, &n);
    if (n) {
      write_all(fd, d, n);
      ep_hs_output_ack(hs, n);
    }
    if (ep_hs_status_get(hs) != EP_HS_RUNNING) return 0;
    struct pollfd pfd = {fd, POLLIN, 0};
    ck_assert_msg(poll(&pfd, 1, 15000) == 1, "peer silent for 15 s");
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) return 1;
    size_t used;
    ep_hs_recv(hs, buf, (size_t)r, &used);
    if (ep_hs_status_get(hs) == EP_HS_DONE && rest) {
      memcpy(rest, buf + used, (size_t)r - used);
      *rest_len = (size_t)r - used;
    }
  }
}

static ep_hs_config our_config(const char *cookie) {
  static char me[300];
  snprintf(me, sizeof me, "ctl@%s", ep_testenv_host());
  ep_hs_config c = {0};
  c.role = EP_HS_INITIATOR;
  c.this_node = me;
  c.creation = 0x1234567u;
  c.flags = EP_DFLAGS_OURS;
  c.required_flags = EP_DFLAGS_REQUIRED;
  c.cookie = (const uint8_t *)cookie;
  c.cookie_len = strlen(cookie);
  c.expected_peer = node;
  c.challenge = 0xdeadbeefu;
  return c;
}

/* A handshake configured by c with the node over a connection of its own,
 * driven to its end (drive's result: closed, 1 when the node closed the
 * socket); the connection is closed again, the handshake is the caller's. */
static ep_handshake *handshake_with(const ep_hs_config *c, int closed) {
  ep_handshake *hs;
  ck_assert_int_eq(ep_hs_new(NULL, c, &hs), 0);
  int fd = dial(dist_port);
  size_t rest_len;
  ck_assert_int_eq(drive(fd, hs, NULL, &rest_len), closed);
  close(fd);
  return hs;
}

START_TEST(right_cookie_connects) {
  ep_hs_config c = our_config(ep_testenv_cookie(env));
  ep_handshake *hs;
  ck_assert_int_eq(ep_hs_new(NULL, &c, &hs), 0);
  int fd = dial(dist_port);
  uint8_t rest[4096];
  size_t rest_len;
  ck_assert_int_eq(drive(fd, hs, rest, &rest_len), 0);
  ck_assert_msg(ep_hs_status_get(hs) == EP_HS_DONE, "handshake: %s", ep_err_name(ep_hs_error(hs)));
  ck_assert_str_eq(ep_hs_peer_name(hs), node);
  uint64_t f = ep_hs_flags(hs);
  /* the intersection: everything required, nothing we did not offer */
  ck_assert((f & EP_DFLAGS_REQUIRED) == EP_DFLAGS_REQUIRED);
  ck_assert((f & ~(EP_DFLAGS_OURS)) == 0);
  ck_assert(f & EP_DFLAG_SPAWN);
  ck_assert(f & EP_DFLAG_UNLINK_ID);
  ck_assert(!(f & EP_DFLAG_PUBLISHED));
  ck_assert(ep_hs_peer_flags(hs) & EP_DFLAG_PUBLISHED); /* a normal node publishes */
  ck_assert_uint_ne(ep_hs_peer_creation(hs), 0);
  ep_hs_free(hs);
  close(fd);
}
END_TEST

START_TEST(wrong_cookie_is_refused) {
  ep_hs_config c = our_config("not-the-cookie");
  /* erl checks our digest, finds it wrong, and closes without an ack */
  ep_handshake *hs = handshake_with(&c, 1);
  ck_assert_int_eq(ep_hs_status_get(hs), EP_HS_RUNNING);
  ep_hs_free(hs);
}
END_TEST

START_TEST(wrong_node_is_detected) {
  ep_hs_config c = our_config(ep_testenv_cookie(env));
  char other[300];
  snprintf(other, sizeof other, "someoneelse@%s", ep_testenv_host());
  c.expected_peer = other;
  ep_handshake *hs = handshake_with(&c, 0);
  ck_assert_int_eq(ep_hs_error(hs), EP_EWRONGNODE);
  ep_hs_free(hs);
}
END_TEST

/* OTP 25+ refuses a node lacking its mandatory flags with not_allowed. */
START_TEST(missing_mandatory_flags_not_allowed) {
  ep_hs_config c = our_config(ep_testenv_cookie(env));
  c.flags = EP_DFLAG_EXTENDED_REFERENCES | EP_DFLAG_HANDSHAKE_23 | EP_DFLAG_UTF8_ATOMS;
  ep_handshake *hs = handshake_with(&c, 0);
  ck_assert_int_eq(ep_hs_error(hs), EP_ENOTALLOWED);
  ep_hs_free(hs);
}
END_TEST

/* MANDATORY_25_DIGEST alone stands for the OTP 25 set (dist.hrl): a 25
 * node accepts it. */
START_TEST(mandatory_25_digest_alone_is_accepted) {
  ep_hs_config c = our_config(ep_testenv_cookie(env));
  c.flags = EP_DFLAG_MANDATORY_25_DIGEST | EP_DFLAG_V4_NC | EP_DFLAG_UNLINK_ID;
  c.required_flags = 0;
  ep_handshake *hs = handshake_with(&c, 0);
  ck_assert_msg(ep_hs_status_get(hs) == EP_HS_DONE, "handshake: %s", ep_err_name(ep_hs_error(hs)));
  ep_hs_free(hs);
}
END_TEST

/* --- connected ----------------------------------------------------------------------- */

typedef struct conn {
  int fd;
  uint64_t flags;
  ep_handshake *hs;
  ep_dist_reader *rd;
  uint8_t *in;
  size_t in_len, in_cap;
  int ticks_seen, fragments_seen;
} conn;

static void conn_open(conn *c, uint64_t flags) {
  memset(c, 0, sizeof *c);
  ep_hs_config cfg = our_config(ep_testenv_cookie(env));
  cfg.flags = flags;
  ck_assert_int_eq(ep_hs_new(NULL, &cfg, &c->hs), 0);
  c->fd = dial(dist_port);
  c->in_cap = 1 << 16;
  c->in = malloc(c->in_cap);
  ck_assert_int_eq(drive(c->fd, c->hs, c->in, &c->in_len), 0);
  ck_assert_msg(ep_hs_status_get(c->hs) == EP_HS_DONE, "handshake: %s", ep_err_name(ep_hs_error(c->hs)));
  c->flags = ep_hs_flags(c->hs);
  ck_assert_int_eq(ep_dist_reader_new(NULL, c->flags, NULL, &c->rd), 0);
}

static void conn_close(conn *c) {
  close(c->fd);
  ep_dist_reader_free(c->rd);
  ep_hs_free(c->hs);
  free(c->in);
}

static void conn_send(conn *c, const ep_ctrl *m) {
  ep_buf b = EP_BUF_INIT;
  ck_assert_int_eq(ep_dist_write_ctrl(&b, m, c->flags), 0);
  write_all(c->fd, b.data, b.len);
  ep_buf_free(&b);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next message within timeout_ms, answering every tick on the way. */
static int conn_recv(conn *c, ep_arena *a, int timeout_ms, ep_dist_msg *out) {
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    size_t used = 0, need = 0;
    int rc = ep_dist_read(c->rd, a, c->in, c->in_len, &used, &need, out);
    if (rc == 0) {
      memmove(c->in, c->in + used, c->in_len - used);
      c->in_len -= used;
      if (out->kind == EP_DIST_TICK) {
        static const uint8_t tick[4] = {0};
        write_all(c->fd, tick, 4);
        c->ticks_seen++;
        continue;
      }
      if (out->kind == EP_DIST_NONE) {
        c->fragments_seen++;
        continue;
      }
      return 0;
    }
    if (rc != EP_EINCOMPLETE) return rc;
    if (need > c->in_cap) {
      c->in_cap = need;
      c->in = realloc(c->in, c->in_cap);
    }
    struct pollfd pfd = {c->fd, POLLIN, 0};
    long long left = deadline - now_ms();
    if (left <= 0 || poll(&pfd, 1, (int)left) != 1) return EP_ETIMEDOUT;
    ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (r <= 0) return EP_ECLOSED;
    c->in_len += (size_t)r;
  }
}

/* rex's C-node protocol: {FromPid, {call, M, F, A, user}} -> {rex, Result} */
static ep_term rpc(conn *c, ep_arena *a, ep_term m, ep_term f, ep_term args) {
  ep_term self = ep_pid(a, ep_hs_this_name(c->hs), 77, 0, ep_hs_this_creation(c->hs));
  ep_ctrl q;
  memset(&q, 0, sizeof q);
  q.op = EP_CTRL_REG_SEND;
  q.from = self;
  q.to = ep_atom("rex");
  q.msg = EP_TUPLE(a, self, EP_TUPLE(a, ep_atom("call"), m, f, args, ep_atom("user")));
  conn_send(c, &q);
  for (;;) {
    ep_dist_msg msg;
    int rc = conn_recv(c, a, 10000, &msg);
    ck_assert_msg(rc == 0, "waiting for rex: %s", ep_err_name(rc));
    ep_ctrl r;
    ck_assert_int_eq(ep_ctrl_parse(msg.control, msg.payload, &r), 0);
    if (r.op == EP_CTRL_SEND && ep_term_eq(r.to, self) && ep_is_record(r.msg, "rex", 2)) return r.msg.v.items[1];
  }
}

START_TEST(rex_call_returns_node) {
  conn c;
  conn_open(&c, EP_DFLAGS_OURS);
  ep_arena *a = ep_arena_new(NULL);
  ep_term res = rpc(&c, a, ep_atom("erlang"), ep_atom("node"), ep_nil());
  ck_assert(ep_atom_eq(res, node));
  /* and a call with arguments and a structured answer */
  res = rpc(&c, a, ep_atom("lists"), ep_atom("seq"), EP_LIST(a, ep_int(1), ep_int(3)));
  ck_assert(ep_term_eq(res, EP_LIST(a, ep_int(1), ep_int(2), ep_int(3))));
  /* the node sees us as a hidden node */
  res = rpc(&c, a, ep_atom("erlang"), ep_atom("nodes"), EP_LIST(a, ep_atom("hidden")));
  ck_assert(ep_atom_eq(ep_list_at(res, 0), ep_hs_this_name(c.hs)));
  ep_arena_free(a);
  conn_close(&c);
}
END_TEST

/* The node really is the release we meant (the chroot wrapper works). */
START_TEST(node_runs_expected_release) {
  conn c;
  conn_open(&c, EP_DFLAGS_OURS);
  ep_arena *a = ep_arena_new(NULL);
  ep_term rel = rpc(&c, a, ep_atom("erlang"), ep_atom("system_info"), EP_LIST(a, ep_atom("otp_release")));
  const char *txt;
  size_t len;
  ck_assert_int_eq(ep_get_text(a, rel, &txt, &len), 0);
  fprintf(stderr, "handshake_erl: node runs OTP %s\n", txt);
  if (expected_release) ck_assert_str_eq(txt, expected_release);
  ep_arena_free(a);
  conn_close(&c);
}
END_TEST

/* Stay connected for 6 s (past net_ticktime 4) answering ticks only; the
 * connection must still work. */
START_TEST(ticks_keep_the_connection) {
  conn c;
  conn_open(&c, EP_DFLAGS_OURS);
  ep_arena *a = ep_arena_new(NULL);
  ep_dist_msg m;
  int rc = conn_recv(&c, a, 6000, &m);
  ck_assert_msg(rc == EP_ETIMEDOUT, "unexpected: %s", ep_err_name(rc));
  ck_assert_int_ge(c.ticks_seen, 2);
  ep_term res = rpc(&c, a, ep_atom("erlang"), ep_atom("node"), ep_nil());
  ck_assert(ep_atom_eq(res, node));
  ep_arena_free(a);
  conn_close(&c);
}
END_TEST

/* With FRAGMENTS negotiated every frame carries 131 68, and a reply past
 * the BEAM's fragment size (64 KiB) arrives in pieces we reassemble. */
START_TEST(fragmented_reply_from_real_otp) {
  conn c;
  conn_open(&c, EP_DFLAGS_OURS_FRAGMENTS);
  ck_assert(c.flags & EP_DFLAG_FRAGMENTS);
  ep_arena *a = ep_arena_new(NULL);
  ep_term res = rpc(&c, a, ep_atom("erlang"), ep_atom("node"), ep_nil());
  ck_assert(ep_atom_eq(res, node));
  res = rpc(&c, a, ep_atom("lists"), ep_atom("duplicate"), EP_LIST(a, ep_int(100000), ep_atom("abc")));
  ck_assert_int_eq(ep_list_len(res), 100000);
  ck_assert(ep_atom_eq(ep_list_at(res, 99999), "abc"));
  ck_assert_int_gt(c.fragments_seen, 0);
  ep_arena_free(a);
  conn_close(&c);
}
END_TEST

/* NAME_ME: we send only our host and the node names us ("named:"). */
START_TEST(name_me_gets_a_name) {
  ep_hs_config c = our_config(ep_testenv_cookie(env));
  c.this_node = ep_testenv_host();
  c.flags = EP_DFLAGS_OURS | EP_DFLAG_NAME_ME;
  c.creation = 0;
  ep_handshake *hs = handshake_with(&c, 0);
  ck_assert_msg(ep_hs_status_get(hs) == EP_HS_DONE, "handshake: %s", ep_err_name(ep_hs_error(hs)));
  const char *me = ep_hs_this_name(hs);
  const char *at = strchr(me, '@');
  ck_assert_ptr_nonnull(at);
  ck_assert_str_eq(at + 1, ep_testenv_host());
  ck_assert_uint_ne(ep_hs_this_creation(hs), 0);
  ep_hs_free(hs);
}
END_TEST

/* The acceptor role: register a hidden node "acc" in the node's EPMD by
 * hand (ALIVE2_REQ), make the node dial it (spawned net_adm:ping through
 * rex), and accept. */
typedef struct acceptor_env {
  int ls, epmd_fd;
  uint32_t creation;
  char name[300];
  conn c; /* our own connection to the node, to make it dial */
  ep_arena *a;
} acceptor_env;

static void acceptor_setup(acceptor_env *e) {
  memset(e, 0, sizeof *e);
  e->ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(e->ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(e->ls, (struct sockaddr *)&sa, sizeof sa), 0);
  ck_assert_int_eq(listen(e->ls, 4), 0);
  socklen_t sl = sizeof sa;
  getsockname(e->ls, (struct sockaddr *)&sa, &sl);
  int our_port = ntohs(sa.sin_port);
  /* ALIVE2_REQ: 120 Port:16 72(hidden) 0 6:16 6:16 NameLen:16 "acc" 0:16;
   * the registration lives as long as this socket. */
  e->epmd_fd = dial(ep_testenv_epmd_port(env));
  uint8_t req[64] = {0, 0, 120};
  size_t n = 3;
  req[n++] = (uint8_t)(our_port >> 8), req[n++] = (uint8_t)our_port;
  req[n++] = 72, req[n++] = 0, req[n++] = 0, req[n++] = 6, req[n++] = 0, req[n++] = 6;
  req[n++] = 0, req[n++] = 3, memcpy(req + n, "acc", 3), n += 3;
  req[n++] = 0, req[n++] = 0;
  req[1] = (uint8_t)(n - 2);
  write_all(e->epmd_fd, req, n);
  uint8_t rep[8];
  struct pollfd pe = {e->epmd_fd, POLLIN, 0};
  ck_assert_int_eq(poll(&pe, 1, 5000), 1);
  ck_assert_int_ge(read(e->epmd_fd, rep, sizeof rep), 6);
  ck_assert_int_eq(rep[0], 118);
  ck_assert_int_eq(rep[1], 0);
  e->creation = ep_get32(rep + 2);
  snprintf(e->name, sizeof e->name, "acc@%s", ep_testenv_host());
  conn_open(&e->c, EP_DFLAGS_OURS);
  e->a = ep_arena_new(NULL);
}

static void acceptor_teardown(acceptor_env *e) {
  close(e->epmd_fd);
  close(e->ls);
  ep_arena_free(e->a);
  conn_close(&e->c);
}

/* Makes the node dial acc@host, accepts, and runs our acceptor to the end. */
static ep_handshake *accept_dial(acceptor_env *e, const char *cookie) {
  ep_term pid = rpc(&e->c, e->a, ep_atom("erlang"), ep_atom("spawn"),
                    EP_LIST(e->a, ep_atom("net_adm"), ep_atom("ping"), EP_LIST(e->a, ep_atom(e->name))));
  ck_assert_int_eq(pid.type, EP_T_PID);
  struct pollfd pl = {e->ls, POLLIN, 0};
  ck_assert_msg(poll(&pl, 1, 10000) == 1, "the node never dialled");
  int fd = accept(e->ls, NULL, NULL);
  ck_assert_int_ge(fd, 0);
  ep_hs_config cfg = our_config(cookie);
  cfg.role = EP_HS_ACCEPTOR;
  cfg.this_node = e->name;
  cfg.creation = e->creation;
  cfg.expected_peer = NULL;
  cfg.challenge = 0x600dcafeu;
  ep_handshake *hs;
  ck_assert_int_eq(ep_hs_new(NULL, &cfg, &hs), 0);
  uint8_t buf[4096];
  for (;;) {
    const uint8_t *d;
    size_t dl;
    ep_hs_output(hs, &d, &dl);
    if (dl) {
      write_all(fd, d, dl);
      ep_hs_output_ack(hs, dl);
    }
    ep_hs_status st = ep_hs_status_get(hs);
    if (st == EP_HS_DECIDE) {
      ck_assert_str_eq(ep_hs_peer_name(hs), node);
      ck_assert_int_eq(ep_hs_decide(hs, EP_HS_OK), 0);
      continue;
    }
    if (st != EP_HS_RUNNING) break;
    struct pollfd pfd = {fd, POLLIN, 0};
    ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
    ssize_t r = read(fd, buf, sizeof buf);
    ck_assert_int_gt(r, 0);
    size_t used;
    ep_hs_recv(hs, buf, (size_t)r, &used);
  }
  close(fd);
  return hs;
}

START_TEST(real_node_dials_us) {
  acceptor_env e;
  acceptor_setup(&e);
  ep_handshake *hs = accept_dial(&e, ep_testenv_cookie(env));
  ck_assert_msg(ep_hs_status_get(hs) == EP_HS_DONE, "handshake: %s", ep_err_name(ep_hs_error(hs)));
  ck_assert_str_eq(ep_hs_peer_name(hs), node);
  ck_assert((ep_hs_flags(hs) & EP_DFLAGS_REQUIRED) == EP_DFLAGS_REQUIRED);
  ep_hs_free(hs);
  acceptor_teardown(&e);
}
END_TEST

/* The node dials us with another cookie (erlang:set_cookie/2 for our name):
 * our acceptor finds the digest wrong. */
START_TEST(real_node_with_wrong_cookie_is_refused) {
  acceptor_env e;
  acceptor_setup(&e);
  ep_term ok = rpc(&e.c, e.a, ep_atom("erlang"), ep_atom("set_cookie"),
                   EP_LIST(e.a, ep_atom(e.name), ep_atom("some_other_cookie")));
  ck_assert(ep_atom_eq(ok, "true"));
  ep_handshake *hs = accept_dial(&e, ep_testenv_cookie(env));
  ck_assert_int_eq(ep_hs_status_get(hs), EP_HS_FAILED);
  ck_assert_int_eq(ep_hs_error(hs), EP_EAUTH);
  ep_hs_free(hs);
  acceptor_teardown(&e);
}
END_TEST

/* A node started with -sname undefined has no name until it connects: it
 * dials us with NAME_ME and our acceptor names it ("named:"). */
START_TEST(dynamic_node_is_named_by_us) {
  acceptor_env e;
  acceptor_setup(&e);
  /* The node says it booted (EP_READY, which ep_testenv_start_erl_argv
   * waits for), then dials us from the same -eval: the dial follows the
   * boot by construction, not after a pause. */
  char eval[512];
  snprintf(eval, sizeof eval,
           "io:format(\"EP_READY ~s~n\", [node()]),"
           " io:format(\"EP_CONNECT ~p~n\", [net_kernel:connect_node('%s')]).",
           e.name);
  const char *argv[] = {"erl", "-sname", "undefined", "-noshell", "-noinput", "-eval", eval, NULL};
  char dyn[256];
  pid_t pid = ep_testenv_start_erl_argv(env, argv, dyn, sizeof dyn);
  ck_assert_int_gt(pid, 0);
  struct pollfd pl = {e.ls, POLLIN, 0};
  ck_assert_msg(poll(&pl, 1, 10000) == 1, "the dynamic node never dialled");
  int fd = accept(e.ls, NULL, NULL);
  ck_assert_int_ge(fd, 0);
  ep_hs_config cfg = our_config(ep_testenv_cookie(env));
  cfg.role = EP_HS_ACCEPTOR;
  cfg.this_node = e.name;
  cfg.creation = e.creation;
  cfg.expected_peer = NULL;
  ep_handshake *hs;
  ck_assert_int_eq(ep_hs_new(NULL, &cfg, &hs), 0);
  char given[300];
  snprintf(given, sizeof given, "gen7@%s", ep_testenv_host());
  uint8_t buf[4096];
  for (;;) {
    const uint8_t *d;
    size_t dl;
    ep_hs_output(hs, &d, &dl);
    if (dl) {
      write_all(fd, d, dl);
      ep_hs_output_ack(hs, dl);
    }
    ep_hs_status st = ep_hs_status_get(hs);
    if (st == EP_HS_DECIDE) {
      ck_assert(ep_hs_peer_flags(hs) & EP_DFLAG_NAME_ME);
      ck_assert_str_eq(ep_hs_peer_name(hs), ep_testenv_host()); /* host only */
      ck_assert_int_eq(ep_hs_set_named(hs, given, 4242), 0);
      ck_assert_int_eq(ep_hs_decide(hs, EP_HS_NAMED), 0);
      continue;
    }
    if (st != EP_HS_RUNNING) break;
    struct pollfd pfd = {fd, POLLIN, 0};
    ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
    ssize_t r = read(fd, buf, sizeof buf);
    ck_assert_int_gt(r, 0);
    size_t used;
    ep_hs_recv(hs, buf, (size_t)r, &used);
  }
  ck_assert_msg(ep_hs_status_get(hs) == EP_HS_DONE, "handshake: %s", ep_err_name(ep_hs_error(hs)));
  ck_assert_str_eq(ep_hs_peer_name(hs), given);
  ck_assert_uint_eq(ep_hs_peer_creation(hs), 4242);
  ep_hs_free(hs);
  close(fd);
  acceptor_teardown(&e);
}
END_TEST

static int run_suite(const char *label, bool all) {
  Suite *s = suite_create(label);
  TCase *tc = tcase_create("real node");
  tcase_add_checked_fixture(tc, start_node, stop_node);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, right_cookie_connects);
  tcase_add_test(tc, wrong_cookie_is_refused);
  tcase_add_test(tc, wrong_node_is_detected);
  tcase_add_test(tc, missing_mandatory_flags_not_allowed);
  tcase_add_test(tc, rex_call_returns_node);
  tcase_add_test(tc, node_runs_expected_release);
  tcase_add_test(tc, fragmented_reply_from_real_otp);
  tcase_add_test(tc, name_me_gets_a_name);
  if (all) {
    /* OTP 25 only: newer releases need more than the digest (V4_NC,
     * UNLINK_ID are already in; this checks 25's synonym rule) */
    tcase_add_test(tc, mandatory_25_digest_alone_is_accepted);
    tcase_add_test(tc, ticks_keep_the_connection);
    /* the chroot'd node would have to resolve our host name in its own
     * /etc/hosts to dial us: run the acceptor tests on the system erl */
    tcase_add_test(tc, real_node_dials_us);
    tcase_add_test(tc, real_node_with_wrong_cookie_is_refused);
    tcase_add_test(tc, dynamic_node_is_named_by_us);
  }
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL);
}

int main(void) {
  int failed = run_suite("handshake_erl (system OTP)", true);
  for (size_t i = 0; i < EP_OTP_NRELEASES; i++) {
    const ep_otp_release *rel = &ep_otp_releases[i];
    if (!rel->suite) continue; /* the system OTP: run above */
    static char root[512];
    char why[1024];
    if (!ep_otproot_available(rel, root, sizeof root, why, sizeof why)) {
      printf("handshake_erl: %s: skipped\n", why);
      continue;
    }
    otp_root = root;
    expected_release = rel->release;
    char label[64];
    snprintf(label, sizeof label, "handshake_erl (%s)", rel->label);
    failed += run_suite(label, false);
  }
  return failed ? 1 : 0;
}
