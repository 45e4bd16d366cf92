/* ep_testenv.h - what every integration test stands on.
 *
 * ep_testenv_new() gives the calling process (and so every child it starts)
 * a private world: a temporary HOME holding a random .erlang.cookie, a free
 * TCP port in ERL_EPMD_PORT, and EP_TEST_TAG=<run>.<pid> in the environment.
 * Every process started from then on inherits the tag, including detached
 * erl nodes and the epmd daemons they start, so ep_testenv_free() (and the
 * ep_sweep program that ctest runs after the suite) can find and kill every
 * one of them through /proc/PID/environ, even when a test crashed or timed
 * out. A test that never reaches ep_testenv_free (Check's fork mode ends a
 * test's process at its first failed assertion, and kills it on timeout)
 * still leaves nothing running: a guard process that ep_testenv_new starts
 * does what ep_testenv_free does as soon as the test's process is gone.
 * Nothing sleeps: waits are for a line of output (from a pipe, or a
 * file through inotify) or a process's exit (its pidfd), each with a
 * deadline.
 */
#ifndef EP_TESTENV_H
#define EP_TESTENV_H

#include <stddef.h>
#include <sys/types.h>

typedef struct ep_testenv ep_testenv;

/* Creates the private world and exports HOME, ERL_EPMD_PORT and EP_TEST_TAG
 * into this process's environment. Aborts the test on failure. */
ep_testenv *ep_testenv_new(void);
/* Kills every process carrying this env's tag, removes the temporary HOME. */
void ep_testenv_free(ep_testenv *env);

int ep_testenv_epmd_port(const ep_testenv *env);
const char *ep_testenv_cookie(const ep_testenv *env);
const char *ep_testenv_home(const ep_testenv *env);
const char *ep_testenv_tag(const ep_testenv *env);
/* The short host name erl uses for -sname ("vm" in "a@vm"). */
const char *ep_testenv_host(void);

/* A TCP port that was free a moment ago (bind to port 0 on 127.0.0.1). */
int ep_testenv_free_port(void);

/* Starts the real `epmd -port P -d -d` on the env's port and waits (10 s)
 * until its debug output, in a file in HOME, says it listens. 0 on
 * success. */
int ep_testenv_start_epmd(ep_testenv *env);

/* Waits (inotify, no polling) up to timeout_ms until the output of the
 * env's epmd holds text, e.g. "unregistering 'NAME:" once a node's
 * registration is gone ("registering 'NAME:" once made). 0 when it does,
 * -1 on timeout or without an epmd started by ep_testenv_start_epmd. */
int ep_testenv_wait_epmd_log(const ep_testenv *env, const char *text, int timeout_ms);

/* Waits until something accepts TCP connections on 127.0.0.1:port (by
 * trying every 20 ms: another process's bind gives no event). */
int ep_testenv_wait_port(int port, int timeout_ms);

/* Starts a real node: erl -sname NAME -noshell -noinput ARGS... and waits
 * (up to 20 s) until it has booted. extra_args is NULL-terminated (or NULL).
 * Writes "NAME@HOST" into node (cap bytes). Returns the OS pid, -1 on failure. */
pid_t ep_testenv_start_erl(ep_testenv *env, const char *sname, const char *const *extra_args,
                           char *node, size_t cap);

/* Same with the whole command line given (argv[0] looked up in PATH, e.g.
 * erl -name a@127.0.0.1 ...): the node must print "EP_READY <node>\n" once
 * booted (the caller's -eval does). For long names, IPv6, other releases. */
pid_t ep_testenv_start_erl_argv(ep_testenv *env, const char *const *argv, char *node, size_t cap);

/* Waits (poll on a pidfd, no sleeping) up to timeout_ms until process pid
 * is gone (0: just looks); 1 when it is, 0 when it still runs. */
int ep_testenv_wait_pid_gone(long pid, int timeout_ms);

/* Kills one process started through the env and reaps it. */
void ep_testenv_kill(ep_testenv *env, pid_t pid);

/* Runs argv (argv[0] looked up in PATH) with stdin_data on its standard
 * input, captures stdout into *out (malloc'd, NUL-terminated; may be NULL) and
 * stderr into *err (same), kills it after timeout_ms. Returns the exit status
 * (0..255), 128+signal when killed, -1 when it could not be started. */
int ep_testenv_run(const char *const *argv, const char *stdin_data, size_t stdin_len, char **out,
                   size_t *out_len, char **err, int timeout_ms);

/* Evaluates Erlang expressions in a fresh, non-distributed `erl -noshell`
 * (e.g. "io:format(\"~p\", [X]), halt()."). Returns the exit status. */
int ep_testenv_erl_eval(const char *exprs, char **out, size_t *out_len, int timeout_ms);

/* The run's folder for temporary files ($TMPDIR/<run tag>: the shell
 * tests' private worlds), and its removal with the run's HOMEs
 * ($TMPDIR/ephome.<run tag>.*; ep_sweep does it after the suite, so a test
 * killed before its cleanup leaves nothing behind). */
void ep_testenv_run_dir(char *out, size_t cap);
void ep_testenv_remove_run_dir(void);

/* Kills (SIGKILL) every process whose environment holds EP_TEST_TAG=tag, or
 * EP_TEST_TAG=tag... when prefix is non-zero. Returns how many it killed. */
int ep_sweep_tag(const char *tag, int prefix);

#endif
