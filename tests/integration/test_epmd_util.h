/* test_epmd_util.h - what the EPMD integration tests share: our embedded
 * server on its own thread (its own uv loop) with its events recorded so a
 * test can wait for "registered a" instead of sleeping, and raw sockets for
 * playing hostile clients or fake servers. Header-only: each test program
 * includes it once. */
#ifndef TEST_EPMD_UTIL_H
#define TEST_EPMD_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "ep_epmd_uv.h"
#include "ep_error.h"
#include "ep_testepmd.h"

#define SRV_MAX_EVENTS 512

typedef struct srv_thread {
  pthread_t th;
  uv_loop_t loop;
  uv_async_t stop;
  ep_epmd_server *srv;
  const char *address;
  uint16_t port;
  t_server opts;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int ready, start_rc, loop_close_rc;
  char events[SRV_MAX_EVENTS][300];
  int nevents, cuts, killed;
} srv_thread;

__attribute__((unused)) static long long util_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((unused)) static void srv_log(const ep_epmd_event *ev, void *ud) {
  srv_thread *t = ud;
  pthread_mutex_lock(&t->mu);
  char line[300] = "";
  switch (ev->kind) {
    case EP_EPMD_EV_REGISTERED:
      snprintf(line, sizeof line, "registered %s", ev->name);
      break;
    case EP_EPMD_EV_UNREGISTERED:
      snprintf(line, sizeof line, "unregistered %s", ev->name);
      break;
    case EP_EPMD_EV_REFUSED:
      snprintf(line, sizeof line, "refused %s", ev->name);
      break;
    case EP_EPMD_EV_CUT:
      t->cuts++;
      break;
    case EP_EPMD_EV_KILLED:
      t->killed++;
      break;
  }
  if (line[0] && t->nevents < SRV_MAX_EVENTS) snprintf(t->events[t->nevents++], 300, "%s", line);
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
}

__attribute__((unused)) static void srv_on_stop(uv_async_t *a) {
  srv_thread *t = a->data;
  if (t->srv) ep_epmd_server_close(t->srv, NULL, NULL);
  t->srv = NULL;
  uv_close((uv_handle_t *)&t->stop, NULL);
}

__attribute__((unused)) static void *srv_main(void *arg) {
  srv_thread *t = arg;
  uv_loop_init(&t->loop);
  uv_async_init(&t->loop, &t->stop, srv_on_stop);
  t->stop.data = t;
  t->opts.log = srv_log;
  t->opts.log_ud = t;
  int rc = ep_epmd_server_start(&t->loop, t->address, t->port, t_s(&t->opts), &t->srv);
  pthread_mutex_lock(&t->mu);
  t->start_rc = rc;
  t->ready = 1;
  if (rc == 0) t->port = ep_epmd_server_port(t->srv);
  pthread_cond_broadcast(&t->cv);
  pthread_mutex_unlock(&t->mu);
  if (rc) uv_close((uv_handle_t *)&t->stop, NULL);
  uv_run(&t->loop, UV_RUN_DEFAULT);
  t->loop_close_rc = uv_loop_close(&t->loop);
  return NULL;
}

/* Starts our server on address:port (port 0 = any; see t->port) with opts
 * (its log callback is the thread's own). 0 or the server's start error. */
__attribute__((unused)) static int srv_start_opts(srv_thread *t, const char *address, uint16_t port,
                                                  const t_server *opts) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->cv, NULL);
  t->address = address;
  t->port = port;
  t->opts = *opts;
  if (pthread_create(&t->th, NULL, srv_main, t) != 0) return EP_ESYS;
  pthread_mutex_lock(&t->mu);
  while (!t->ready) pthread_cond_wait(&t->cv, &t->mu);
  int rc = t->start_rc;
  pthread_mutex_unlock(&t->mu);
  if (rc) pthread_join(t->th, NULL);
  return rc;
}

/* The same with an idle timeout and KILL_REQ allowed. */
__attribute__((unused)) static int srv_start(srv_thread *t, const char *address, uint16_t port, uint32_t idle_ms) {
  t_server o = {0};
  o.idle_ms = idle_ms;
  o.allow_kill = true;
  return srv_start_opts(t, address, port, &o);
}

/* Stops the server, joins its thread; returns uv_loop_close's result (0
 * when every handle was closed). */
__attribute__((unused)) static int srv_stop(srv_thread *t) {
  uv_async_send(&t->stop);
  pthread_join(t->th, NULL);
  return t->loop_close_rc;
}

/* Waits until an event line equal to `what` has been logged. 0 or -1. */
__attribute__((unused)) static int srv_wait_event(srv_thread *t, const char *what, int timeout_ms) {
  long long deadline = util_now_ms() + timeout_ms;
  pthread_mutex_lock(&t->mu);
  int seen = 0, rc = -1;
  for (;;) {
    for (; seen < t->nevents; seen++)
      if (!strcmp(t->events[seen], what)) {
        rc = 0;
        goto out;
      }
    long long left = deadline - util_now_ms();
    if (left <= 0) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&t->cv, &t->mu, &ts);
  }
out:
  pthread_mutex_unlock(&t->mu);
  return rc;
}

__attribute__((unused)) static int srv_cuts(srv_thread *t) {
  pthread_mutex_lock(&t->mu);
  int n = t->cuts;
  pthread_mutex_unlock(&t->mu);
  return n;
}

/* 1 when NAMES through o lists name (its port into *port, if port), 0 when
 * it does not, the client's error otherwise. */
__attribute__((unused)) static int names_has(const ep_epmd_client_opts *o, const char *name, uint16_t *port) {
  ep_epmd_name *names;
  size_t n;
  int rc = ep_epmd_names_sync(o, &names, &n, NULL);
  if (rc) return rc;
  int found = 0;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(names[i].name, name)) {
      found = 1;
      if (port) *port = names[i].port;
    }
  ep_epmd_names_free(names);
  return found;
}

/* A blocking TCP connection to 127.0.0.1:port; -1 on failure. */
__attribute__((unused)) static int raw_connect(uint16_t port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(s);
    return -1;
  }
  return s;
}

/* Reads until EOF or timeout into buf (cap). Returns bytes read, and sets
 * *eof when the peer closed (or reset) the connection. */
__attribute__((unused)) static size_t raw_read_all(int s, char *buf, size_t cap, int timeout_ms, int *eof) {
  size_t n = 0;
  long long deadline = util_now_ms() + timeout_ms;
  *eof = 0;
  for (;;) {
    long long left = deadline - util_now_ms();
    if (left <= 0) return n;
    struct pollfd p = {s, POLLIN, 0};
    if (poll(&p, 1, (int)left) <= 0) return n;
    char tmp[4096];
    ssize_t r = recv(s, tmp, sizeof tmp, 0);
    if (r <= 0) {
      *eof = 1;
      return n;
    }
    size_t k = (size_t)r < cap - n ? (size_t)r : cap - n;
    memcpy(buf + n, tmp, k);
    n += k;
  }
}

/* A fake EPMD on a free port of 127.0.0.1: each accepted connection reads
 * the request, then writes `reply` (reply_len bytes; none when NULL) and
 * closes, or stays silent until the test ends when silent is set. */
typedef struct fake_srv {
  pthread_t th;
  int lfd;
  uint16_t port;
  const char *reply;
  size_t reply_len;
  int silent;
  int stop[2]; /* a pipe: fake_stop closes the write end, the thread wakes */
} fake_srv;

__attribute__((unused)) static void *fake_main(void *arg) {
  fake_srv *f = arg;
  int held[64], nheld = 0;
  for (;;) {
    struct pollfd p[2] = {{f->lfd, POLLIN, 0}, {f->stop[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) continue;
    if (p[1].revents) break;
    if (!p[0].revents) continue;
    int c = accept(f->lfd, NULL, NULL);
    if (c < 0) continue;
    char req[2048];
    struct pollfd q = {c, POLLIN, 0};
    if (poll(&q, 1, 2000) > 0) {
      ssize_t r = recv(c, req, sizeof req, 0);
      (void)r;
    }
    if (f->silent && nheld < 64) {
      held[nheld++] = c;
      continue;
    }
    if (f->reply && f->reply_len) {
      ssize_t w = send(c, f->reply, f->reply_len, MSG_NOSIGNAL);
      (void)w;
    }
    close(c);
  }
  for (int i = 0; i < nheld; i++) close(held[i]);
  return NULL;
}

__attribute__((unused)) static void fake_start(fake_srv *f, const char *reply, size_t reply_len, int silent) {
  memset(f, 0, sizeof *f);
  f->reply = reply;
  f->reply_len = reply_len;
  f->silent = silent;
  f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof sa;
  if (bind(f->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(f->lfd, 16) != 0 ||
      getsockname(f->lfd, (struct sockaddr *)&sa, &sl) != 0)
    abort();
  f->port = ntohs(sa.sin_port);
  if (pipe(f->stop) != 0 || fcntl(f->stop[0], F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(f->stop[1], F_SETFD, FD_CLOEXEC) != 0)
    abort();
  pthread_create(&f->th, NULL, fake_main, f);
}

__attribute__((unused)) static void fake_stop(fake_srv *f) {
  close(f->stop[1]);
  pthread_join(f->th, NULL);
  close(f->stop[0]);
  close(f->lfd);
}

#endif
