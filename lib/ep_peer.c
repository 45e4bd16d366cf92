/* ep_peer.c - the peer controller, independent of the control connection.
 * See ep_peer_int.h for the state machine and the connection interface. */
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

/* --- small helpers ------------------------------------------------------------ */

char *ep__peer_strdup(const ep_mem *mem, const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = ep_malloc(mem, n);
  if (d) memcpy(d, s, n);
  return d;
}

int ep__strv_push(ep__strv *s, const char *str) {
  if (s->n + 2 > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 8;
    char **v = ep_realloc(s->mem, s->v, cap * sizeof *v);
    if (!v) return EP_ENOMEM;
    s->v = v;
    s->cap = cap;
  }
  char *d = ep__peer_strdup(s->mem, str);
  if (!d) return EP_ENOMEM;
  s->v[s->n++] = d;
  s->v[s->n] = NULL;
  return 0;
}

void ep__strv_free(ep__strv *s) {
  const ep_mem *mem = s->mem;
  for (size_t i = 0; i < s->n; i++) ep_free(mem, s->v[i]);
  ep_free(mem, s->v);
  memset(s, 0, sizeof *s);
  s->mem = mem; /* empty, and ready for more from the same allocator */
}

static int strv_copy(ep__strv *d, const ep__strv *s, const ep_mem *mem) {
  memset(d, 0, sizeof *d);
  d->mem = mem;
  for (size_t i = 0; i < s->n; i++)
    if (ep__strv_push(d, s->v[i])) return EP_ENOMEM;
  return 0;
}

/* --- options --------------------------------------------------------------------- */

ep_peer_opts *ep_peer_opts_new(void) {
  ep_peer_opts *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->wait_boot = EP_PEER_DEFAULT_WAIT_MS;
  o->accept_ms = 60000;
  o->shutdown = EP_PEER_SHUTDOWN_HALT;
  o->shutdown_ms = 5000;
  o->detached = true;
  return o;
}

void ep__peer_opts_clear(ep_peer_opts *o) {
  ep_free(o->mem, o->name);
  ep_free(o->mem, o->host);
  ep_free(o->mem, o->tcp_ip);
  ep_free(o->mem, o->prog);
  o->name = o->host = o->tcp_ip = o->prog = NULL;
  ep__strv_free(&o->pre_args);
  ep__strv_free(&o->args);
  ep__strv_free(&o->env);
}

void ep_peer_opts_free(ep_peer_opts *o) {
  if (!o) return;
  ep__peer_opts_clear(o);
  free(o);
}

int ep__peer_opts_copy(ep_peer_opts *d, const ep_peer_opts *s, const ep_mem *mem) {
  *d = *s;
  d->mem = mem;
  d->name = NULL, d->host = NULL, d->tcp_ip = NULL, d->prog = NULL;
  memset(&d->pre_args, 0, sizeof d->pre_args);
  memset(&d->args, 0, sizeof d->args);
  memset(&d->env, 0, sizeof d->env);
  d->pre_args.mem = d->args.mem = d->env.mem = mem;
  if ((s->name && !(d->name = ep__peer_strdup(mem, s->name))) ||
      (s->host && !(d->host = ep__peer_strdup(mem, s->host))) ||
      (s->tcp_ip && !(d->tcp_ip = ep__peer_strdup(mem, s->tcp_ip))) ||
      (s->prog && !(d->prog = ep__peer_strdup(mem, s->prog))) || strv_copy(&d->pre_args, &s->pre_args, mem) ||
      strv_copy(&d->args, &s->args, mem) || strv_copy(&d->env, &s->env, mem)) {
    ep__peer_opts_clear(d);
    return EP_ENOMEM;
  }
  return 0;
}

static int set_str(const ep_mem *mem, char **dst, const char *s) {
  char *d = NULL;
  if (s && !(d = ep__peer_strdup(mem, s))) return EP_ENOMEM;
  ep_free(mem, *dst);
  *dst = d;
  return 0;
}

static int valid_name(const char *s) {
  if (!s || !*s || strlen(s) > 255) return 0;
  for (const char *c = s; *c; c++)
    if (*c == '@' || *c == ' ' || *c == '\n' || *c == '\t') return 0;
  return 1;
}

int ep_peer_opts_set_name(ep_peer_opts *o, const char *name) {
  if (!o || (name && !valid_name(name))) return EP_EINVAL;
  return set_str(o->mem, &o->name, name);
}

int ep_peer_opts_set_host(ep_peer_opts *o, const char *host) {
  if (!o || (host && (!*host || strchr(host, '@') || strlen(host) > 255))) return EP_EINVAL;
  return set_str(o->mem, &o->host, host);
}

int ep_peer_opts_set_longnames(ep_peer_opts *o, bool l) {
  if (!o) return EP_EINVAL;
  o->longnames = l;
  return 0;
}

int ep_peer_opts_set_connection_tcp(ep_peer_opts *o, const char *ip, int port) {
  if (!o || port < 0 || port > 65535) return EP_EINVAL;
  if (ip) {
    unsigned char tmp[16];
    if (inet_pton(AF_INET, ip, tmp) != 1 && inet_pton(AF_INET6, ip, tmp) != 1) return EP_EINVAL;
  }
  int rc = set_str(o->mem, &o->tcp_ip, ip);
  if (rc) return rc;
  o->conn = EP_PEER_CONN_TCP;
  o->conn_set = true;
  o->tcp_port = port;
  return 0;
}

int ep_peer_opts_set_connection_stdio(ep_peer_opts *o) {
  if (!o) return EP_EINVAL;
  o->conn = EP_PEER_CONN_STDIO;
  o->conn_set = true;
  return 0;
}

int ep_peer_opts_set_connection_dist(ep_peer_opts *o) {
  if (!o) return EP_EINVAL;
  o->conn = EP_PEER_CONN_DIST;
  o->conn_set = true;
  return 0;
}

int ep_peer_opts_set_exec(ep_peer_opts *o, const char *prog, const char *const *pre) {
  if (!o || !prog || !*prog) return EP_EINVAL;
  ep__strv v = {0};
  v.mem = o->mem;
  for (size_t i = 0; pre && pre[i]; i++)
    if (ep__strv_push(&v, pre[i])) {
      ep__strv_free(&v);
      return EP_ENOMEM;
    }
  int rc = set_str(o->mem, &o->prog, prog);
  if (rc) {
    ep__strv_free(&v);
    return rc;
  }
  ep__strv_free(&o->pre_args);
  o->pre_args = v;
  return 0;
}

int ep_peer_opts_add_arg(ep_peer_opts *o, const char *arg) {
  if (!o || !arg) return EP_EINVAL;
  return ep__strv_push(&o->args, arg);
}

int ep_peer_opts_set_env(ep_peer_opts *o, const char *k, const char *v) {
  if (!o || !k || !*k || strchr(k, '=') || !v) return EP_EINVAL;
  size_t kl = strlen(k);
  char *kv = ep_malloc(o->mem, kl + strlen(v) + 2);
  if (!kv) return EP_ENOMEM;
  sprintf(kv, "%s=%s", k, v);
  for (size_t i = 0; i < o->env.n; i++)
    if (!strncmp(o->env.v[i], k, kl) && o->env.v[i][kl] == '=') {
      ep_free(o->mem, o->env.v[i]);
      o->env.v[i] = kv;
      return 0;
    }
  int rc = ep__strv_push(&o->env, kv);
  ep_free(o->mem, kv);
  return rc;
}

int ep_peer_opts_set_wait_boot(ep_peer_opts *o, int64_t ms) {
  if (!o || (ms <= 0 && ms != EP_PEER_WAIT_ASYNC && ms != EP_PEER_WAIT_NONE) || ms > UINT32_MAX)
    return EP_EINVAL;
  o->wait_boot = ms;
  return 0;
}

int ep_peer_opts_set_accept_timeout(ep_peer_opts *o, uint32_t ms) {
  if (!o || ms == 0) return EP_EINVAL;
  o->accept_ms = ms;
  return 0;
}

int ep_peer_opts_set_shutdown(ep_peer_opts *o, ep_peer_shutdown mode, uint32_t ms) {
  if (!o || mode > EP_PEER_SHUTDOWN_STOP) return EP_EINVAL;
  /* The reference's disconnect_timeout(): 1000..2^32-1 or infinity. */
  if (mode != EP_PEER_SHUTDOWN_CLOSE && ms < 1000) return EP_EINVAL;
  o->shutdown = mode;
  o->shutdown_ms = ms;
  return 0;
}

int ep_peer_opts_set_peer_down(ep_peer_opts *o, ep_peer_down_mode m) {
  if (!o || m > EP_PEER_DOWN_CRASH) return EP_EINVAL;
  o->peer_down = m;
  return 0;
}

int ep_peer_opts_set_detached(ep_peer_opts *o, bool d) {
  if (!o) return EP_EINVAL;
  o->detached = d;
  return 0;
}

int ep_peer_opts_set_post_process_args(ep_peer_opts *o, ep_peer_args_fn fn, void *ud) {
  if (!o) return EP_EINVAL;
  o->post_fn = fn;
  o->post_ud = ud;
  return 0;
}

int ep_peer_args_push(ep_peer_args *out, const char *arg) {
  if (!out || !arg) return EP_EINVAL;
  int rc = ep__strv_push(&out->v, arg);
  if (rc) out->err = rc;
  return rc;
}

int ep_peer_opts_set_output(ep_peer_opts *o, ep_peer_output_cb cb, void *ud) {
  if (!o) return EP_EINVAL;
  o->output_cb = cb;
  o->output_ud = ud;
  return 0;
}

int ep_peer_opts_set_message(ep_peer_opts *o, ep_peer_message_cb cb, void *ud) {
  if (!o) return EP_EINVAL;
  o->message_cb = cb;
  o->message_ud = ud;
  return 0;
}

int ep_peer_opts_set_state_cb(ep_peer_opts *o, ep_peer_state_cb cb, void *ud) {
  if (!o) return EP_EINVAL;
  o->state_cb = cb;
  o->state_ud = ud;
  return 0;
}

/* --- names ---------------------------------------------------------------------------- */

int ep_peer_random_name(const char *prefix, char *buf, size_t cap) {
  static atomic_uint_fast64_t counter;
  /* The reference uses erlang:unique_integer([positive]) and the OS pid: the
   * pid makes names unique across controllers, the counter within one. */
  uint64_t n = atomic_fetch_add(&counter, 1) + 1;
  int len = snprintf(buf, cap, "%s-%llu-%ld", prefix ? prefix : "peer", (unsigned long long)n,
                     (long)getpid());
  if (len < 0 || (size_t)len >= cap) return EP_ERANGE;
  return 0;
}

/* --- controller ------------------------------------------------------------------------- */

ep_ctl *ep__ctl_create(uv_loop_t *loop, struct ep__sloop *sloop, const ep_mem *mem) {
  if (!mem) mem = ep_mem_default();
  ep_ctl *c = ep_malloc(mem, sizeof *c);
  if (!c) return NULL;
  memset(c, 0, sizeof *c);
  c->mem = mem;
  c->loop = loop;
  c->sloop = sloop;
  return c;
}

uv_loop_t *ep_ctl_loop(ep_ctl *c) { return c ? c->loop : NULL; }

static void ctl_timers_closed(void *ud) {
  ep_ctl *c = ud;
  if (!c->sloop) ep_free(c->mem, c); /* else ep_ctl_free frees it with its loop */
}

/* Once freed with no peer left: its timers close, then it goes. */
static void ctl_maybe_free(ep_ctl *c) {
  if (c && c->freed && c->npeers == 0) ep__timers_close(&c->tm, ctl_timers_closed, c);
}

/* --- peer lifecycle ----------------------------------------------------------------------- */

/* The peer's terminal sees EOF from here on (an OTP 27+ shell halts its
 * node then): only once the peer is gone or being let go. */
static void close_stdin(ep_peer *p) {
  if (p->stdin_wfd >= 0) {
    close(p->stdin_wfd);
    p->stdin_wfd = -1;
  }
}

/* Every call leaves through here, or through free_call: its deadline goes
 * with it. */
static void free_call(ep_peer *p, ep__call *c) {
  ep__timers_cancel(&p->ctl->tm, &c->dl);
  ep_free(p->mem, c);
}

static void free_call_list(ep_peer *p, ep__call *c) {
  while (c) {
    ep__call *n = c->next;
    free_call(p, c);
    c = n;
  }
}

static void peer_release_memory(ep_peer *p) {
  free_call_list(p, p->calls_head);
  free_call_list(p, p->cancelled);
  const ep_mem *mem = p->mem;
  ep_ctl *ctl = p->ctl;
  if (ctl) {
    if (p->prev_in_ctl)
      p->prev_in_ctl->next_in_ctl = p->next_in_ctl;
    else
      ctl->peers = p->next_in_ctl;
    if (p->next_in_ctl) p->next_in_ctl->prev_in_ctl = p->prev_in_ctl;
    ctl->npeers--;
  }
  if (p->pidfd >= 0) close(p->pidfd);
  close_stdin(p); /* normally done already (reaped or stopped) */
  if (p->vt && p->vt->release) p->vt->release(p);
  if (p->argv) {
    for (size_t i = 0; p->argv[i]; i++) ep_free(mem, p->argv[i]);
    ep_free(mem, p->argv);
  }
  ep_free(mem, p->node);
  ep__peer_opts_clear(&p->o);
  ep_free(mem, p);
  ctl_maybe_free(ctl);
}

void ep__peer_handle_closed(uv_handle_t *h) {
  ep_peer *p = h->data;
  p->open_handles--;
  if (p->freed && p->open_handles == 0) peer_release_memory(p);
}

static void close_timer(ep_peer *p, uv_timer_t *t) {
  if (!uv_is_closing((uv_handle_t *)t)) uv_close((uv_handle_t *)t, ep__peer_handle_closed);
}

static void close_conn_handles(ep_peer *p) {
  if (p->vt) p->vt->close_handles(p);
  close_stdin(p);
  if (p->err_open) {
    p->err_open = false;
    uv_close((uv_handle_t *)&p->out_err, ep__peer_handle_closed);
  }
  if (p->std_open) {
    p->std_open = false;
    uv_close((uv_handle_t *)&p->out_std, ep__peer_handle_closed);
  }
  if (p->pidpoll_active) {
    p->pidpoll_active = false;
    uv_close((uv_handle_t *)&p->pidpoll, ep__peer_handle_closed);
  }
}

/* Closes everything once the handle is freed and nothing needs the loop:
 * the process handle stays until the child was reaped (no zombies). */
static void maybe_release(ep_peer *p) {
  if (!p->freed || p->proc_alive) return;
  close_conn_handles(p);
  close_timer(p, &p->t_boot);
  close_timer(p, &p->t_stop);
  close_timer(p, &p->t_defer);
}

/* Every timer callback of the peer calls this before it runs anything (a
 * 0 ms deferral, a deadline that passed while the caller was busy): the
 * controller's kicker keeps the caller's UV_RUN_ONCE from blocking in this
 * turn's poll (lib/ep_deadline_int.h; the calls' deadline timer kicks by
 * itself). */
static void peer_kick(ep_peer *p) {
  if (!p->freed) ep__timers_kick(&p->ctl->tm); /* freed: no callback runs any more */
}

/* Process groups. A dist peer runs in its own session (setsid, as erl's
 * -detached would), and so does a peer of any connection started through
 * an exec wrapper: the wrapper may fork (`sleep 20; exec erl "$@"`, or an
 * erl it runs without exec), and killing the wrapper alone left its
 * children behind with PPID 1. The session's process group is then all we
 * started, and every kill (boot timeout, forced stop, free) takes the whole
 * group. Only while our child, its leader, is unreaped: until then its pid
 * cannot name anyone else's group. */
static bool own_group(const ep_peer *p) { return p->vt->own_session || p->o.prog; }

static void kill_process(ep_peer *p) {
  if (!p->proc_alive) return;
  if (own_group(p) && p->proc.pid > 0) kill(-(pid_t)p->proc.pid, SIGKILL);
  uv_process_kill(&p->proc, SIGKILL);
}

static void fail_calls(ep_peer *p, int err) {
  while (p->calls_head) {
    ep__call *c = p->calls_head;
    p->calls_head = c->next;
    if (p->calls_head)
      p->calls_head->prev = NULL;
    else
      p->calls_tail = NULL;
    p->ncalls--;
    ep__timers_cancel(&p->ctl->tm, &c->dl);
    if (!c->internal && c->cb && !p->freed) {
      ep_peer_result r = {err, ep_none(), ep_none(), ep_none(), ep_none(), NULL};
      c->cb(p, &r, c->ud);
    }
    ep_free(p->mem, c);
  }
}

static void fire_start(ep_peer *p, int err) {
  if (p->start_cb_done) return;
  p->start_cb_done = true;
  if (p->start_cb && !p->freed) p->start_cb(p, err, p->start_ud);
}

static void set_reason(ep_peer *p, const char *r) {
  snprintf(p->down_reason, sizeof p->down_reason, "%s", r);
}

static void force_kill(ep_peer *p);

/* The one transition to DOWN (except a completed stop, see stop_done). */
static void go_down(ep_peer *p, int err, const char *reason) {
  if (p->phase == EP__PH_DOWN) return;
  bool booting = p->phase <= EP__PH_PID;
  p->phase = EP__PH_DOWN;
  p->state = EP_PEER_DOWN;
  if (booting && err == EP_EPEERDOWN) err = EP_EBOOT;
  if (!booting && p->o.peer_down == EP_PEER_DOWN_CRASH) {
    p->crashed = true;
    err = EP_EPEERCRASH;
  }
  p->down_err = err;
  set_reason(p, reason);
  uv_timer_stop(&p->t_boot);
  if (p->vt) p->vt->close(p);
  /* garbage on the channel, a boot timeout: the peer cannot be trusted to
   * halt by itself */
  if (err != EP_EPEERDOWN && err != EP_EBOOT && err != EP_EPEERCRASH) force_kill(p);
  if (p->o.state_cb && !p->freed) p->o.state_cb(p, EP_PEER_DOWN, err, p->o.state_ud);
  /* out of memory (a reply that could not be read): the calls say so */
  fail_calls(p, p->crashed ? EP_EPEERCRASH : err == EP_ENOMEM ? EP_ENOMEM : EP_EPEERDOWN);
  if (booting) fire_start(p, err);
  maybe_release(p);
}

static void become_running(ep_peer *p) {
  p->phase = EP__PH_RUN;
  p->state = EP_PEER_RUNNING;
  uv_timer_stop(&p->t_boot);
  if (p->o.state_cb && !p->freed) p->o.state_cb(p, EP_PEER_RUNNING, 0, p->o.state_ud);
  fire_start(p, 0);
}

/* --- shutdown ------------------------------------------------------------------------------ */

static int peer_gone(ep_peer *p) {
  if (p->proc_alive) return 0;
  if (p->o.conn == EP_PEER_CONN_STDIO || !p->o.detached) return 1;
  if (p->os_pid > 0) return p->pid_gone;
  return 1; /* nothing we can watch: a remote or unverified emulator */
}

static void run_deferred(ep_peer *p);

static void stop_done(ep_peer *p) {
  run_deferred(p); /* the stop's callback comes last */
  uv_timer_stop(&p->t_stop);
  p->phase = EP__PH_DOWN;
  p->state = EP_PEER_DOWN;
  if (!p->down_err) {
    p->down_err = EP_ECLOSED;
    set_reason(p, "stopped");
  }
  if (p->vt) p->vt->close(p);
  close_conn_handles(p);
  if (p->o.state_cb && !p->freed) p->o.state_cb(p, EP_PEER_DOWN, p->down_err, p->o.state_ud);
  if (p->stop_cb && !p->freed) {
    ep_peer_stop_cb cb = p->stop_cb;
    p->stop_cb = NULL;
    cb(p, p->stop_ud);
  }
  maybe_release(p);
}

static void check_stop(ep_peer *p) {
  if (p->phase != EP__PH_STOPPING) return;
  switch (p->o.shutdown) {
    case EP_PEER_SHUTDOWN_CLOSE:
      stop_done(p);
      return;
    case EP_PEER_SHUTDOWN_HALT:
      if (peer_gone(p)) stop_done(p);
      return;
    default:
      if (!p->vt->is_open(p) && peer_gone(p)) stop_done(p);
      return;
  }
}

static void on_pidfd(uv_poll_t *h, int status, int events) {
  ep_peer *p = h->data;
  p->pid_gone = true;
  uv_poll_stop(h);
  check_stop(p);
}

static void watch_pid(ep_peer *p) {
#ifdef SYS_pidfd_open
  if (p->os_pid <= 0 || p->pidpoll_active || p->o.conn == EP_PEER_CONN_STDIO || !p->o.detached)
    return;
  int fd = (int)syscall(SYS_pidfd_open, (pid_t)p->os_pid, 0);
  if (fd < 0) {
    if (errno == ESRCH) p->pid_gone = true;
    return;
  }
  p->pidfd = fd;
  if (uv_poll_init(p->loop, &p->pidpoll, fd)) return;
  p->pidpoll.data = p;
  p->open_handles++;
  p->pidpoll_active = true;
  uv_poll_start(&p->pidpoll, UV_READABLE, on_pidfd);
#endif
}

static void force_kill(ep_peer *p) {
  kill_process(p);
  if (p->os_pid > 0 && !p->pid_gone) kill((pid_t)p->os_pid, SIGKILL);
}

static void on_stop_timeout(uv_timer_t *t) {
  ep_peer *p = t->data;
  peer_kick(p);
  if (p->phase == EP__PH_STOPPING) {
    /* Past the timeout: take the connection down and make sure the
     * emulator is gone (the reference forces the disconnect). */
    p->vt->close(p);
    force_kill(p);
    if (!p->proc_alive) stop_done(p);
    /* else: stop_done when the child is reaped */
    return;
  }
  /* booting: the accept timeout of a TCP peer */
  if (p->phase <= EP__PH_PID && !p->connected && p->o.conn == EP_PEER_CONN_TCP)
    go_down(p, EP_ENOCONNECT, "accept_timeout");
  else if (!p->vt->is_open(p))
    force_kill(p); /* closed its channel but lingers: its exit then reports */
}

/* What is owed from the loop: the start (wait_boot none, or cancelled by
 * a stop), then the calls a stop closed. Before a stop's callback. */
static void run_deferred(ep_peer *p) {
  if (p->defer_start_cb) {
    p->defer_start_cb = false;
    fire_start(p, p->defer_start_err);
  }
  while (p->cancelled) {
    ep__call *c = p->cancelled;
    p->cancelled = c->next;
    if (!c->internal && c->cb && !p->freed) {
      ep_peer_result r = {EP_ECLOSED, ep_none(), ep_none(), ep_none(), ep_none(), NULL};
      c->cb(p, &r, c->ud);
    }
    ep_free(p->mem, c); /* its deadline went when it was cancelled */
  }
}

static void on_defer(uv_timer_t *t) {
  ep_peer *p = t->data;
  peer_kick(p);
  run_deferred(p);
  if (p->stop_pending_cb) {
    p->stop_pending_cb = false;
    if (p->phase == EP__PH_STOPPING)
      check_stop(p);
    else if (p->stop_cb && !p->freed) {
      ep_peer_stop_cb cb = p->stop_cb;
      p->stop_cb = NULL;
      cb(p, p->stop_ud);
    }
  }
}

int ep_peer_stop(ep_peer *p, ep_peer_stop_cb cb, void *ud) {
  if (!p || p->freed) return EP_EINVAL;
  if (p->phase == EP__PH_STOPPING || p->stop_cb) return EP_ESTATE;
  p->stop_cb = cb;
  p->stop_ud = ud;
  if (p->phase == EP__PH_DOWN) {
    p->stop_pending_cb = true;
    uv_timer_start(&p->t_defer, on_defer, 0, 0);
    return 0;
  }
  bool was_booting = p->phase <= EP__PH_PID;
  p->phase = EP__PH_STOPPING;
  uv_timer_stop(&p->t_boot);
  /* The calls in flight fail with EP_ECLOSED and a start still booting
   * with EP_ECANCELED, from the loop (on_defer below, or stop_done if the
   * stop completes first): never inside this function. A reply that
   * arrives meanwhile finds no call and is dropped. */
  for (ep__call *c = p->calls_head; c; c = c->next) ep__timers_cancel(&p->ctl->tm, &c->dl);
  if (p->calls_head) {
    p->calls_tail->next = p->cancelled;
    p->cancelled = p->calls_head;
    p->calls_head = p->calls_tail = NULL;
    p->ncalls = 0;
  }
  if (was_booting && !p->start_cb_done) {
    p->defer_start_cb = true;
    p->defer_start_err = EP_ECANCELED;
  }
  watch_pid(p);
  uint32_t ms = p->o.shutdown_ms;
  if (p->vt->shutdown) {
    if (p->vt->shutdown(p, p->o.shutdown)) p->vt->close(p);
  } else switch (p->o.shutdown) {
    case EP_PEER_SHUTDOWN_CLOSE:
      p->vt->close(p);
      break;
    case EP_PEER_SHUTDOWN_HALT:
      p->vt->close(p);
      break;
    default:
      /* a cast that cannot be sent (out of memory): closing makes it halt */
      if (!p->vt->is_open(p) || p->vt->cast(p, ep_atom("init"), ep_atom("stop"), ep_nil()) != 0)
        p->vt->close(p);
      break;
  }
  if (p->o.shutdown != EP_PEER_SHUTDOWN_CLOSE && ms != EP_PEER_INFINITY)
    uv_timer_start(&p->t_stop, on_stop_timeout, ms, 0);
  p->stop_pending_cb = true; /* re-checked from the loop: cb never inline */
  uv_timer_start(&p->t_defer, on_defer, 0, 0);
  return 0;
}

void ep_peer_free(ep_peer *p) {
  if (!p || p->freed) return;
  if (p->phase != EP__PH_DOWN) {
    if (p->vt) p->vt->close(p);
    /* a child we own must be reaped: make sure it goes */
    kill_process(p);
    p->phase = EP__PH_DOWN;
    p->state = EP_PEER_DOWN;
  }
  p->freed = true;
  maybe_release(p);
}

/* --- process ---------------------------------------------------------------------------- */

static void on_proc_closed(uv_handle_t *h) { ep__peer_handle_closed(h); }

static void proc_on_exit(uv_process_t *proc, int64_t status, int sig) {
  ep_peer *p = proc->data;
  p->proc_alive = false;
  p->exit_status = sig ? 128 + sig : (int)status;
  uv_close((uv_handle_t *)proc, on_proc_closed);
  close_stdin(p); /* nobody reads it any more */
  char reason[64];
  snprintf(reason, sizeof reason, "{exit_status,%d}", p->exit_status);
  bool attached = p->o.conn == EP_PEER_CONN_STDIO || !p->o.detached;
  if (p->phase == EP__PH_STOPPING) {
    check_stop(p);
  } else if (p->phase == EP__PH_DOWN) {
    /* already down (e.g. garbage on the channel): now reaped */
  } else if (attached) {
    /* standard_io: the end of stdout decides (its last bytes may still be
     * in the pipe); it reports this exit status */
    if (p->o.conn != EP_PEER_CONN_STDIO || p->out_eof) go_down(p, EP_EPEERDOWN, reason);
  } else if (p->phase <= EP__PH_PID && !p->connected && p->exit_status != 0) {
    /* the launcher of a detached peer failed before the peer connected */
    go_down(p, EP_EBOOT, reason);
  }
  maybe_release(p);
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
  peer_kick(p);
  if (p->phase <= EP__PH_PID) go_down(p, EP_ETIMEDOUT, "timeout");
}

/* --- incoming control messages ---------------------------------------------------------- */

void ep__peer_on_output(ep_peer *p, const char *text, size_t n) {
  if (n && p->o.output_cb && !p->freed) p->o.output_cb(p, text, n, p->o.output_ud);
}

void ep__peer_on_connected(ep_peer *p) {
  if (p->phase <= EP__PH_PID) uv_timer_stop(&p->t_stop); /* the accept timeout */
}

void ep__peer_on_conn_lost(ep_peer *p, int err, const char *reason) {
  if (p->vt) p->vt->close(p);
  if (p->phase == EP__PH_STOPPING) {
    check_stop(p);
    return;
  }
  if (p->phase == EP__PH_DOWN) return;
  if (err != EP_EPEERDOWN) {
    go_down(p, err, reason);
    return;
  }
  bool attached = p->o.conn == EP_PEER_CONN_STDIO || !p->o.detached;
  if (attached && p->proc_alive) {
    /* wait for the exit status, it is the better reason; a peer that closed
     * its channel but stays alive is killed after a grace period */
    if (p->o.conn == EP_PEER_CONN_STDIO) {
      uv_timer_start(&p->t_stop, on_stop_timeout, 5000, 0);
      return; /* still booting/running until the exit */
    }
  }
  if (!p->proc_alive && p->exit_status >= 0) {
    char r[64];
    snprintf(r, sizeof r, "{exit_status,%d}", p->exit_status);
    if (attached) {
      go_down(p, EP_EPEERDOWN, r);
      return;
    }
  }
  go_down(p, EP_EPEERDOWN, reason);
}

static ep__call *find_call(ep_peer *p, uint64_t seq) {
  for (ep__call *c = p->calls_head; c; c = c->next)
    if (c->seq == seq) return c;
  return NULL;
}

static void unlink_call(ep_peer *p, ep__call *c) {
  ep__timers_cancel(&p->ctl->tm, &c->dl);
  if (c->prev)
    c->prev->next = c->next;
  else
    p->calls_head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    p->calls_tail = c->prev;
  p->ncalls--;
}

/* /proc/PID/environ holds our token only if PID is the emulator we started
 * (an exec wrapper such as ssh runs it elsewhere: then we never signal it). */
static int pid_is_ours(ep_peer *p, long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/environ", pid);
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char want[96];
  snprintf(want, sizeof want, "EP_PEER_TOKEN=%s", p->token);
  size_t wl = strlen(want);
  char buf[8192];
  size_t have = 0, n;
  int found = 0;
  while (!found && (n = fread(buf + have, 1, sizeof buf - have - 1, f)) > 0) {
    have += n;
    buf[have] = 0;
    for (size_t i = 0; i + wl <= have; i++)
      if (!memcmp(buf + i, want, wl) && (i == 0 || buf[i - 1] == 0)) {
        found = 1;
        break;
      }
    if (have > wl) {
      memmove(buf, buf + have - wl, wl);
      have = wl;
    }
  }
  fclose(f);
  return found;
}

/* What a peer prints (its io_requests, served by lib/ep_ioserver.c). */
static void io_output(const char *text, size_t n, void *ud) { ep__peer_on_output(ud, text, n); }

bool ep__peer_on_event(ep_peer *p, const ep_alt_msg *mp, ep_arena *a) {
  ep_alt_msg m = *mp;
  switch (m.kind) {
    case EP_ALT_STARTED:
      if (p->phase == EP__PH_BOOT) {
        const char *node = m.a.v.str;
        if (!p->node || strcmp(p->node, node) != 0) {
          ep_free(p->mem, p->node);
          if (!(p->node = ep__peer_strdup(p->mem, node))) {
            go_down(p, EP_ENOMEM, "out_of_memory");
            break;
          }
        }
        /* Learn the emulator's OS pid (needed to wait for a detached peer to
         * go and to kill it past a timeout); boot completes with the answer. */
        ep__call *c = ep_malloc(p->mem, sizeof *c);
        if (c) memset(c, 0, sizeof *c);
        if (c && p->vt->call(p, 0, ep_atom("os"), ep_atom("getpid"), ep_nil()) == 0) {
          c->seq = 0;
          c->internal = true;
          c->peer = p;
          c->prev = p->calls_tail;
          if (p->calls_tail)
            p->calls_tail->next = c;
          else
            p->calls_head = c;
          p->calls_tail = c;
          p->ncalls++;
          p->phase = EP__PH_PID;
        } else {
          ep_free(p->mem, c);
          become_running(p);
        }
      }
      break;
    case EP_ALT_REPLY: {
      ep__call *c = find_call(p, m.seq);
      if (!c) break; /* a late reply after its timeout */
      unlink_call(p, c);
      if (c->internal) {
        const char *s;
        size_t sl;
        ep_arena *tmp = ep_arena_new(p->mem);
        if (tmp && m.cls == EP_ALT_OK && ep_get_text(tmp, m.a, &s, &sl) == 0) {
          long pid = strtol(s, NULL, 10);
          if (pid > 1 && pid_is_ours(p, pid)) p->os_pid = pid;
        }
        if (tmp) ep_arena_free(tmp);
        ep_free(p->mem, c);
        if (p->phase == EP__PH_PID) become_running(p);
        break;
      }
      ep_peer_result r = {0};
      r.arena = a; /* handed to the caller */
      if (m.cls == EP_ALT_OK) {
        r.status = 0;
        r.value = m.a;
      } else {
        r.status = EP_EEXCEPTION;
        r.cls = ep_atom(ep_alt_class_name(m.cls));
        r.reason = m.a;
        r.stacktrace = m.b;
      }
      ep_peer_call_cb cb = c->cb;
      void *ud = c->ud;
      ep_free(p->mem, c);
      if (cb && !p->freed)
        cb(p, &r, ud);
      else
        ep_arena_free(r.arena);
      return true;
    }
    case EP_ALT_IO_REQUEST: {
      ep_term reply = ep__io_serve(p->mem, a, m.c, io_output, p);
      if (!ep_is_none(reply) && p->vt->is_open(p)) p->vt->io_reply(p, m.a, m.b, reply);
      break;
    }
    case EP_ALT_MESSAGE:
      if (p->o.message_cb && !p->freed) {
        p->o.message_cb(p, m.a, m.b, a, p->o.message_ud);
        return true;
      }
      break;
    default:
      break;
  }
  return false;
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
     * so that a kill reaches its children (own_group, kill_process). */
    if (own_group(p)) po.flags |= UV_PROCESS_DETACHED;
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
  peer_kick(p);
  int rc = status ? status : launch(p);
  if (rc) {
    const char *why = rc == EP_EBADNAME && p->ctl->last_reason[0] ? p->ctl->last_reason : ep_strerror(rc);
    go_down(p, rc, why);
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
    kill_process(p);
    p->freed = true;
    maybe_release(p);
    return rc;
  }
  if (p->o.wait_boot > 0) uv_timer_start(&p->t_boot, on_boot_timeout, (uint64_t)p->o.wait_boot, 0);
  if (conn == EP_PEER_CONN_TCP) uv_timer_start(&p->t_stop, on_stop_timeout, p->o.accept_ms, 0);
  if (p->o.wait_boot == EP_PEER_WAIT_NONE) {
    p->defer_start_cb = true;
    p->defer_start_err = 0;
    uv_timer_start(&p->t_defer, on_defer, 0, 0);
  }
  if (out) *out = p;
  return 0;
}

/* --- calls ------------------------------------------------------------------------------------- */

/* From the controller's deadline timer, which kicked the loop already. */
static void on_call_timeout(ep__deadline *d) {
  ep__call *c = (ep__call *)d;
  ep_peer *p = c->peer;
  unlink_call(p, c);
  if (c->cb && !p->freed) {
    ep_peer_result r = {EP_ETIMEDOUT, ep_none(), ep_none(), ep_none(), ep_none(), NULL};
    c->cb(p, &r, c->ud);
  }
  ep_free(p->mem, c);
}

static int usable(const ep_peer *p) {
  if (!p || p->freed) return EP_EINVAL;
  if (p->crashed) return EP_EPEERCRASH;
  if (p->phase == EP__PH_DOWN) return EP_EPEERDOWN;
  if (p->phase != EP__PH_RUN) return EP_ESTATE;
  return 0;
}

int ep_peer_call(ep_peer *p, ep_term m, ep_term f, ep_term args, uint32_t timeout_ms,
                 ep_peer_call_cb cb, void *ud) {
  int rc = usable(p);
  if (rc) return rc;
  if (!cb || !ep_is_list(args)) return EP_EINVAL;
  if (p->ncalls >= EP_LIMIT_PEER_CALLS) return EP_ENOMEM;
  ep__call *c = ep_malloc(p->mem, sizeof *c);
  if (!c) return EP_ENOMEM;
  memset(c, 0, sizeof *c);
  c->peer = p;
  /* The deadline first: a call that cannot have one sends nothing. */
  if (timeout_ms != EP_PEER_INFINITY && (rc = ep__timers_add(&p->ctl->tm, &c->dl, timeout_ms, on_call_timeout))) {
    ep_free(p->mem, c);
    return rc;
  }
  c->seq = p->next_seq++;
  if ((rc = p->vt->call(p, c->seq, m, f, args))) {
    free_call(p, c);
    return rc;
  }
  c->cb = cb;
  c->ud = ud;
  c->prev = p->calls_tail;
  if (p->calls_tail)
    p->calls_tail->next = c;
  else
    p->calls_head = c;
  p->calls_tail = c;
  p->ncalls++;
  return 0;
}

int ep_peer_cast(ep_peer *p, ep_term m, ep_term f, ep_term args) {
  int rc = usable(p);
  if (rc) return rc;
  if (!ep_is_list(args)) return EP_EINVAL;
  return p->vt->cast(p, m, f, args);
}

int ep_peer_send(ep_peer *p, ep_term to, ep_term msg) {
  int rc = usable(p);
  if (rc) return rc;
  if (to.type != EP_T_PID && to.type != EP_T_ATOM) return EP_EINVAL;
  return p->vt->send(p, to, msg);
}

void ep_peer_result_free(ep_peer_result *r) {
  if (r && r->arena) {
    ep_arena_free(r->arena);
    r->arena = NULL;
  }
}

/* --- getters -------------------------------------------------------------------------------- */

ep_peer_state ep_peer_get_state(const ep_peer *p) { return p ? p->state : EP_PEER_DOWN; }
int ep_peer_down_err(const ep_peer *p) { return p ? p->down_err : EP_EINVAL; }
const char *ep_peer_down_reason(const ep_peer *p) { return p ? p->down_reason : ""; }
const char *ep_peer_node(const ep_peer *p) { return p ? p->node : NULL; }
int ep_peer_exit_status(const ep_peer *p) { return p ? p->exit_status : -1; }
long ep_peer_os_pid(const ep_peer *p) { return p ? p->os_pid : 0; }
const char *ep_ctl_last_start_reason(const ep_ctl *c) { return c ? c->last_reason : ""; }
const char *const *ep_peer_argv(const ep_peer *p) {
  return p ? (const char *const *)p->argv : NULL;
}

void ep__ctl_release(ep_ctl *c) {
  c->freed = true;
  /* The peers first: a dist peer's connection ends its processes on the
   * node, which must still be there (a node closed first has freed them). */
  ep_peer *p = c->peers;
  while (p) {
    ep_peer *n = p->next_in_ctl;
    if (p->linked || c->sloop) ep_peer_free(p);
    p = n;
  }
  ep__ctl_node_abandon(c);
  ctl_maybe_free(c);
}
