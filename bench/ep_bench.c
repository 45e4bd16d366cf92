/* ep_bench.c - the clock, CPU time, median, peak RSS, CPU model and loud
 * failure that every program in bench/ uses (ep_bench.h). */
#include "ep_bench.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *g_prog = "bench";

void epb_init(const char *prog) {
  g_prog = prog;
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
}

uint64_t epb_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double epb_now_s(void) { return (double)epb_now_ns() * 1e-9; }
double epb_now_ms(void) { return (double)epb_now_ns() * 1e-6; }

double epb_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6; }

double epb_children_cpu_s(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_CHILDREN, &ru) != 0) return -1;
  return tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

double epb_proc_cpu_s(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  /* The command name may hold spaces and parentheses: the fields start
   * after the last ')'. Then: state ppid pgrp session tty tpgid flags
   * minflt cminflt majflt cmajflt utime stime (fields 3..15). */
  char *p = strrchr(buf, ')');
  unsigned long ut, st;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long epb_peak_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double epb_median(const double *v, int n) {
  if (n < 1) epb_fail("a median of no values");
  double *s = malloc((size_t)n * sizeof *s);
  if (!s) epb_fail("out of memory");
  memcpy(s, v, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  free(s);
  return m;
}

const char *epb_cpu_model(void) {
  static char model[256];
  if (model[0]) return model;
  snprintf(model, sizeof model, "unknown (no \"model name\" in /proc/cpuinfo)");
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10)) continue;
    char *v = strchr(line, ':');
    if (!v) continue;
    for (v++; *v == ' ' || *v == '\t'; v++) {
    }
    v[strcspn(v, "\n")] = 0;
    if (*v) snprintf(model, sizeof model, "%s", v);
    break;
  }
  if (f) fclose(f);
  return model;
}

void epb_header(void) {
  char date[64];
  time_t t = time(NULL);
  struct tm tm;
  strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime_r(&t, &tm));
  printf("%s: cpu: %s, %ld vCPU online, %s\n", g_prog, epb_cpu_model(), sysconf(_SC_NPROCESSORS_ONLN), date);
}

int epb_run_lines(const char *cmd, bool (*on_line)(const char *line, void *ud), void *ud, int want, char *why,
                  size_t cap) {
  FILE *f = popen(cmd, "r");
  if (!f) {
    snprintf(why, cap, "cannot run it: %s", strerror(errno));
    return -1;
  }
  char line[512], other[256] = "";
  int got = 0;
  while (fgets(line, sizeof line, f)) {
    if (on_line(line, ud)) got++;
    else if (!other[0]) snprintf(other, sizeof other, "%.*s", (int)strcspn(line, "\n"), line);
  }
  int st = pclose(f);
  if (got == want && st == 0) return 0;
  snprintf(why, cap, "%d of %d figures, exit status %d%s%s", got, want,
           st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, other[0] ? ", it said: " : "", other);
  return -1;
}

void epb_fail(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  /* one line, whatever a quoted program's output held */
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == ' ')) line[--n] = 0;
  for (char *p = line; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  fflush(stdout);
  fprintf(stderr, "%s: %s\n", g_prog, line);
  exit(EPB_EXIT_FAIL);
}
