/* cx-tenants: tenants and their e-mail plans (set, list, show), and the
 * channels paused for one of them (resume). Changes are for owners and
 * admins (operators.h), checked and audited by the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emailmsg.h"
#include "config.h"
#include "configfile.h"
#include "exit.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "opts.h"
#include "session.h"
#include "store.h"
#include "tenants.h"

enum { O_DB = 1, O_CONFIG, O_JSON, O_TABLE, O_PLAN, O_FROM, O_QUOTA, O_CHANNEL };

typedef struct {
	const char *db, *config, *plan, *from, *channel;
	long long quota;            /* -2: not given, -1: none */
	int table;
} conf;

#define OPT_CONFIG { "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" }
#define OPT_DB { "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" }
#define OPT_JSON { "json", 0, O_JSON, NULL, "NDJSON output (the default when stdout is not a terminal)" }
#define OPT_TABLE { "table", 0, O_TABLE, NULL, "output for people (the default on a terminal)" }
#define OPT_END { NULL, 0, 0, NULL, NULL }

static const cx_opt set_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "email-daily-quota", 0, O_QUOTA, "N", "messages a UTC day at most (none: no quota)" },
	{ "email-from", 0, O_FROM, "ADDRESS", "the tenant's own address (local@domain)" },
	{ "email-plan", 0, O_PLAN, "PLAN", "default, premium, advanced or expert" },
	OPT_END,
};
static const cx_opt list_opts[] = { OPT_CONFIG, OPT_DB, OPT_JSON, OPT_TABLE, OPT_END };
static const cx_opt resume_opts[] = {
	{ "channel", 0, O_CHANNEL, "C", "the channel to resume (email, s3, sheets, upload, x, ...)" },
	OPT_CONFIG, OPT_DB, OPT_END,
};

static const cx_cmd cmd_set = { "cx-tenants set",
	"TENANT [--email-plan default|premium|advanced|expert] [--email-from ADDRESS] "
	"[--email-daily-quota N] [--db PATH]",
	"List a tenant or change its e-mail settings (owners and admins).", set_opts };
static const cx_cmd cmd_list = { "cx-tenants list", "[--db PATH] [--json | --table]",
	"List the tenants, and any with a paused channel.", list_opts };
static const cx_cmd cmd_show = { "cx-tenants show", "TENANT [--db PATH] [--json | --table]",
	"Show a tenant: plan, From, quota, paused channels, its domain's last check.",
	list_opts };
static const cx_cmd cmd_resume = { "cx-tenants resume", "TENANT --channel C [--db PATH]",
	"Resume a channel paused for a tenant (owners and admins).", resume_opts };

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;

	switch (id) {
	case O_DB: c->db = arg; break;
	case O_CONFIG: c->config = arg; break;
	case O_JSON: c->table = 0; break;
	case O_TABLE: c->table = 1; break;
	case O_PLAN: c->plan = arg; break;
	case O_FROM: c->from = arg; break;
	case O_CHANNEL: c->channel = arg; break;
	case O_QUOTA:
		if (strcmp(arg, "none") == 0) {
			c->quota = -1;
			return 0;
		}
		return cx_opts_uint("email-daily-quota", arg, &c->quota, err);
	}
	return 0;
}

/* Parses cmd's options with exactly operands operands (argv[*first]...).
 * Returns -1 to go on, else the exit status. */
static int parse(const cx_cmd *cmd, int argc, char **argv, conf *c, int operands,
    int *first)
{
	int rc;

	c->table = isatty(1);
	c->quota = -2;
	rc = cx_opts_start(cmd, argc, argv, on_option, c, operands, NULL, first);
	if (rc >= 0)
		return rc;
	if (argc - *first < operands)
		return cx_opts_usage_error(cmd, NULL, "a TENANT is needed");
	return -1;
}

static int set_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	char *from = NULL;
	int first, rc = parse(&cmd_set, argc, argv, &c, 1, &first);

	if (rc >= 0)
		return rc;
	if (!cx_tenants_valid_name(argv[first], &err) ||
	    (c.plan && !cx_tenants_valid_plan(c.plan, &err)) ||
	    (c.from && cx_email_addr_check(c.from, &from, &err) < 0))
		return cx_opts_usage_error(&cmd_set, NULL, "%s", err.msg);
	if ((rc = cx_session_start(c.config, c.db, &s)) >= 0) {
		free(from);
		return rc;
	}
	rc = cx_tenants_set(s, argv[first], c.plan, from, c.quota, cx_identity_user(), &err);
	free(from);
	if (rc == 0)
		cx_log_info("tenant %s set", argv[first]);
	return cx_session_end(s, rc, &err);
}

static void print_header(void)
{
	printf("%-24s %-9s %-32s %-8s %s\n", "NAME", "PLAN", "FROM", "QUOTA", "PAUSED");
}

static void print_tenant_row(jv row, void *ctx)
{
	const conf *c = ctx;
	jv paused = jv_object_get(jv_copy(row), jv_string("paused"));
	jv quota = jv_object_get(jv_copy(row), jv_string("email_daily_quota"));
	char q[32];

	if (!c->table) {
		jv_free(paused);
		jv_free(quota);
		cx_ndjson_write(row);
		return;
	}
	snprintf(q, sizeof q, "%s", "none");
	if (jv_get_kind(quota) == JV_KIND_NUMBER)
		snprintf(q, sizeof q, "%.0f", jv_number_value(quota));
	printf("%-24s %-9s %-32s %-8s", cx_json_str(row, "name"),
	    cx_json_str(row, "email_plan"), cx_json_str(row, "email_from") ?
	    cx_json_str(row, "email_from") : "-", q);
	jv_array_foreach(paused, i, ch) {
		printf("%s%s", i ? "," : " ", jv_string_value(ch));
		jv_free(ch);
	}
	printf("%s\n", jv_array_length(jv_copy(paused)) ? "" : " -");
	jv_free(paused);
	jv_free(quota);
	jv_free(row);
}

static int list_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int first, rc = parse(&cmd_list, argc, argv, &c, 0, &first);

	if (rc >= 0 || (rc = cx_session_start(c.config, c.db, &s)) >= 0)
		return rc;
	if (c.table)
		print_header();
	rc = cx_tenants_list(s, print_tenant_row, &c, &err);
	return cx_session_end(s, rc, &err);
}

/* show for people: the list's header and line, then a line per pause and
 * one for the domain check. */
static void print_show(jv t)
{
	jv pauses = jv_object_get(jv_copy(t), jv_string("pauses"));
	jv check = jv_object_get(jv_copy(t), jv_string("email_domain_check"));
	conf table = { .table = 1 };

	print_header();
	print_tenant_row(jv_copy(t), &table);
	jv_array_foreach(pauses, i, p) {
		printf("  paused %s since %s: %s (%s)\n", cx_json_str(p, "channel"),
		    cx_json_str(p, "paused_at"), cx_json_str(p, "error_code"),
		    cx_json_str(p, "reason"));
		jv_free(p);
		(void)i;
	}
	if (jv_get_kind(check) == JV_KIND_OBJECT) {
		jv ok = jv_object_get(jv_copy(check), jv_string("ok"));

		printf("  domain %s checked %s: %s\n", cx_json_str(check, "domain"),
		    cx_json_str(check, "checked_at"),
		    jv_get_kind(ok) == JV_KIND_TRUE ? "ok" : "failed");
		jv_free(ok);
	}
	jv_free(check);
	jv_free(pauses);
	jv_free(t);
}

static int show_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	jv t;
	int first, rc = parse(&cmd_show, argc, argv, &c, 1, &first);

	if (rc >= 0)
		return rc;
	if (!cx_tenants_valid_name(argv[first], &err))
		return cx_opts_usage_error(&cmd_show, NULL, "%s", err.msg);
	if ((rc = cx_session_start(c.config, c.db, &s)) >= 0)
		return rc;
	if ((rc = cx_tenants_show(s, argv[first], &t, &err)) == 0) {
		if (c.table)
			print_show(t);
		else
			cx_ndjson_write(t);
	}
	return cx_session_end(s, rc, &err);
}

/* A channel name as the registries spell them. */
static int channel_ok(const char *channel)
{
	size_t n = strlen(channel);

	return n >= 1 && n <= 32 && strspn(channel, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int resume_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int was = 0, first, rc = parse(&cmd_resume, argc, argv, &c, 1, &first);

	if (rc >= 0)
		return rc;
	if (!cx_tenants_valid_name(argv[first], &err))
		return cx_opts_usage_error(&cmd_resume, NULL, "%s", err.msg);
	if (!c.channel || !channel_ok(c.channel))
		return cx_opts_usage_error(&cmd_resume, NULL, "resume needs --channel C "
		    "(a channel name: email, s3, sheets, upload, x, ...)");
	if ((rc = cx_session_start(c.config, c.db, &s)) >= 0)
		return rc;
	rc = cx_tenants_resume(s, argv[first], c.channel, cx_identity_user(), &was, &err);
	if (rc == 0)
		cx_log_info(was ? "%s: %s resumed" : "%s: %s was not paused; nothing changed",
		    argv[first], c.channel);
	return cx_session_end(s, rc, &err);
}

static const cx_subcmd commands[] = {
	{ "set", set_cmd, &cmd_set },
	{ "list", list_cmd, &cmd_list },
	{ "show", show_cmd, &cmd_show },
	{ "resume", resume_cmd, &cmd_resume },
	{ NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	cx_log_init("cx-tenants");
	return cx_subcmd_main("cx-tenants",
	    "Tenants: their e-mail plan, From address and daily quota, and the channels "
	    "paused for them.", commands, argc, argv);
}
