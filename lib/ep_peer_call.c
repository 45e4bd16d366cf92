/* ep_peer_call.c - what a peer's control connection hands the core
 * (started, replies, io_requests, messages), and calls with their
 * deadlines. */
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
    ep__peer_check_stop(p);
    return;
  }
  if (p->phase == EP__PH_DOWN) return;
  if (err != EP_EPEERDOWN) {
    ep__peer_go_down(p, err, reason);
    return;
  }
  bool attached = p->o.conn == EP_PEER_CONN_STDIO || !p->o.detached;
  if (attached && p->proc_alive) {
    /* wait for the exit status, it is the better reason; a peer that closed
     * its channel but stays alive is killed after a grace period */
    if (p->o.conn == EP_PEER_CONN_STDIO) {
      uv_timer_start(&p->t_stop, ep__peer_on_stop_timeout, 5000, 0);
      return; /* still booting/running until the exit */
    }
  }
  if (!p->proc_alive && p->exit_status >= 0) {
    char r[64];
    snprintf(r, sizeof r, "{exit_status,%d}", p->exit_status);
    if (attached) {
      ep__peer_go_down(p, EP_EPEERDOWN, r);
      return;
    }
  }
  ep__peer_go_down(p, EP_EPEERDOWN, reason);
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

/* Calls in flight, oldest first. */
static void append_call(ep_peer *p, ep__call *c) {
  c->prev = p->calls_tail;
  if (p->calls_tail)
    p->calls_tail->next = c;
  else
    p->calls_head = c;
  p->calls_tail = c;
  p->ncalls++;
}

void ep__peer_on_event(ep_peer *p, const ep_alt_msg *mp, ep_arena *a) {
  ep_alt_msg m = *mp;
  switch (m.kind) {
    case EP_ALT_STARTED:
      if (p->phase == EP__PH_BOOT) {
        const char *node = m.a.v.str;
        if (!p->node || strcmp(p->node, node) != 0) {
          ep_free(p->mem, p->node);
          if (!(p->node = ep__peer_strdup(p->mem, node))) {
            ep__peer_go_down(p, EP_ENOMEM, "out_of_memory");
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
          append_call(p, c);
          p->phase = EP__PH_PID;
        } else {
          ep_free(p->mem, c);
          ep__peer_become_running(p);
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
        if (p->phase == EP__PH_PID) ep__peer_become_running(p);
        break;
      }
      ep_result r = {0};
      r.arena = a; /* lent for the callback: the connection reuses it */
      if (m.cls == EP_ALT_OK) {
        r.status = 0;
        r.value = m.a;
      } else {
        r.status = EP_EEXCEPTION;
        r.cls = ep_atom(ep_alt_class_name(m.cls));
        r.reason = m.a;
        r.stack = m.b;
      }
      ep_peer_call_cb cb = c->cb;
      void *ud = c->ud;
      ep_free(p->mem, c);
      if (cb && !p->freed) cb(p, &r, ud);
      break;
    }
    case EP_ALT_IO_REQUEST: {
      ep_term reply = ep__io_serve(p->mem, a, m.c, io_output, p);
      if (!ep_is_none(reply) && p->vt->is_open(p)) p->vt->io_reply(p, m.a, m.b, reply);
      break;
    }
    case EP_ALT_MESSAGE:
      if (p->o.message_cb && !p->freed) p->o.message_cb(p, m.a, m.b, p->o.message_ud);
      break;
    default:
      break;
  }
}

/* --- calls ------------------------------------------------------------------------------------- */

/* From the controller's deadline timer, which kicked the loop already. */
static void on_call_timeout(ep__deadline *d) {
  ep__call *c = (ep__call *)d;
  ep_peer *p = c->peer;
  unlink_call(p, c);
  if (c->cb && !p->freed) {
    ep_result r = {EP_ETIMEDOUT, ep_none(), ep_none(), ep_none(), ep_none(), NULL};
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

int ep_peer_call(ep_peer *p, ep_term m, ep_term f, ep_term args, uint64_t timeout_ms,
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
  if (timeout_ms != EP_INFINITY && (rc = ep__timers_add(&p->ctl->tm, &c->dl, timeout_ms, on_call_timeout))) {
    ep_free(p->mem, c);
    return rc;
  }
  c->seq = p->next_seq++;
  if ((rc = p->vt->call(p, c->seq, m, f, args))) {
    ep__peer_free_call(p, c);
    return rc;
  }
  c->cb = cb;
  c->ud = ud;
  append_call(p, c);
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

