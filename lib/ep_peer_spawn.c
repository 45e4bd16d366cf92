/* ep_peer_spawn.c - a peer's command line and environment, its spawn
 * (after the controller's node is there, for dist peers), its process group,
 * its exit and the token that proves an OS pid is ours. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "ep_alt.h"
#include "ep_error.h"
#include "ep_etf.h"
#include "ep_ioserver_int.h"
#include "ep_peer_int.h"
#include "ep_text.h"

extern char **environ;
/* lib/ep_peer_alt.c: stderr (and an attached TCP peer's stdout) relayed as output. */
void ep__peer_err_read_start(ep_peer *p, uv_pipe_t *pipe);

/* --- process ---------------------------------------------------------------------------- */

static void on_proc_closed(uv_handle_t *h) { ep__peer_handle_closed(h); }

static void proc_on_exit(uv_process_t *proc, int64_t status, int sig) {
  ep_peer *p = proc->data;
  p->proc_alive = false;
  p->exit_status = sig ? 128 + sig : (int)status;
  uv_close((uv_handle_t *)proc, on_proc_closed);
  ep__peer_close_stdin(p); /* nobody reads it any more */
  char reason[64];
  snprintf(reason, sizeof reason, "{exit_status,%d}", p->exit_status);
  bool attached = p->o.conn == EP_PEER_CONN_STDIO || !p->o.detached;
  if (p->phase == EP__PH_STOPPING) {
    ep__peer_check_stop(p);
  } else if (p->phase == EP__PH_DOWN) {
    /* already down (e.g. garbage on the channel): now reaped */
  } else if (attached) {
    /* standard_io: the end of stdout decides (its last bytes may still be
     * in the pipe); it reports this exit status */
    if (p->o.conn != EP_PEER_CONN_STDIO || p->out_eof) ep__peer_go_down(p, EP_EPEERDOWN, reason);
  } else if (p->phase <= EP__PH_PID && !p->connected && p->exit_status != 0) {
    /* the launcher of a detached peer failed before the peer connected */
    ep__peer_go_down(p, EP_EBOOT, reason);
  }
  ep__peer_maybe_release(p);
}

static int build_env(ep_peer *p, ep__strv *env) {
  for (char **e = environ; *e; e++) {
    bool overridden = !strncmp(*e, "EP_PEER_TOKEN=", 14);
    for (size_t i = 0; i < p->o.env.n && !overridden; i++) {
      const char *eq = strchr(p->o.env.v[i], '=');
      size_t kl = (size_t)(eq - p->o.env.v[i]);
      if (!strncmp(*e, p->o.env.v[i], kl) && (*e)[kl] == '=') overridden = true;
    }
    if (!overridden && ep__strv_push(env, *e)) return EP_ENOMEM;
  }
  for (size_t i = 0; i < p->o.env.n; i++)
    if (ep__strv_push(env, p->o.env.v[i])) return EP_ENOMEM;
  char tok[96];
  snprintf(tok, sizeof tok, "EP_PEER_TOKEN=%s", p->token);
  return ep__strv_push(env, tok);
}

static int build_argv(ep_peer *p, ep__strv *argv) {
  int rc;
  const char *prog = p->o.prog ? p->o.prog : "erl";
  if ((rc = ep__strv_push(argv, prog))) return rc;
  for (size_t i = 0; i < p->o.pre_args.n; i++)
    if ((rc = ep__strv_push(argv, p->o.pre_args.v[i]))) return rc;
  if (p->o.name) {
    char full[600];
    if (p->o.host)
      snprintf(full, sizeof full, "%s@%s", p->o.name, p->o.host);
    else
      snprintf(full, sizeof full, "%s", p->o.name);
    if ((rc = ep__strv_push(argv, p->o.longnames ? "-name" : "-sname"))) return rc;
    if ((rc = ep__strv_push(argv, full))) return rc;
  }
  /* OTP 27's order: the user's args, then the start command; an OTP 25
   * peer does not mind. */
  for (size_t i = 0; i < p->o.args.n; i++)
    if ((rc = ep__strv_push(argv, p->o.args.v[i]))) return rc;
  if ((rc = p->vt->prepare(p, argv))) return rc;
  if (p->o.post_fn) {
    ep_peer_args out = {{0}, 0};
    out.v.mem = p->mem;
    rc = p->o.post_fn(argv->n - 1, (const char *const *)argv->v + 1, &out, p->o.post_ud);
    if (!rc) rc = out.err;
    if (rc) {
      ep__strv_free(&out.v);
      return rc;
    }
    ep__strv nv = {0};
    nv.mem = p->mem;
    if ((rc = ep__strv_push(&nv, prog))) {
      ep__strv_free(&out.v);
      return rc;
    }
    for (size_t i = 0; i < out.v.n && !rc; i++) rc = ep__strv_push(&nv, out.v.v[i]);
    ep__strv_free(&out.v);
    if (rc) {
      ep__strv_free(&nv);
      return rc;
    }
    ep__strv_free(argv);
    *argv = nv;
  }
  return 0;
}

static void on_boot_timeout(uv_timer_t *t) {
  ep_peer *p = t->data;
  ep__peer_kick(p);
  if (p->phase <= EP__PH_PID) ep__peer_go_down(p, EP_ETIMEDOUT, "timeout");
}

/* --- start ----------------------------------------------------------------------------------- */

/* Builds the command line and spawns the peer. An error leaves the handles
 * for the caller to close. */
static int launch(ep_peer *p) {
  ep__strv argv = {0}, env = {0};
  argv.mem = env.mem = p->mem;
  int rc = build_argv(p, &argv);
  if (!rc) rc = build_env(p, &env);
  bool attached_tcp = p->o.conn == EP_PEER_CONN_TCP && !p->o.detached;
  if (!rc && (p->o.conn == EP_PEER_CONN_STDIO || attached_tcp)) {
    if (uv_pipe_init(p->loop, &p->out_err, 0) == 0) {
      p->out_err.data = p;
      p->open_handles++;
      p->err_open = true;
    } else {
      rc = EP_ESYS;
    }
  }
  if (!rc && attached_tcp) {
    if (uv_pipe_init(p->loop, &p->out_std, 0) == 0) {
      p->out_std.data = p;
      p->open_handles++;
      p->std_open = true;
    } else {
      rc = EP_ESYS;
    }
  }
  /* stdin of an attached TCP peer: a pipe held open for the peer's life.
   * An OTP 27+ peer started without -peer_detached runs its normal terminal
   * (user_sup:init) on fd 0/1, which is an interactive shell unless the
   * user passes -noshell; that shell halts the node when it reads EOF, so
   * a /dev/null stdin killed the peer right after its boot (a race with
   * the caller's first calls). OTP's own peer hands it a pipe too, but
   * closes the port (both pipes) at once: there the shell dies on its first
   * write to stdout (epipe) before it reads, so the node survives without
   * a terminal. We relay stdout, so the terminal lives: it must not see
   * EOF. A real pipe (not libuv's socketpair), as OTP's spawn driver gives;
   * both ends close-on-exec so no other child inherits the write end. */
  int stdin_rfd = -1;
  if (!rc && attached_tcp) {
    uv_file fds[2];
    int pr = uv_pipe(fds, 0, 0);
    if (pr) {
      rc = ep_err_from_errno(pr);
    } else {
      stdin_rfd = fds[0];
      p->stdin_wfd = fds[1];
    }
  }
  if (!rc) {
    uv_stdio_container_t io[3];
    memset(io, 0, sizeof io);
    if (p->o.conn == EP_PEER_CONN_STDIO) {
      p->vt->stdio(p, io);
      io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
      io[2].data.stream = (uv_stream_t *)&p->out_err;
    } else if (attached_tcp) {
      io[0].flags = UV_INHERIT_FD;
      io[0].data.fd = stdin_rfd;
      io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
      io[1].data.stream = (uv_stream_t *)&p->out_std;
      io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
      io[2].data.stream = (uv_stream_t *)&p->out_err;
    } else {
      io[0].flags = io[1].flags = io[2].flags = UV_IGNORE;
    }
    uv_process_options_t po;
    memset(&po, 0, sizeof po);
    po.file = argv.v[0];
    po.args = argv.v;
    po.env = env.v;
    po.exit_cb = proc_on_exit;
    po.stdio = io;
    po.stdio_count = 3;
    /* A dist peer runs with -noinput (not erl's -detached, so a boot
     * failure is seen at once): give it its own session as -detached's
     * setsid() would, so it does not share the controller's scheduling
     * group (autogroup) with every other peer. It still dies with the
     * controller: its control connection drops. A wrapper gets one too,
     * so that a kill reaches its children (ep__peer_own_group, ep__peer_kill_process). */
    if (ep__peer_own_group(p)) po.flags |= UV_PROCESS_DETACHED;
    p->proc.data = p;
    int src = uv_spawn(p->loop, &p->proc, &po);
    if (src) {
      rc = src == UV_ENOENT || src == UV_EACCES ? EP_ESPAWN : ep_err_from_errno(src);
      if (rc == EP_ESYS) rc = EP_ESPAWN;
      /* uv_spawn failed: the handle still needs closing */
      p->open_handles++;
      uv_close((uv_handle_t *)&p->proc, ep__peer_handle_closed);
    } else {
      p->open_handles++;
      p->proc_alive = true;
      p->proc_started = true;
    }
  }
  ep__strv_free(&env);
  if (stdin_rfd >= 0) close(stdin_rfd); /* the child has its copy */
  if (!rc) {
    p->argv = argv.v; /* keep for ep_peer_argv */
    argv.v = NULL;
    argv.n = 0;
    rc = p->vt->spawned(p);
    if (p->err_open) ep__peer_err_read_start(p, &p->out_err);
    if (p->std_open) ep__peer_err_read_start(p, &p->out_std);
  }
  ep__strv_free(&argv);
  if (!rc) p->launched = true;
  return rc;
}

/* The controller's node is up (status 0) or could not be had. */
void ep__peer_node_ready(ep_peer *p, int status) {
  if (p->freed || p->phase != EP__PH_BOOT || p->launched) return;
  ep__peer_kick(p);
  int rc = status ? status : launch(p);
  if (rc) {
    const char *why = rc == EP_EBADNAME && p->ctl->last_reason[0] ? p->ctl->last_reason : ep_strerror(rc);
    ep__peer_go_down(p, rc, why);
  }
}

int ep_peer_start(ep_ctl *ctl, const ep_peer_opts *o, bool link, ep_peer **out,
                  ep_peer_start_cb cb, void *ud) {
  if (out) *out = NULL;
  if (!ctl || !o || ctl->freed) return EP_EINVAL;
  ep_peer_conn conn = o->conn;
  if (!o->conn_set) {
    /* the reference: no connection and no name is `not_alive`; a name
     * without connection means the distribution */
    if (!o->name) return EP_EINVAL;
    conn = EP_PEER_CONN_DIST;
  }
  if (conn == EP_PEER_CONN_DIST && !ctl->node && !ctl->node_busy && !ctl->sloop) return EP_ENEEDNODE;
  /* the reference: {detached, cannot_detach_with_standard_io} */
  if (!o->detached && conn == EP_PEER_CONN_STDIO) return EP_EINVAL;
  if (o->host && !o->name) return EP_EINVAL; /* no origin node name to borrow */

  ep_peer *p = ep_malloc(ctl->mem, sizeof *p);
  if (!p) return EP_ENOMEM;
  memset(p, 0, sizeof *p);
  p->mem = ctl->mem;
  if (ep__peer_opts_copy(&p->o, o, p->mem)) {
    ep_free(p->mem, p);
    return EP_ENOMEM;
  }
  p->o.conn = conn;
  p->ctl = ctl;
  p->loop = ctl->loop;
  p->linked = link;
  p->exit_status = -1;
  p->pidfd = -1;
  p->stdin_wfd = -1;
  p->next_seq = 1;
  p->start_cb = cb;
  p->start_ud = ud;
  p->vt = conn == EP_PEER_CONN_TCP ? &ep__peer_tcp_vt : conn == EP_PEER_CONN_DIST ? &ep__peer_dist_vt : &ep__peer_stdio_vt;
  if (conn == EP_PEER_CONN_DIST && !p->o.name) {
    /* The reference's default: a unique random name. */
    char nm[128];
    if (ep_peer_random_name("peer", nm, sizeof nm) == 0) p->o.name = ep__peer_strdup(p->mem, nm);
  }
  {
    static atomic_uint_fast64_t tokn;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(p->token, sizeof p->token, "%ld-%llu-%ld%09ld", (long)getpid(),
             (unsigned long long)atomic_fetch_add(&tokn, 1), (long)ts.tv_sec, ts.tv_nsec);
  }
  p->next_in_ctl = ctl->peers;
  if (ctl->peers) ctl->peers->prev_in_ctl = p;
  ctl->peers = p;
  ctl->npeers++;

  /* The controller's timers come with its first peer (a controller that
   * never starts one touches no loop). */
  if (!ctl->tm.open) ep__timers_init(&ctl->tm, ctl->loop, ctl->mem);
  uv_timer_t *timers[] = {&p->t_boot, &p->t_stop, &p->t_defer};
  for (size_t i = 0; i < 3; i++) {
    uv_timer_init(p->loop, timers[i]);
    timers[i]->data = p;
    p->open_handles++;
  }

  /* A dist peer may have to wait for the controller's node. */
  int rc = conn == EP_PEER_CONN_DIST ? ep__ctl_node_for(ctl, p) : 0;
  if (rc == EP__NODE_PENDING) rc = 0;
  else if (!rc) rc = launch(p);
  if (rc) {
    /* nothing may be left behind and cb is never called */
    p->start_cb = NULL;
    p->o.state_cb = NULL;
    p->o.output_cb = NULL;
    p->o.message_cb = NULL;
    p->start_cb_done = true;
    p->phase = EP__PH_DOWN;
    p->state = EP_PEER_DOWN;
    ep__peer_kill_process(p);
    p->freed = true;
    ep__peer_maybe_release(p);
    return rc;
  }
  if (p->o.wait_boot != EP_INFINITY && p->o.wait_boot != EP_PEER_WAIT_NONE)
    uv_timer_start(&p->t_boot, on_boot_timeout, p->o.wait_boot, 0);
  if (conn == EP_PEER_CONN_TCP && p->o.accept_ms != EP_INFINITY) uv_timer_start(&p->t_stop, ep__peer_on_stop_timeout, p->o.accept_ms, 0);
  if (p->o.wait_boot == EP_PEER_WAIT_NONE) {
    p->defer_start_cb = true;
    p->defer_start_err = 0;
    uv_timer_start(&p->t_defer, ep__peer_on_defer, 0, 0);
  }
  if (out) *out = p;
  return 0;
}

