/* commands.h - the erlpeer subcommands, one file each (tools/cmd_NAME.c).
 * Each takes argc/argv starting at the subcommand's own name and returns the
 * process exit status. Human-facing text (help, error explanations) lives in
 * tools/, never in the library. */
#ifndef EP_TOOLS_COMMANDS_H
#define EP_TOOLS_COMMANDS_H

int ep_cmd_term(int argc, char **argv);
int ep_cmd_names(int argc, char **argv);
int ep_cmd_port(int argc, char **argv);
int ep_cmd_epmd(int argc, char **argv);
int ep_cmd_ping(int argc, char **argv);
int ep_cmd_call(int argc, char **argv);
int ep_cmd_peer(int argc, char **argv);
int ep_cmd_session(int argc, char **argv);
int ep_cmd_agent(int argc, char **argv);

/* Prints "erlpeer: <what>: <message>\n" on stderr. */
void ep_tool_error(const char *what, int err);

#endif
