/* ep_log.c - see ep_log.h. */
#include "ep_log.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static double tokens = EP_LOG_BURST;
static struct timespec last;
static uint64_t dropped, dropped_told;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One token a line; the bucket refills at EP_LOG_RATE a second. */
static int take_token(void) {
  double t = now_s(), l = (double)last.tv_sec + (double)last.tv_nsec / 1e9;
  if (last.tv_sec == 0 && last.tv_nsec == 0) l = t;
  tokens += (t - l) * EP_LOG_RATE;
  if (tokens > EP_LOG_BURST) tokens = EP_LOG_BURST;
  clock_gettime(CLOCK_MONOTONIC, &last);
  if (tokens < 1) return 0;
  tokens -= 1;
  return 1;
}

static int writable(void) {
  struct pollfd p = {STDERR_FILENO, POLLOUT, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT) && !(p.revents & (POLLERR | POLLNVAL));
}

void ep_log(const char *fmt, ...) {
  char line[EP_LOG_LINE];
  pthread_mutex_lock(&lock);
  if (!take_token() || !writable()) {
    dropped++;
    pthread_mutex_unlock(&lock);
    return;
  }
  int n = snprintf(line, sizeof line, "erlpeer: ");
  if (dropped > dropped_told) {
    n += snprintf(line + n, sizeof line - (size_t)n, "(%llu earlier messages dropped) ",
                  (unsigned long long)(dropped - dropped_told));
    dropped_told = dropped;
  }
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  /* At most EP_LOG_LINE bytes into a writable stderr: a pipe takes that
   * much whole (PIPE_BUF is 4096 on Linux), a terminal or file at once. */
  if (write(STDERR_FILENO, line, len) != (ssize_t)len) dropped++;
  pthread_mutex_unlock(&lock);
}

uint64_t ep_log_dropped(void) {
  pthread_mutex_lock(&lock);
  uint64_t d = dropped;
  pthread_mutex_unlock(&lock);
  return d;
}
