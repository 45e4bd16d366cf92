/* ep_iolib.h - io_lib:format/2 in C, for the I/O a peer relays to us.
 *
 * A peer's io:format/2 reaches its group leader unformatted, as the request
 * {put_chars, unicode, io_lib, format, [Format, Args]}: the controller must
 * format it the way the peer would have printed it. This covers the
 * directives peers print with: ~p ~P ~w ~W ~s ~c ~b ~B ~x ~X ~# ~+ ~e ~f ~g
 * ~i ~n ~~ with field width, precision, padding character, left adjustment,
 * '*' arguments and the t/l/k modifiers (output is UTF-8 either way).
 * ~p lays terms out as io_lib_pretty does (line length 80 or the field
 * width, from the current column; strings, printable binaries, ~tp's
 * "..."/utf8 binaries), ~w writes them on one line with lists and binaries
 * as numbers; checked against OTP 25's output for hundreds of random terms
 * (tests/unit/test_iolib_vectors.txt). Known differences from the BEAM:
 * ~P and ~W ignore their depth (the whole term is printed); floats, pids,
 * ports, references and funs are printed by ep_print (a pid with its node
 * name, <node@host.85.0>, where a BEAM shows its own numbering). Atoms are
 * quoted and escaped as io_lib:write_atom/1 does (write_atom_as_latin1/1
 * without t).
 * Latin-1 against Unicode follows io_lib_format: ~s takes an iolist of
 * bytes (a binary's bytes are Latin-1 characters, a code point over 255 is
 * badarg), ~ts chardata (a binary that is not UTF-8 is read as Latin-1), ~c
 * writes the low byte and ~tc the code point, and a format given as a
 * binary is its bytes as Latin-1 characters.
 * Sans I/O.
 */
#ifndef EP_IOLIB_H
#define EP_IOLIB_H

#include <stddef.h>

#include "ep_mem.h"
#include "ep_term.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Appends io_lib:format(Format, Args) as UTF-8 to out. Format is a string,
 * binary or atom; Args a proper list. Returns 0; EP_EINVAL where
 * io_lib:format would raise badarg (unknown directive, too few or too many
 * arguments, an argument of the wrong type); EP_ENOMEM. On error out is left
 * as it was. */
int ep_iolib_format(ep_buf *out, ep_term format, ep_term args);

/* Appends chardata (unicode:characters_to_binary/1 input: code points,
 * UTF-8 binaries, nested lists of those, a binary as an improper tail) as
 * UTF-8. The one chardata flattener of erlpeer (ep_chardata_utf8 is it
 * too): iterative, nesting bounded by EP_LIMIT_DEPTH. 0, EP_EINVAL (not
 * chardata: an atom, a code point out of range or a surrogate, a binary
 * that is not UTF-8), EP_EDEPTH (nested deeper than EP_LIMIT_DEPTH),
 * EP_ENOMEM. On error out is left as it was. */
int ep_iolib_chardata(ep_buf *out, ep_term t);

/* The same for {put_chars, latin1, Chars}: binaries hold Latin-1 bytes, each
 * written as its UTF-8 form. */
int ep_iolib_chardata_latin1(ep_buf *out, ep_term t);

#ifdef __cplusplus
}
#endif
#endif
