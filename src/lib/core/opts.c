/* opts.c: declared options -> getopt_long, usage text, option listing and
 * the usage errors of a command line. */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "exit.h"
#include "log.h"
#include "opts.h"
#include "xalloc.h"

#ifndef CX_VERSION
#define CX_VERSION "0.0.0"
#endif

enum { OPT_HELP = -100, OPT_VERSION = -101, OPT_LIST = -102 };

static const cx_opt builtin[] = {
	{ "help", 'h', OPT_HELP, NULL, "show this help and exit" },
	{ "version", 0, OPT_VERSION, NULL, "show the version and exit" },
	{ "list-options", 0, OPT_LIST, NULL, "list options for completion scripts" },
	{ NULL, 0, 0, NULL, NULL },
};

static void list_table(const cx_opt *t, FILE *out, int with_help)
{
	for (; t->name; t++) {
		char flag[64];

		if (t->id == OPT_LIST && with_help)
			continue;
		if (with_help) {
			if (t->short_name)
				snprintf(flag, sizeof flag, "-%c, --%s%s%s", t->short_name,
				    t->name, t->arg ? " " : "", t->arg ? t->arg : "");
			else
				snprintf(flag, sizeof flag, "    --%s%s%s", t->name,
				    t->arg ? " " : "", t->arg ? t->arg : "");
			fprintf(out, "  %-30s %s\n", flag, t->help);
		} else {
			fprintf(out, "--%s\t%s\t%s\n", t->name, t->arg ? t->arg : "",
			    t->help);
		}
	}
}

void cx_opts_usage(const cx_cmd *cmd, FILE *out)
{
	fprintf(out, "usage: %s %s\n", cmd->prog, cmd->usage);
	if (cmd->about)
		fprintf(out, "%s\n", cmd->about);
	fprintf(out, "\noptions:\n");
	list_table(cmd->opts, out, 1);
	list_table(builtin, out, 1);
}

static size_t count(const cx_opt *t)
{
	size_t n = 0;

	while (t[n].name)
		n++;
	return n;
}

static const cx_opt *find(const cx_opt *t, int id)
{
	for (; t->name; t++)
		if (t->id == id)
			return t;
	return NULL;
}

int cx_opts_parse(const cx_cmd *cmd, int argc, char **argv, cx_opt_cb cb,
    void *ctx, cx_err *err)
{
	size_t n = count(cmd->opts), nb = count(builtin), k = 0;
	struct option *lo = cx_xcalloc(n + nb + 1, sizeof *lo);
	char shorts[128] = ":";
	size_t ns = 1;
	int c, rc = 0, idx;

	for (size_t pass = 0; pass < 2; pass++) {
		const cx_opt *t = pass ? builtin : cmd->opts;

		for (; t->name; t++) {
			lo[k].name = t->name;
			lo[k].has_arg = t->arg ? required_argument : no_argument;
			lo[k].val = t->id + 1000;
			k++;
			if (t->short_name && ns + 3 < sizeof shorts) {
				shorts[ns++] = t->short_name;
				if (t->arg)
					shorts[ns++] = ':';
			}
		}
	}
	shorts[ns] = '\0';
	opterr = 0;
	optind = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, shorts, lo, &idx)) != -1) {
		const cx_opt *o;
		int id = 0;

		if (c >= 800) {
			/* long options carry id + 1000 (built-ins are negative) */
			id = c - 1000;
		} else if (c != '?' && c != ':') {
			for (size_t i = 0; i < k; i++) {
				const cx_opt *t = i < n ? &cmd->opts[i] : &builtin[i - n];

				if (t->short_name == c)
					id = t->id;
			}
		}
		if (c == ':') {
			rc = cx_err_set(err, CX_EXIT_USAGE, "option %s needs a value",
			    argv[optind - 1]);
			break;
		}
		if (c == '?' || id == 0) {
			rc = cx_err_set(err, CX_EXIT_USAGE, "unknown option %s",
			    argv[optind - 1]);
			break;
		}
		switch (id) {
		case OPT_HELP:
			cx_opts_usage(cmd, stdout);
			rc = CX_OPTS_DONE;
			break;
		case OPT_VERSION:
			printf("%s %s\n", cmd->prog, CX_VERSION);
			rc = CX_OPTS_DONE;
			break;
		case OPT_LIST:
			list_table(cmd->opts, stdout, 0);
			list_table(builtin, stdout, 0);
			rc = CX_OPTS_DONE;
			break;
		default:
			o = find(cmd->opts, id);
			if (cb(id, o && o->arg ? optarg : NULL, ctx, err) < 0)
				rc = -1;
		}
	}
	free(lo);
	return rc < 0 ? rc : optind;
}

int cx_opts_start(const cx_cmd *cmd, int argc, char **argv, cx_opt_cb cb,
    void *ctx, int max_operands, const char *error_code, int *first)
{
	cx_err err = { 0, "" };
	int rc = cx_opts_parse(cmd, argc, argv, cb, ctx, &err);

	if (rc == CX_OPTS_DONE)
		return CX_EXIT_OK;
	if (rc < 0)
		return cx_opts_usage_error(cmd, error_code, "%s", err.msg);
	if (max_operands >= 0 && argc - rc > max_operands)
		return cx_opts_usage_error(cmd, error_code, "unexpected argument '%s'",
		    argv[rc + max_operands]);
	if (first)
		*first = rc;
	return -1;
}

int cx_opts_usage_error(const cx_cmd *cmd, const char *error_code,
    const char *fmt, ...)
{
	char msg[sizeof ((cx_err *)0)->msg];
	jv fields = error_code ? jv_object_set(jv_object(), jv_string("error_code"),
	    jv_string(error_code)) : jv_null();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cx_log(CX_LOG_ERROR, fields, "%s (see %s --help)", msg, cmd->prog);
	return CX_EXIT_USAGE;
}

int cx_opts_range(const char *opt, const char *arg, long long min, long long max,
    long long *out, cx_err *err)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (!errno && end != arg && *end == '\0' && v >= min && v <= max) {
		*out = v;
		return 0;
	}
	if (max == LLONG_MAX)
		return cx_err_set(err, CX_EXIT_USAGE,
		    "--%s wants an integer from %lld up, not '%s'", opt, min, arg);
	return cx_err_set(err, CX_EXIT_USAGE,
	    "--%s wants an integer from %lld to %lld, not '%s'", opt, min, max, arg);
}

int cx_opts_uint(const char *opt, const char *arg, long long *out, cx_err *err)
{
	return cx_opts_range(opt, arg, 0, LLONG_MAX, out, err);
}

static void subcmd_usage(const char *tool, const char *about,
    const cx_subcmd *cmds, FILE *out)
{
	for (int i = 0; cmds[i].name; i++)
		fprintf(out, "%s %s %s\n", i ? "      " : "usage:", cmds[i].cmd->prog,
		    cmds[i].cmd->usage);
	fprintf(out, "%s\n\ncommands:\n", about);
	for (int i = 0; cmds[i].name; i++)
		fprintf(out, "  %-16s %s\n", cmds[i].name, cmds[i].cmd->about);
	fprintf(out, "\nEach command has --help; see %s(1).\n", tool);
}

int cx_subcmd_main(const char *tool, const char *about, const cx_subcmd *cmds,
    int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd || strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		subcmd_usage(tool, about, cmds, cmd ? stdout : stderr);
		return cmd ? CX_EXIT_OK : CX_EXIT_USAGE;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("%s %s\n", tool, CX_VERSION);
		return CX_EXIT_OK;
	}
	if (strcmp(cmd, "--list-commands") == 0 || strcmp(cmd, "--list-options") == 0) {
		int names_only = strcmp(cmd, "--list-commands") == 0;

		for (int i = 0; cmds[i].name; i++)
			if (names_only)
				printf("%s\n", cmds[i].name);
			else
				printf("%s\t\t%s\n", cmds[i].name, cmds[i].cmd->about);
		return CX_EXIT_OK;
	}
	for (int i = 0; cmds[i].name; i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			return cmds[i].run(argc - 1, argv + 1);
	cx_log_error("unknown command '%s' (see %s --help)", cmd, tool);
	return CX_EXIT_USAGE;
}

char *cx_opts_join(const char *const *words, size_t n, const char *sep,
    const char *last)
{
	char *out = cx_xstrdup(""), *more;

	for (size_t i = 0; i < n; i++) {
		more = cx_xasprintf("%s%s%s", out, i == 0 ? "" : i + 1 < n ? sep : last,
		    words[i]);
		free(out);
		out = more;
	}
	return out;
}
