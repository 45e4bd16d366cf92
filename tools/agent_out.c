/* agent_out.c - the agent's stdout (--json) and stderr (the log) without
 * blocking the loop, and the textfile written atomically.
 *
 * A terminal or a pipe is written through libuv (uv_tty_t reopens a
 * terminal so that making it non-blocking does not change the shell's;
 * uv_pipe_t): what the descriptor takes at once is written, the rest is
 * queued, up to a bound past which lines are dropped and counted (a reader
 * that stopped reading costs bounded memory and never stalls a scrape).
 * A regular file (or anything else) is written with write(2) directly. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* Log lines are dropped sooner than --json output. */
#define LOG_MAX_QUEUED ((size_t)64 << 10)

struct agent_out {
  int fd;
  bool stream;
  union {
    uv_handle_t h;
    uv_stream_t s;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } u;
  size_t queued;
  uint64_t dropped;
  bool inited;    /* u holds a handle that must be closed */
  bool closed;    /* its close callback ran */
  bool free_me;   /* agent_out_close was called */
};

typedef struct {
  uv_write_t req;
  agent_out *o;
  size_t len;
  char data[];
} out_req;

static void on_out_closed(uv_handle_t *h) {
  agent_out *o = (agent_out *)((char *)h - offsetof(agent_out, u));
  o->closed = true;
  if (o->free_me) free(o);
}

agent_out *agent_out_new(uv_loop_t *loop, int fd) {
  agent_out *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->fd = fd;
  uv_handle_type t = uv_guess_handle(fd);
  if (t == UV_TTY && uv_tty_init(loop, &o->u.tty, fd, 0) == 0) {
    o->stream = o->inited = true;
  } else if (t == UV_NAMED_PIPE && uv_pipe_init(loop, &o->u.pipe, 0) == 0) {
    o->inited = true;
    if (uv_pipe_open(&o->u.pipe, fd) == 0) o->stream = true;
    else uv_close(&o->u.h, on_out_closed); /* plain writes then */
  }
  if (o->stream) uv_unref(&o->u.h); /* output never keeps the loop alive on its own */
  return o;
}

static void on_written(uv_write_t *req, int status) {
  out_req *r = (out_req *)req;
  r->o->queued -= r->len;
  free(r);
}

void agent_out_write(agent_out *o, const char *buf, size_t len, bool may_drop) {
  if (!o || !len) return;
  if (!o->stream) {
    while (len) {
      ssize_t n = write(o->fd, buf, len);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      buf += n, len -= (size_t)n;
    }
    return;
  }
  if (o->queued == 0) { /* nothing waits: what the descriptor takes now goes at once */
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
    int n = uv_try_write(&o->u.s, &b, 1);
    if (n > 0) buf += n, len -= (size_t)n;
    if (!len) return;
  }
  if (o->queued + len > (may_drop ? LOG_MAX_QUEUED : AGENT_OUT_MAX_QUEUED)) {
    o->dropped++;
    return;
  }
  out_req *r = malloc(sizeof *r + len);
  if (!r) {
    o->dropped++;
    return;
  }
  r->o = o;
  r->len = len;
  memcpy(r->data, buf, len);
  uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
  if (uv_write(&r->req, &o->u.s, &b, 1, on_written) != 0) {
    free(r);
    o->dropped++;
    return;
  }
  o->queued += len;
}

void agent_out_close(agent_out *o) {
  if (!o) return;
  o->free_me = true;
  if (!o->inited || o->closed) free(o);
  else if (!uv_is_closing(&o->u.h)) uv_close(&o->u.h, on_out_closed); /* queued writes end first */
}

void agent_log(agent *ag, const char *fmt, ...) {
  char line[1024];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = (int)strftime(line, 64, "%Y-%m-%dT%H:%M:%S", &tm);
  n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ erlpeer agent: ", ts.tv_nsec / 1000000);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0) return;
  size_t len = (size_t)n + (size_t)m;
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  if (ag->err) agent_out_write(ag->err, line, len, true);
  else fwrite(line, 1, len, stderr);
}

int agent_write_file_atomic(const char *path, const void *data, size_t len) {
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) return -ENAMETOOLONG;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  const char *p = data;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      close(fd);
      unlink(tmp);
      return -e;
    }
    p += n, len -= (size_t)n;
  }
  if (close(fd) != 0) {
    int e = errno;
    unlink(tmp);
    return -e;
  }
  if (rename(tmp, path) != 0) { /* the reader sees the old file or the new one, never half of one */
    int e = errno;
    unlink(tmp);
    return -e;
  }
  return 0;
}
