/* ep_log.h - diagnostics on stderr that never block the caller's loop.
 *
 * A line is written only when stderr can take it at once (poll says it is
 * writable, and a line is at most EP_LOG_LINE bytes, less than a pipe's
 * atomic write), and at most EP_LOG_BURST lines go out in a burst, refilled
 * at EP_LOG_RATE lines a second: a stream of bad input from anyone cannot
 * flood the log, and a stderr nobody reads (a full pipe) cannot stop the
 * program inside write(2). What is dropped is counted, and the next line
 * that goes out says how many were. Thread-safe. */
#ifndef EP_LOG_H
#define EP_LOG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EP_LOG_LINE 512
#define EP_LOG_BURST 20
#define EP_LOG_RATE 10

/* printf-style; "erlpeer: " and a newline are added. */
void ep_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Lines dropped so far (rate limit or a stderr that could not take them). */
uint64_t ep_log_dropped(void);

#ifdef __cplusplus
}
#endif
#endif
