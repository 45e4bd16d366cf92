/* ep_bench.h - what every program in bench/ shares: one monotonic clock,
 * CPU time (this process, its children, another process), the median, peak
 * RSS, the CPU model for the header, and failing loudly.
 *
 * A bench that cannot make a measurement says why on stderr, in one line,
 * and exits with EPB_EXIT_FAIL: it never prints a figure it did not measure
 * (bench/RESULTS.md, "How the figures are made"). */
#ifndef EP_BENCH_H
#define EP_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The exit status of a bench that could not measure. */
#define EPB_EXIT_FAIL 2

/* Names the program in epb_fail's and epb_header's lines, ignores SIGPIPE
 * and makes stdout line-buffered (figures appear as they are made, even
 * into a file). Call first. */
void epb_init(const char *prog);

/* CLOCK_MONOTONIC. */
uint64_t epb_now_ns(void);
double epb_now_s(void);
double epb_now_ms(void);

/* CPU time, user + system, in seconds: this process (all its threads;
 * CLOCK_PROCESS_CPUTIME_ID), its children that have been waited for
 * (getrusage RUSAGE_CHILDREN), and any process by pid (/proc/PID/stat, in
 * clock ticks: rough; -1 when it cannot be read). */
double epb_cpu_s(void);
double epb_children_cpu_s(void);
double epb_proc_cpu_s(pid_t pid);

/* This process's peak resident set (VmHWM) in kB; -1 when unknown. */
long epb_peak_rss_kb(void);

/* The median of v[0..n-1] (the mean of the middle two for an even n); v is
 * left as it is. n must be at least 1 (epb_fail otherwise). */
double epb_median(const double *v, int n);

/* The CPU model from /proc/cpuinfo ("model name"), or a string saying it
 * is unknown. A static string. */
const char *epb_cpu_model(void);

/* Prints "<prog>: cpu: <model>, <n> vCPU online, <date UTC>": the line that
 * every result carries (bench/RESULTS.md). */
void epb_header(void);

/* Runs cmd through the shell (popen) and hands each line of its stdout to
 * on_line, which returns true when the line was one of its figures. 0 when
 * cmd exited 0 and on_line took `want` lines; otherwise -1 with why (cap
 * bytes) saying what was missing, quoting the first line not taken (an
 * erl's error, typically). */
int epb_run_lines(const char *cmd, bool (*on_line)(const char *line, void *ud), void *ud, int want, char *why,
                  size_t cap);

/* "<prog>: <reason>" on stderr, then exit(EPB_EXIT_FAIL): atexit handlers
 * run, so whatever a program registered to stop its processes still does. */
_Noreturn void epb_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
