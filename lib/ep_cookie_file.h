/* ep_cookie_file.h - the cookie file, found, created and checked as erl does.
 *
 * OTP's auth.erl (read_cookie/0) looks for $HOME/.erlang.cookie, then for
 * $XDG_CONFIG_HOME/erlang/.erlang.cookie (XDG_CONFIG_HOME defaulting to
 * $HOME/.config), and when neither exists creates the first with 20 random
 * capital letters, mode 0400. A file that exists must be a regular file
 * that only its owner may access (no group or other bit in its mode: erl
 * says "Cookie file ... must be accessible by owner only"), and its text
 * must pass dist/ep_cookie.h's check. erl refuses to start otherwise, and so
 * does an ep_node: the same file gives the same answer on both sides.
 *
 * An explicit cookie (ep_node_opts_set_cookie, the CLI's --cookie) never
 * reaches this code.
 */
#ifndef EP_COOKIE_FILE_H
#define EP_COOKIE_FILE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reads the cookie (creating the file when missing) into out[0 .. *len).
 * cap should be at least EP_LIMIT_COOKIE_CHARS; out is not NUL-terminated.
 * When reason is not NULL it receives a sentence naming the file and what
 * is wrong (NUL-terminated, cut to reason_cap), or "" on success.
 * Returns 0 or:
 *   EP_ECOOKIEPERM  group or others may access the file (its mode is in reason);
 *   EP_ECOOKIETYPE  not a regular file;
 *   EP_ECOOKIECHARS a byte outside space..'~', or a second line (the byte
 *                   and its offset are in reason);
 *   EP_ECOOKIELONG  more than EP_LIMIT_COOKIE_CHARS characters;
 *   EP_ECOOKIESHORT no cookie character at all;
 *   EP_ENOCOOKIE    no HOME, the file cannot be read or created, or no
 *                   randomness to make one (the system's reason in reason);
 *   EP_EINVAL       cap is too small for the cookie found.
 * Blocking file I/O: a few small syscalls, done once per node start. */
int ep_cookie_file_read(uint8_t *out, size_t cap, size_t *len, char *reason, size_t reason_cap);

#ifdef __cplusplus
}
#endif
#endif
