/* The peer controller against real erl, over both alternative connections.
 * Most tests run twice (loop index 0 = standard_io, 1 = TCP). Each stands
 * on tests/support/ep_peerfix.h (a private world, a controller, the options
 * and their teardown), is bounded (tcase timeout, wait_boot, call
 * timeouts), and whatever it started is stopped when it ends, passed or
 * failed. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "ep_alt.h"
#include "ep_checkrun.h"
#include "ep_error.h"
#include "ep_otproot.h"
#include "ep_peer.h"
#include "ep_peerfix.h"
#include "ep_testenv.h"
#include "ep_testpeer.h"
#include "ep_text.h"

static void collect_message(ep_peer *p, ep_term to, ep_term msg, void *ud) {
  collected *c = ud;
  c->messages++;
  ep_buf b;
  ep_buf_init(&b, NULL);
  ep_buf_append(&b, "{", 1);
  ep_print(&b, to);
  ep_buf_append(&b, ",", 1);
  ep_print(&b, msg);
  ep_buf_append(&b, "}", 1);
  snprintf(c->last_msg, sizeof c->last_msg, "%.*s", (int)b.len, (char *)b.data);
  ep_buf_free(&b);
}

/* --- calls, casts, sends, I/O ---------------------------------------------------------- */

START_TEST(call_every_reply_class) {
  ep_peer *p = pf_start(pf_opts(_i)); /* asserts it is running */
  ck_assert_str_eq(ep_peer_node(p), "nonode@nohost");
  ep_arena *a = PF.a;
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("lists"), ep_atom("seq"), args_of(a, "[1, 3]"), 5000, a, &r), 0);
  ck_assert_str_eq(result_text(&r), "[1,2,3]");
  /* not distributed: no EPMD, no node name */
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("is_alive"), ep_nil(), 5000, a, &r), 0);
  ck_assert(ep_atom_eq(r.value, "false"));
  static const char *cls[][3] = {{"throw", "[x]", "throw"},
                                 {"error", "[boom]", "error"},
                                 {"exit", "[bye]", "exit"}};
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom(cls[i][0]), args_of(a, cls[i][1]), 5000, a, &r),
                     EP_EEXCEPTION);
    ck_assert(ep_atom_eq(r.cls, cls[i][2]));
    ck_assert_int_gt(ep_list_len(r.stack), 0);
  }
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("apply"),
                                     args_of(a, "[erlang, exit, [bye2]]"), 5000, a, &r),
                   EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.cls, "exit"));
  /* a timeout, then the late reply is dropped and the peer still answers */
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("timer"), ep_atom("sleep"), args_of(a, "[300]"), 50, a, &r),
                   EP_ETIMEDOUT);
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("abs"), args_of(a, "[-4]"), 5000, a, &r), 0);
  ck_assert_int_eq(r.value.v.i, 4);
  pf_stop(p);
}
END_TEST

START_TEST(crash_class_from_killed_call) {
  ep_peer *p = pf_start(pf_opts(_i));
  ep_result r;
  /* the call's process is killed: no reply of its own, the peer reports
   * {reply, Seq, crash, killed} */
  ck_assert_int_eq(eval_sync(p, PF.a, "exit(self(), kill).", &r), EP_EEXCEPTION);
  ck_assert(ep_atom_eq(r.cls, "crash"));
  ck_assert(ep_atom_eq(r.reason, "killed"));
  ck_assert_int_eq(ep_list_len(r.stack), 0);
  ck_assert_int_eq(eval_sync(p, PF.a, "X = 20, X + 1.", &r), 0);
  ck_assert(ep_is_record(r.value, "value", 3));
}
END_TEST

START_TEST(cast_send_and_messages_back) {
  ep_ctl *c = PF.ctl;
  ep_peer_opts *o = pf_opts(_i);
  ep_peer_opts_set_message(o, collect_message, &PF.col); /* the fixture's: it outlives the peer */
  ep_peer *p = pf_start(o);
  collected *col = &PF.col;
  ep_arena *a = PF.a;
  /* send to a registered name: user relays {message, To, Msg} to us */
  ck_assert_int_eq(ep_peer_send(p, ep_atom("user"), args_of(a, "{message, back, hello}")), 0);
  while (col->messages < 1) ep_ctl_poll(c, 20);
  ck_assert_str_eq(col->last_msg, "{back,hello}");
  /* cast */
  ck_assert_int_eq(ep_peer_cast(p, ep_atom("erlang"), ep_atom("send"),
                                args_of(a, "[user, {message, casted, 42}]")),
                   0);
  while (col->messages < 2) ep_ctl_poll(c, 20);
  ck_assert_str_eq(col->last_msg, "{casted,42}");
  /* send to a pid */
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("whereis"), args_of(a, "[user]"), 5000, a, &r), 0);
  ck_assert_int_eq(r.value.type, EP_T_PID);
  ck_assert_int_eq(ep_peer_send(p, r.value, args_of(a, "{message, viapid, ok}")), 0);
  while (col->messages < 3) ep_ctl_poll(c, 20);
  ck_assert_str_eq(col->last_msg, "{viapid,ok}");
  /* a process on the peer calling back during a call (group leader) */
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("send"),
                                     args_of(a, "[user, {message, fromcall, [1,2]}]"), 5000, a, &r),
                   0);
  while (col->messages < 4) ep_ctl_poll(c, 20);
  ck_assert_str_eq(col->last_msg, "{fromcall,[1,2]}");
  ck_assert_int_eq(ep_peer_send(p, ep_int(3), ep_atom("x")), EP_EINVAL);
}
END_TEST

START_TEST(io_relay) {
  ep_peer *p = pf_start(pf_collect(pf_opts(_i), PF_OUTPUT));
  collected *col = &PF.col;
  ep_arena *a = PF.a;
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("io"), ep_atom("format"),
                                     args_of(a, "[\"fmt ~p ~s ~5.1f|~n\", [{a,1}, \"str\", 2.25]]"), 5000, a, &r),
                   0);
  ck_assert(ep_atom_eq(r.value, "ok"));
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("io"), ep_atom("put_chars"),
                                     args_of(a, "[[<<\"bin \">>, \"list\", 10]]"), 5000, a, &r),
                   0);
  /* input: eof; options answered */
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("io"), ep_atom("get_line"), args_of(a, "[\"> \"]"), 5000, a, &r), 0);
  ck_assert(ep_atom_eq(r.value, "eof"));
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("io"), ep_atom("getopts"), ep_nil(), 5000, a, &r), 0);
  ck_assert(ep_is_list(r.value));
  /* a bad format is badarg on the peer, as with a real group leader */
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("io"), ep_atom("format"), args_of(a, "[\"~p\", []]"), 5000, a, &r),
                   EP_EEXCEPTION);
  ck_assert_msg(out_has(col, "fmt {a,1} str   2.2|\n") || out_has(col, "fmt {a,1} str   2.3|\n"),
                "output: %.*s", (int)col->out.len, (char *)col->out.data);
  ck_assert(out_has(col, "bin list\n"));
}
END_TEST

START_TEST(init_debug_over_stdio) {
  ep_peer_opts *o = pf_collect(pf_opts(PF_STDIO), PF_OUTPUT);
  ep_peer_opts_add_arg(o, "-init_debug");
  pf_start(o);
  /* console text that is not control data comes through as output */
  ck_assert_msg(out_has(&PF.col, "{progress,"), "output: %.*s", (int)PF.col.out.len, (char *)PF.col.out.data);
}
END_TEST

/* --- going down ------------------------------------------------------------------------ */

START_TEST(peer_exit_detected) {
  ep_peer *p = pf_start(pf_collect(pf_opts(_i), PF_STATE));
  ep_result r;
  int rc = ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("halt"), args_of(PF.a, "[3]"), 5000, PF.a, &r);
  ck_assert_int_eq(rc, EP_EPEERDOWN);
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_DOWN);
  ck_assert_int_eq(PF.col.downs, 1);
  ck_assert_int_eq(PF.col.down_err, EP_EPEERDOWN);
  if (_i == 0) {
    ck_assert_int_eq(ep_peer_exit_status(p), 3);
    ck_assert_str_eq(ep_peer_down_reason(p), "{exit_status,3}");
  } else {
    ck_assert_str_eq(ep_peer_down_reason(p), "tcp_closed");
  }
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("node"), ep_nil(), 1000, PF.a, &r), EP_EPEERDOWN);
  ck_assert_int_eq(ep_peer_stop_sync(p), 0); /* stopping a down peer completes */
}
END_TEST

START_TEST(peer_down_crash_is_sticky) {
  ep_peer_opts *o = pf_collect(pf_opts(_i), PF_STATE);
  ep_peer_opts_set_peer_down(o, EP_PEER_DOWN_CRASH);
  ep_peer *p = pf_start(o);
  ep_peer_cast(p, ep_atom("erlang"), ep_atom("halt"), ep_nil());
  while (PF.col.downs == 0) ep_ctl_poll(PF.ctl, 20);
  ck_assert_int_eq(PF.col.down_err, EP_EPEERCRASH);
  ck_assert_int_eq(ep_peer_down_err(p), EP_EPEERCRASH);
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("node"), ep_nil(), 1000, PF.a, &r), EP_EPEERCRASH);
  ck_assert_int_eq(ep_peer_cast(p, ep_atom("erlang"), ep_atom("node"), ep_nil()), EP_EPEERCRASH);
  ck_assert_int_eq(ep_peer_send(p, ep_atom("user"), ep_atom("x")), EP_EPEERCRASH);
}
END_TEST

/* The controller dies with SIGKILL: the peer halts by itself when its
 * control connection closes (stdin EOF / TCP close). */
START_TEST(controller_sigkill_halts_peer) {
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    ep_ctl *c = ep_ctl_new(NULL);
    ep_peer_opts *o = opts_for(_i);
    ep_peer *p;
    long pid = 0;
    if (ep_peer_start_sync(c, o, true, &p) == 0) {
      ep_result r;
      if (ep_peer_call_sync(p, ep_atom("os"), ep_atom("getpid"), ep_nil(), 5000, PF.a, &r) == 0) {
        const char *s;
        size_t n;
        ep_get_text(r.arena, r.value, &s, &n);
        pid = strtol(s, NULL, 10);
      }
    }
    if (write(fds[1], &pid, sizeof pid) != sizeof pid) _exit(1);
    for (;;) pause();
  }
  close(fds[1]);
  long pid = 0;
  ck_assert_int_eq(read(fds[0], &pid, sizeof pid), (ssize_t)sizeof pid);
  ck_assert_int_gt(pid, 0);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  ck_assert_msg(ep_testenv_wait_pid_gone(pid, 15000), "peer %ld survived its controller", pid);
  close(fds[0]);
}
END_TEST

/* --- broken peers -------------------------------------------------------------------------- */

/* A peer of the given kind that is a bash script, not erl: the start's
 * error (it is to fail). */
static int start_with_exec(int kind, const char *script, int wait_ms, uint32_t accept_ms) {
  ep_peer_opts *o = pf_opts(kind);
  const char *pre[] = {"-c", script, "sh", NULL};
  ck_assert_int_eq(ep_peer_opts_set_exec(o, "/bin/bash", pre), 0);
  ep_peer_opts_set_wait_boot(o, wait_ms);
  if (accept_ms) ep_peer_opts_set_accept_timeout(o, accept_ms);
  return pf_start_fails(o);
}

/* bash script pieces: find -origin's IP and port among "$@" */
#define FIND_ORIGIN \
  "while [ \"$1\" != -origin ]; do shift; done; ip=${2%%,*}; port=$3; exec 3<>/dev/tcp/$ip/$port; "

START_TEST(garbage_and_truncated_frames) {
  double t0 = now_ms();
  if (_i == 0) {
    /* a frame whose CRC is wrong (size 1, byte 0, crc 0) */
    ck_assert_int_eq(start_with_exec(0, "printf 'hi\\303\\303\\303\\303\\303\\303\\303\\307\\303\\303"
                                        "\\303\\303\\303\\303\\303\\303\\303\\303\\303\\303'; exec sleep 30",
                                     10000, 0),
                     EP_ECRC);
    /* a frame cut short by the end of output */
    ck_assert_int_eq(start_with_exec(0, "printf '\\303\\303\\303'; exit 0", 10000, 0), EP_EALTFRAME);
    /* a frame whose payload is not a term */
    ck_assert_int_eq(start_with_exec(0,
                                     "printf '\\303\\303\\303\\303\\303\\303\\303\\307\\303\\303"
                                     "\\303\\303\\303\\303\\303\\303\\303\\303\\303\\303'; exec sleep 30",
                                     10000, 0),
                     EP_ECRC); /* crc32(<<0>>) is not 0: still a CRC error, checked first */
  } else {
    ck_assert_int_eq(start_with_exec(1, FIND_ORIGIN "printf '\\0\\0\\0\\5garba' >&3; exec sleep 30", 10000, 0),
                     EP_EALTFRAME);
    ck_assert_int_eq(start_with_exec(1, FIND_ORIGIN "printf '\\377\\377\\377\\377' >&3; exec sleep 30", 10000, 0),
                     EP_ETOOBIG);
    /* truncated: the frame announces 100 bytes, the peer closes after 3 */
    ck_assert_int_eq(start_with_exec(1, FIND_ORIGIN "printf '\\0\\0\\0\\144abc' >&3; exit 0", 10000, 0),
                     EP_EBOOT);
  }
  /* none of these waited for a timeout */
  ck_assert_double_lt(now_ms() - t0, 8000);
}
END_TEST

START_TEST(never_connects_back) {
  double t0 = now_ms();
  ck_assert_int_eq(start_with_exec(PF_TCP, "exec sleep 30", 20000, 1000), EP_ENOCONNECT);
  ck_assert_str_eq(ep_ctl_last_start_reason(PF.ctl), "accept_timeout");
  ck_assert_double_lt(now_ms() - t0, 5000);
}
END_TEST

START_TEST(boot_failure_exit_status) {
  ck_assert_int_eq(start_with_exec(_i, "exit 7", 10000, 0), EP_EBOOT); /* and no peer */
  ck_assert_str_eq(ep_ctl_last_start_reason(PF.ctl), "{exit_status,7}");
  /* a program that does not exist */
  ep_peer_opts *o = pf_opts(_i);
  ep_peer_opts_set_exec(o, "/nonexistent/erl", NULL);
  ck_assert_int_eq(pf_start_fails(o), EP_ESPAWN);
  /* dist: no EPMD runs here, so the controller's node serves one itself */
  o = pf_new_opts();
  ep_peer_opts_set_name(o, "x");
  pf_stop(pf_start(o));
  /* standard_io cannot be attached=false... detached=false */
  o = pf_opts(PF_STDIO);
  ep_peer_opts_set_detached(o, false);
  ck_assert_int_eq(pf_start_fails(o), EP_EINVAL);
  /* and a controller on the caller's loop must be given one */
  pf_own_loop();
  o = pf_new_opts();
  ep_peer_opts_set_name(o, "x");
  ep_peer *p;
  ck_assert_int_eq(ep_peer_start(PF.ctl, o, true, &p, NULL, NULL), EP_ENEEDNODE);
}
END_TEST

START_TEST(wait_boot_timeout_kills) {
  double t0 = now_ms();
  ck_assert_int_eq(start_with_exec(_i, _i == 0 ? "exec sleep 30" : FIND_ORIGIN "exec sleep 30", 700, 0),
                   EP_ETIMEDOUT);
  ck_assert_str_eq(ep_ctl_last_start_reason(PF.ctl), "timeout");
  ck_assert_double_lt(now_ms() - t0, 5000);
  pf_free_ctl();
  /* nothing tagged is left (the sleep was killed) */
  ck_assert_int_eq(ep_sweep_tag(ep_testenv_tag(PF.env), 0), 0);
}
END_TEST

/* --- options ---------------------------------------------------------------------------------- */

/* os:getenv(name) on p, printed */
static char *getenv_on(ep_peer *p, const char *name) {
  char args[64];
  snprintf(args, sizeof args, "[\"%s\"]", name);
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("os"), ep_atom("getenv"), args_of(PF.a, args), 5000, PF.a, &r), 0);
  char *s = result_text(&r);
  return s;
}

START_TEST(env_exec_wrapper_and_post_process) {
  /* env */
  ep_peer_opts *o = pf_opts(_i);
  ep_peer_opts_set_env(o, "EP_FOO", "bar baz");
  ep_peer *p = pf_start(o);
  ck_assert_str_eq(getenv_on(p, "EP_FOO"), "\"bar baz\"");
  ep_peer_stop_sync(p);
  ep_peer_free(p);
  /* exec wrapper: env VAR=1 erl */
  o = pf_opts(_i);
  const char *pre[] = {"EP_WRAPPED=1", "erl", NULL};
  ep_peer_opts_set_exec(o, "env", pre);
  p = pf_start(o);
  ck_assert_str_eq(ep_peer_argv(p)[0], "env");
  ck_assert_str_eq(getenv_on(p, "EP_WRAPPED"), "\"1\"");
  ep_peer_stop_sync(p);
  ep_peer_free(p);
  /* post-process hook: bash -c 'exec erl ARGS' */
  o = pf_opts(_i);
  const char *pre2[] = {"-c", NULL};
  int called = 0;
  ep_peer_opts_set_exec(o, "/bin/bash", pre2);
  ep_peer_opts_add_arg(o, "-env");
  ep_peer_opts_add_arg(o, "EP_POST");
  ep_peer_opts_add_arg(o, "yes");
  ep_peer_opts_set_post_process_args(o, post_join, &called);
  p = pf_start(o);
  ck_assert_int_eq(called, 1);
  ck_assert_ptr_null(ep_peer_argv(p)[3]);
  ck_assert_str_eq(getenv_on(p, "EP_POST"), "\"yes\"");
}
END_TEST

/* --- many peers on one loop, asynchronously ------------------------------------------------- */

static void many_reply(ep_peer *p, const ep_result *r, void *ud) {
  pf_counts *m = ud;
  if (r->status == 0 && r->value.type == EP_T_INT) m->replies++;
}

START_TEST(eight_concurrent_peers_one_loop) {
  uv_loop_t *loop = pf_own_loop();
  enum { N = 8 };
  ep_peer *ps[N];
  pf_counts m = {0, 0, 0, 0};
  for (int i = 0; i < N; i++) {
    ck_assert_int_eq(ep_peer_start(PF.ctl, pf_opts(i % 2), true, &ps[i], pf_count_start, &m), 0);
    ck_assert_int_eq(ep_peer_get_state(ps[i]), EP_PEER_BOOTING);
  }
  while (m.started + m.failed < N) uv_run(loop, UV_RUN_ONCE);
  ck_assert_int_eq(m.started, N);
  for (int i = 0; i < N; i++)
    for (int k = 0; k < 10; k++)
      ck_assert_int_eq(ep_peer_call(ps[i], ep_atom("erlang"), ep_atom("abs"), EP_LIST(PF.a, ep_int(-k)), 5000,
                                    many_reply, &m),
                       0);
  while (m.replies < N * 10) uv_run(loop, UV_RUN_ONCE);
  for (int i = 0; i < N; i++) ck_assert_int_eq(ep_peer_stop(ps[i], pf_count_stop, &m), 0);
  while (m.stopped < N) uv_run(loop, UV_RUN_ONCE);
  for (int i = 0; i < N; i++) ep_peer_free(ps[i]);
  pf_close_loop(); /* nothing is left on the loop */
}
END_TEST

START_TEST(restart_with_same_name) {
  ck_assert_int_eq(ep_testenv_start_epmd(PF.env), 0);
  char name[64];
  ck_assert_int_eq(ep_peer_random_name("alt", name, sizeof name), 0);
  char other[64];
  ep_peer_random_name("alt", other, sizeof other);
  ck_assert_str_ne(name, other);
  for (int round = 0; round < 2; round++) {
    ep_peer_opts *o = pf_opts(_i);
    ep_peer_opts_set_name(o, name);
    ep_peer *p = pf_start(o);
    char want[200];
    snprintf(want, sizeof want, "%s@%s", name, ep_testenv_host());
    ck_assert_str_eq(ep_peer_node(p), want);
    ep_result r;
    ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("is_alive"), ep_nil(), 5000, PF.a, &r), 0);
    ck_assert(ep_atom_eq(r.value, "true"));
    ck_assert_int_eq(ep_peer_stop_sync(p), 0);
    ep_peer_free(p);
  }
}
END_TEST

/* --- shutdown modes, each within its time bound ---------------------------------------------- */

START_TEST(shutdown_modes) {
  static const struct {
    ep_peer_shutdown mode;
    uint64_t ms;
  } modes[] = {{EP_PEER_SHUTDOWN_CLOSE, 0},
               {EP_PEER_SHUTDOWN_HALT, 5000},
               {EP_PEER_SHUTDOWN_HALT, 1000},
               {EP_PEER_SHUTDOWN_STOP, 3000},
               {EP_PEER_SHUTDOWN_STOP, EP_INFINITY}};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    ep_peer_opts *o = pf_opts(_i);
    ck_assert_int_eq(ep_peer_opts_set_shutdown(o, modes[i].mode, modes[i].ms), 0);
    ep_peer *p = pf_start(o);
    long pid = os_pid_of(p);
    if (_i == 1) ck_assert_int_eq(ep_peer_os_pid(p), pid); /* verified through the token */
    double t0 = now_ms();
    ck_assert_int_eq(ep_peer_stop_sync(p), 0);
    double took = now_ms() - t0;
    uint32_t bound = modes[i].ms == EP_INFINITY ? 10000 : modes[i].ms + 1000;
    ck_assert_msg(took < bound, "%s mode %d took %.0f ms", kind_name[_i], (int)i, took);
    ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_DOWN);
    if (modes[i].mode != EP_PEER_SHUTDOWN_CLOSE) {
      /* halt and init:stop wait until the emulator is gone */
      ck_assert_msg(ep_testenv_wait_pid_gone(pid, 0), "mode %d returned before the peer exited", (int)i);
    } else {
      ck_assert(ep_testenv_wait_pid_gone(pid, 10000)); /* it halts by itself */
    }
    ep_peer_free(p);
  }
  ck_assert_int_eq(ep_peer_opts_set_shutdown(pf_new_opts(), EP_PEER_SHUTDOWN_STOP, 999), EP_EINVAL);
  /* The reference's range, 1000..2^32-1, or EP_INFINITY. */
  ck_assert_int_eq(ep_peer_opts_set_shutdown(pf_new_opts(), EP_PEER_SHUTDOWN_STOP, (uint64_t)UINT32_MAX + 1), EP_EINVAL);
  ck_assert_int_eq(ep_peer_opts_set_shutdown(pf_new_opts(), EP_PEER_SHUTDOWN_HALT, UINT32_MAX), 0);
}
END_TEST

START_TEST(linked_peer_stops_with_controller) {
  long pid = os_pid_of(pf_start(pf_opts(_i)));
  pf_free_ctl(); /* stops the linked peer with its shutdown mode (halt) */
  ck_assert(ep_testenv_wait_pid_gone(pid, 0));
}
END_TEST

START_TEST(newer_otp_peer_side) {
  /* OTP 27 (Debian trixie) and 29 (sid) through the exec wrapper
   * `chroot ROOT erl`; loop index: bit 0 connection, bit 1 release.
   * Skipped (saying why) when the roots are missing or chroot is not
   * allowed. */
  const ep_otp_release *rl = &ep_otp_releases[1 + (_i >> 1)];
  char root[512], why[1024], want[16];
  if (!ep_otproot_available(rl, root, sizeof root, why, sizeof why)) {
    printf("newer_otp_peer_side: %s: skipped\n", why);
    return;
  }
  snprintf(want, sizeof want, "\"%s\"", rl->release);
  ep_peer_opts *o = pf_collect(pf_opts(_i & 1), PF_OUTPUT);
  const char *pre[] = {root, "erl", NULL};
  ep_peer_opts_set_exec(o, "chroot", pre);
  ep_peer *p = pf_start(o);
  ep_arena *a = PF.a;
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("system_info"), args_of(a, "[otp_release]"), 5000, a, &r), 0);
  ck_assert_str_eq(result_text(&r), want);
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("io"), ep_atom("format"), args_of(a, "[\"v27 ~w~n\", [ok]]"), 5000, a, &r), 0);
  ck_assert(out_has(&PF.col, "v27 ok\n"));
  ck_assert_int_eq(ep_peer_stop_sync(p), 0);
}
END_TEST

typedef struct waits {
  int started, err, running, stopped;
} waits;

static void w_started(ep_peer *p, int err, void *ud) {
  waits *w = ud;
  w->started++;
  w->err = err;
}
static void w_state(ep_peer *p, ep_peer_state st, int err, void *ud) {
  if (st == EP_PEER_RUNNING) ((waits *)ud)->running++;
}
static void w_stopped(ep_peer *p, void *ud) { ((waits *)ud)->stopped++; }

/* wait_boot none: the start callback right after the spawn, running later
 * through the state callback; asynchronous: the callback on boot; a stop
 * while booting cancels the start. */
START_TEST(wait_boot_none_async_and_stop_while_booting) {
  uv_loop_t *loop = pf_own_loop();
  ep_ctl *c = PF.ctl;
  waits w = {0, 0, 0, 0};
  ep_peer_opts *o = pf_opts(_i);
  ep_peer_opts_set_wait_boot(o, EP_PEER_WAIT_NONE);
  ep_peer_opts_set_state_cb(o, w_state, &w);
  ep_peer *p;
  ck_assert_int_eq(ep_peer_start(c, o, true, &p, w_started, &w), 0);
  ck_assert_int_eq(w.started, 0); /* never from inside the call */
  while (!w.started) uv_run(loop, UV_RUN_ONCE);
  ck_assert_int_eq(w.err, 0);
  ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_BOOTING);
  ck_assert_int_eq(ep_peer_cast(p, ep_atom("erlang"), ep_atom("node"), ep_nil()), EP_ESTATE);
  while (!w.running) uv_run(loop, UV_RUN_ONCE);
  ck_assert_int_eq(ep_peer_stop(p, w_stopped, &w), 0);
  ck_assert_int_eq(ep_peer_stop(p, w_stopped, &w), EP_ESTATE);
  while (!w.stopped) uv_run(loop, UV_RUN_ONCE);
  ep_peer_free(p);
  /* asynchronous, stopped while booting */
  memset(&w, 0, sizeof w);
  ep_peer_opts_set_wait_boot(o, EP_INFINITY);
  ck_assert_int_eq(ep_peer_start(c, o, true, &p, w_started, &w), 0);
  ck_assert_int_eq(ep_peer_stop(p, w_stopped, &w), 0);
  while (!w.stopped) uv_run(loop, UV_RUN_ONCE);
  ck_assert_int_eq(w.started, 1);
  ck_assert_int_eq(w.err, EP_ECANCELED);
  ep_peer_free(p);
  pf_close_loop(); /* nothing is left on the loop */
}
END_TEST

/* detached = false over TCP: the peer stays our child and its own terminal
 * output is relayed */
START_TEST(attached_tcp_peer) {
  ep_ctl *c = PF.ctl;
  ep_peer_opts *o = pf_collect(pf_opts(PF_TCP), PF_OUTPUT);
  ep_peer_opts_set_detached(o, false);
  ep_peer *p = pf_start(o);
  collected *col = &PF.col;
  ep_arena *a = PF.a;
  ep_result r;
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("io"), ep_atom("format"), args_of(a, "[\"attached ~w~n\", [1]]"), 5000, a, &r), 0);
  while (!out_has(col, "attached 1")) ep_ctl_poll(c, 20);
  ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("halt"), args_of(a, "[4]"), 5000, a, &r), EP_EPEERDOWN);
  while (ep_peer_exit_status(p) < 0) ep_ctl_poll(c, 20);
  ck_assert_int_eq(ep_peer_exit_status(p), 4);
}
END_TEST

/* Where fd of process pid points ("pipe:[123]", "/dev/null"), "" when it
 * cannot be read. */
static const char *fd_link(long pid, int fd, char *buf, size_t cap) {
  char path[64];
  if (pid > 0)
    snprintf(path, sizeof path, "/proc/%ld/fd/%d", pid, fd);
  else
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, buf, cap - 1);
  buf[n > 0 ? n : 0] = 0;
  return buf;
}

/* How many of our own descriptors point at target (a "pipe:[N]" names the
 * pipe, both of its ends). */
static int our_fds_on(const char *target) {
  int n = 0;
  char l[128];
  for (int fd = 0; fd < 4096; fd++)
    if (!strcmp(fd_link(0, fd, l, sizeof l), target)) n++;
  return n;
}

/* An attached TCP peer's stdin is a pipe whose write end the controller
 * holds for the peer's life, as OTP's peer gives it a pipe (not /dev/null):
 * an OTP 27+ peer without -peer_detached runs its normal terminal, a shell
 * here, and a shell that reads EOF halts its node (with /dev/null it did,
 * right after printing its prompt). Loop index: 0 the system's OTP 25 (no
 * terminal: only the pipe is checked), 1 OTP 27, 2 OTP 29. The write end
 * is closed when the peer is stopped, and when it exits by itself. */
START_TEST(attached_tcp_stdin_is_a_held_pipe) {
  const ep_otp_release *rl = &ep_otp_releases[_i];
  char root[512], why[1024];
  if (!ep_otproot_available(rl, root, sizeof root, why, sizeof why)) {
    printf("attached_tcp_stdin_is_a_held_pipe: %s: skipped\n", why);
    return;
  }
  ep_ctl *c = PF.ctl;
  ep_peer_opts *o = pf_collect(pf_opts(PF_TCP), PF_OUTPUT | PF_STATE);
  ep_peer_opts_set_detached(o, false);
  if (root[0]) {
    const char *pre[] = {root, "erl", NULL};
    ep_peer_opts_set_exec(o, "chroot", pre);
  }
  collected *col = &PF.col;
  ep_arena *a = PF.a;
  ep_result r;
  for (int round = 0; round < 2; round++) {
    col->out.len = 0;
    col->downs = 0;
    ep_peer *p = pf_start(o);
    long pid = ep_peer_os_pid(p);
    ck_assert_int_gt(pid, 1);
    char in[128];
    fd_link(pid, 0, in, sizeof in);
    ck_assert_msg(!strncmp(in, "pipe:[", 6), "%s: the peer's stdin is '%s', not a pipe", rl->label, in);
    /* the other end is ours (a pipe's ends share the inode): no EOF */
    ck_assert_int_eq(our_fds_on(in), 1);
    if (root[0]) {
      /* the shell prompts, then waits for input and the node stays up */
      double t0 = now_ms();
      while (!out_has(col, "1> ") && now_ms() - t0 < 10000) ep_ctl_poll(c, 20);
      ck_assert_msg(out_has(col, "1> "), "%s: no shell prompt: %.*s", rl->label, (int)col->out.len,
                    (char *)col->out.data);
      for (int k = 0; k < 20; k++) ep_ctl_poll(c, 50);
      ck_assert_msg(!col->downs && ep_peer_get_state(p) == EP_PEER_RUNNING, "%s: the peer went down: %s, %.*s",
                    rl->label, ep_peer_down_reason(p), (int)col->out.len, (char *)col->out.data);
      ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("system_info"), args_of(a, "[otp_release]"),
                                         5000, a, &r),
                       0);
    }
    if (round == 0) {
      ck_assert_int_eq(ep_peer_stop_sync(p), 0);
    } else {
      /* it exits by itself: our end goes once it is reaped */
      ck_assert_int_eq(ep_peer_call_sync(p, ep_atom("erlang"), ep_atom("halt"), args_of(a, "[3]"), 5000, a, &r),
                       EP_EPEERDOWN);
      double t0 = now_ms();
      while (ep_peer_exit_status(p) < 0 && now_ms() - t0 < 10000) ep_ctl_poll(c, 20);
      ck_assert_int_eq(ep_peer_exit_status(p), 3);
    }
    ck_assert_int_eq(ep_peer_get_state(p), EP_PEER_DOWN);
    ck_assert_msg(our_fds_on(in) == 0, "%s: the stdin pipe outlived the peer (round %d)", rl->label, round);
    ep_peer_free(p);
  }
}
END_TEST

/* A fake standard_io peer: a shell script that prints the frames a peer
 * would ({started, Node}, the reply to the boot-time os:getpid() call), then
 * whatever `tail` says, and never reads its stdin nor exits by itself.
 * It exercises the paths a real peer rarely takes: shutdown past its
 * timeout (the peer is killed) and garbage on a running connection. */
static char *fake_peer_file(const char *tail_bytes, size_t tail_len) {
  ep_arena *a = PF.a;
  ep_buf b;
  ep_buf_init(&b, NULL);
  ep_alt_stdio_encode(&b, EP_TUPLE(a, ep_atom("started"), ep_atom("nonode@nohost")));
  ep_alt_stdio_encode(&b, EP_TUPLE(a, ep_atom("reply"), ep_int(0), ep_atom("ok"), ep_string(a, "1")));
  ep_buf_append(&b, tail_bytes, tail_len);
  static char path[300]; /* in the world's HOME: it goes with it */
  snprintf(path, sizeof path, "%s/ep_fake_peer", ep_testenv_home(PF.env));
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fwrite(b.data, 1, b.len, f);
  fclose(f);
  ep_buf_free(&b);
  return path;
}

static ep_peer_opts *fake_opts_script(const char *file, const char *then) {
  ep_peer_opts *o = pf_opts(PF_STDIO);
  static char script[600];
  snprintf(script, sizeof script, "cat %s; %s", file, then);
  const char *pre[] = {"-c", script, "sh", NULL};
  ep_peer_opts_set_exec(o, "/bin/bash", pre);
  return o;
}

static ep_peer_opts *fake_opts(const char *file) { return fake_opts_script(file, "exec sleep 30"); }

/* A peer that closes its stdout but stays alive is killed after a grace
 * period, and its exit is the down reason. */
START_TEST(peer_closing_stdout_but_lingering) {
  ep_peer *p = pf_start(pf_collect(fake_opts_script(fake_peer_file("", 0), "exec sleep 30 >&- 2>&-"), PF_STATE));
  double t0 = now_ms();
  while (!PF.col.downs) ep_ctl_poll(PF.ctl, 50);
  ck_assert_double_lt(now_ms() - t0, 8000);
  ck_assert_int_eq(ep_peer_exit_status(p), 128 + SIGKILL);
  ck_assert_str_eq(ep_peer_down_reason(p), "{exit_status,137}");
}
END_TEST

START_TEST(shutdown_timeouts_kill_a_stuck_peer) {
  char *file = fake_peer_file("", 0);
  static const ep_peer_shutdown modes[] = {EP_PEER_SHUTDOWN_HALT, EP_PEER_SHUTDOWN_STOP};
  for (int i = 0; i < 2; i++) {
    ep_peer_opts *o = fake_opts(file);
    ep_peer_opts_set_shutdown(o, modes[i], 1000);
    ep_peer *p = pf_start(o); /* asserts it is running */
    ck_assert_int_eq(ep_peer_os_pid(p), 0); /* "1" is not our process */
    double t0 = now_ms();
    ck_assert_int_eq(ep_peer_stop_sync(p), 0);
    double took = now_ms() - t0;
    ck_assert_msg(took >= 900 && took < 3000, "mode %d took %.0f ms", i, took);
    ck_assert_int_eq(ep_peer_exit_status(p), 128 + SIGKILL);
    ep_peer_free(p);
  }
}
END_TEST

START_TEST(garbage_on_a_running_connection) {
  ep_ctl *c = PF.ctl;
  /* after booting: text, then a frame whose CRC is wrong */
  static const char bad[] = "console text\n\303\303\303\303\303\303\303\307\303\303\303\303\303\303\303\303\303\303";
  ep_peer_opts *o = pf_collect(fake_opts(fake_peer_file(bad, sizeof bad - 1)), PF_STATE | PF_OUTPUT);
  collected *col = &PF.col;
  ep_peer *p;
  int rc = ep_peer_start_sync(c, o, true, &p);
  if (rc == 0) {
    while (!col->downs) ep_ctl_poll(c, 20);
    ck_assert_int_eq(col->down_err, EP_ECRC);
    ck_assert_str_eq(ep_peer_down_reason(p), "crc_mismatch");
    while (ep_peer_exit_status(p) < 0) ep_ctl_poll(c, 20);
    ck_assert_int_eq(ep_peer_exit_status(p), 128 + SIGKILL);
  } else {
    /* the garbage may arrive in the same read as the boot frames */
    ck_assert_int_eq(rc, EP_ECRC);
  }
  ck_assert(out_has(col, "console text\n"));
}
END_TEST

int main(void) {
  Suite *s = suite_create("peer");
  TCase *tc = tcase_create("alt");
  tcase_add_checked_fixture(tc, pf_setup, pf_teardown);
  tcase_set_timeout(tc, 120);
  EP_ADD_LOOP(tc, call_every_reply_class, 0, 2);
  EP_ADD_LOOP(tc, crash_class_from_killed_call, 0, 2);
  EP_ADD_LOOP(tc, cast_send_and_messages_back, 0, 2);
  EP_ADD_LOOP(tc, io_relay, 0, 2);
  EP_ADD(tc, init_debug_over_stdio);
  EP_ADD_LOOP(tc, peer_exit_detected, 0, 2);
  EP_ADD_LOOP(tc, peer_down_crash_is_sticky, 0, 2);
  EP_ADD_LOOP(tc, controller_sigkill_halts_peer, 0, 2);
  EP_ADD_LOOP(tc, garbage_and_truncated_frames, 0, 2);
  EP_ADD(tc, never_connects_back);
  EP_ADD_LOOP(tc, boot_failure_exit_status, 0, 2);
  EP_ADD_LOOP(tc, wait_boot_timeout_kills, 0, 2);
  EP_ADD_LOOP(tc, env_exec_wrapper_and_post_process, 0, 2);
  EP_ADD(tc, eight_concurrent_peers_one_loop);
  EP_ADD_LOOP(tc, restart_with_same_name, 0, 2);
  EP_ADD_LOOP(tc, shutdown_modes, 0, 2);
  EP_ADD_LOOP(tc, linked_peer_stops_with_controller, 0, 2);
  EP_ADD_LOOP(tc, newer_otp_peer_side, 0, 4);
  EP_ADD_LOOP(tc, wait_boot_none_async_and_stop_while_booting, 0, 2);
  EP_ADD(tc, attached_tcp_peer);
  EP_ADD_LOOP(tc, attached_tcp_stdin_is_a_held_pipe, 0, 3);
  EP_ADD(tc, shutdown_timeouts_kill_a_stuck_peer);
  EP_ADD(tc, garbage_on_a_running_connection);
  EP_ADD(tc, peer_closing_stdout_but_lingering);
  suite_add_tcase(s, tc);
  return ep_check_run(s, CK_NORMAL) ? EXIT_FAILURE : EXIT_SUCCESS;
}
