/* ep_peer.c - the peer controller: controllers, a peer's lifecycle (the
 * state machine of ep_peer_int.h), its shutdown modes and getters. Options
 * are lib/ep_peer_opts.c's, spawning lib/ep_peer_spawn.c's, control
 * messages and calls lib/ep_peer_call.c's, the control connections the
 * tables of lib/ep_peer_alt.c and lib/ep_peer_dist.c. */
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
void ep__peer_close_stdin(ep_peer *p) {
  if (p->stdin_wfd >= 0) {
    close(p->stdin_wfd);
    p->stdin_wfd = -1;
  }
}

/* Every call leaves through here, or through free_call: its deadline goes
 * with it. */
void ep__peer_free_call(ep_peer *p, ep__call *c) {
  ep__timers_cancel(&p->ctl->tm, &c->dl);
  ep_free(p->mem, c);
}

static void free_call_list(ep_peer *p, ep__call *c) {
  while (c) {
    ep__call *n = c->next;
    ep__peer_free_call(p, c);
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
  ep__peer_close_stdin(p); /* normally done already (reaped or stopped) */
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
  ep__peer_close_stdin(p);
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
void ep__peer_maybe_release(ep_peer *p) {
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
void ep__peer_kick(ep_peer *p) {
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
bool ep__peer_own_group(const ep_peer *p) { return p->vt->own_session || p->o.prog; }

void ep__peer_kill_process(ep_peer *p) {
  if (!p->proc_alive) return;
  if (ep__peer_own_group(p) && p->proc.pid > 0) kill(-(pid_t)p->proc.pid, SIGKILL);
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
      ep_result r = {err, ep_none(), ep_none(), ep_none(), ep_none(), NULL};
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
void ep__peer_go_down(ep_peer *p, int err, const char *reason) {
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
  ep__peer_maybe_release(p);
}

void ep__peer_become_running(ep_peer *p) {
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
  ep__peer_maybe_release(p);
}

void ep__peer_check_stop(ep_peer *p) {
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
  ep__peer_check_stop(p);
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
  ep__peer_kill_process(p);
  if (p->os_pid > 0 && !p->pid_gone) kill((pid_t)p->os_pid, SIGKILL);
}

void ep__peer_on_stop_timeout(uv_timer_t *t) {
  ep_peer *p = t->data;
  ep__peer_kick(p);
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
    ep__peer_go_down(p, EP_ENOCONNECT, "accept_timeout");
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
      ep_result r = {EP_ECLOSED, ep_none(), ep_none(), ep_none(), ep_none(), NULL};
      c->cb(p, &r, c->ud);
    }
    ep_free(p->mem, c); /* its deadline went when it was cancelled */
  }
}

void ep__peer_on_defer(uv_timer_t *t) {
  ep_peer *p = t->data;
  ep__peer_kick(p);
  run_deferred(p);
  if (p->stop_pending_cb) {
    p->stop_pending_cb = false;
    if (p->phase == EP__PH_STOPPING)
      ep__peer_check_stop(p);
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
    uv_timer_start(&p->t_defer, ep__peer_on_defer, 0, 0);
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
  uint64_t ms = p->o.shutdown_ms;
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
  if (p->o.shutdown != EP_PEER_SHUTDOWN_CLOSE && ms != EP_INFINITY)
    uv_timer_start(&p->t_stop, ep__peer_on_stop_timeout, ms, 0);
  p->stop_pending_cb = true; /* re-checked from the loop: cb never inline */
  uv_timer_start(&p->t_defer, ep__peer_on_defer, 0, 0);
  return 0;
}

void ep_peer_free(ep_peer *p) {
  if (!p || p->freed) return;
  if (p->phase != EP__PH_DOWN) {
    if (p->vt) p->vt->close(p);
    /* a child we own must be reaped: make sure it goes */
    ep__peer_kill_process(p);
    p->phase = EP__PH_DOWN;
    p->state = EP_PEER_DOWN;
  }
  p->freed = true;
  ep__peer_maybe_release(p);
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

