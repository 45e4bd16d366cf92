/* tool_epmd.h - what the EPMD commands (names, port, epmd) share. */
#ifndef EP_TOOL_EPMD_H
#define EP_TOOL_EPMD_H

#include <stdint.h>

/* Parses a decimal number 0..max into *out: 0, or -1 when it is not one. */
int tool_number(const char *s, unsigned long max, unsigned long *out);

/* One line on stderr explaining an EPMD client failure. */
void tool_epmd_error(const char *cmd, const char *host, uint16_t port, int err);

#endif
