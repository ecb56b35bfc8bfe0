/* opts.h: one option table per command drives getopt_long, --help and the
 * completions (--list-options prints the table). Every table gets --help,
 * --version and --list-options without declaring them. */
#ifndef CX_OPTS_H
#define CX_OPTS_H

#include <stdio.h>

#include "err.h"

typedef struct {
	const char *name;       /* long name, without -- */
	char short_name;        /* or 0 */
	int id;                 /* handed to the callback; > 0 */
	const char *arg;        /* placeholder of a required argument, NULL for a flag */
	const char *help;
} cx_opt;

typedef struct {
	const char *prog;       /* "cx-dedupe", "cx-ingest serve" */
	const char *usage;      /* synopsis after prog, e.g. "[--db PATH] [--key JQPATH]" */
	const char *about;      /* one line on what it does */
	const cx_opt *opts;     /* ends with an entry whose name is NULL */
} cx_cmd;

typedef int (*cx_opt_cb)(int id, const char *arg, void *ctx, cx_err *err);

enum { CX_OPTS_DONE = -2 };

/* Parses options (GNU order, "--" ends them). Returns the index of the first
 * operand; CX_OPTS_DONE after printing --help/--version/--list-options on
 * stdout; -1 with err (CX_EXIT_USAGE) on an unknown option, a missing
 * argument, or a callback failure. */
int cx_opts_parse(const cx_cmd *cmd, int argc, char **argv, cx_opt_cb cb,
    void *ctx, cx_err *err);
void cx_opts_usage(const cx_cmd *cmd, FILE *out);
/* The start of every command: parses its options as cx_opts_parse does and
 * refuses more than max_operands operands (< 0: any number). Returns -1 to
 * go on, *first (unless NULL) getting the index of the first operand; else
 * the exit status: CX_EXIT_OK after --help, --version or --list-options,
 * CX_EXIT_USAGE after logging the error as cx_opts_usage_error does. */
int cx_opts_start(const cx_cmd *cmd, int argc, char **argv, cx_opt_cb cb,
    void *ctx, int max_operands, const char *error_code, int *first);
/* Logs a usage error of cmd as "MESSAGE (see PROG --help)", with
 * error_code among the line's fields unless it is NULL; returns
 * CX_EXIT_USAGE. */
int cx_opts_usage_error(const cx_cmd *cmd, const char *error_code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Parses a non-negative integer option value; -1 with err when it is not. */
int cx_opts_uint(const char *opt, const char *arg, long long *out, cx_err *err);
/* Parses an integer option value from min to max (LLONG_MAX: no upper
 * bound); -1 with err, in one shape for every tool, when it is not. */
int cx_opts_range(const char *opt, const char *arg, long long min, long long max,
    long long *out, cx_err *err);

/* A tool made of subcommands (cx-ingest serve, cx-oauth token, ...). */
typedef struct {
	const char *name;
	int (*run)(int argc, char **argv);  /* argv[0] is the subcommand's name */
	const cx_cmd *cmd;                   /* its usage line and about text */
} cx_subcmd;

/* The main() of such a tool: runs the named subcommand; -h/--help prints
 * every subcommand's usage line and the list, as does no command at all (on
 * stderr, exit 64); --version; --list-commands and --list-options (the
 * subcommands, for completion scripts). Returns the exit status. */
int cx_subcmd_main(const char *tool, const char *about, const cx_subcmd *cmds,
    int argc, char **argv);

/* For help texts that name what a registry holds: words[0..n) joined by
 * sep, the last two by last ("x, google or meta"). A new string. */
char *cx_opts_join(const char *const *words, size_t n, const char *sep,
    const char *last);

#endif
