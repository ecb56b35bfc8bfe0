/* cx-email: the e-mail governance an operator runs by hand: the
 * suppression list (suppressions list|add|remove, changes for owners and
 * admins) and the DNS check of a sending domain (check-domain), whose
 * result a premium or advanced tenant needs before it may send. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emailmsg.h"
#include "config.h"
#include "configfile.h"
#include "dns.h"
#include "domaincheck.h"
#include "emaildomains.h"
#include "exit.h"
#include "identity.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "opts.h"
#include "session.h"
#include "store.h"
#include "suppressions.h"
#include "tenants.h"
#include "xalloc.h"

enum { O_DB = 1, O_CONFIG, O_JSON, O_TABLE, O_TENANT, O_REASON, O_PROVIDER };

typedef struct {
	const char *db, *config, *tenant, *reason, *provider;
	int table;
} conf;

#define OPT_CONFIG { "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" }
#define OPT_DB { "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" }
#define OPT_JSON { "json", 0, O_JSON, NULL, "NDJSON output (the default when stdout is not a terminal)" }
#define OPT_TABLE { "table", 0, O_TABLE, NULL, "output for people (the default on a terminal)" }
#define OPT_END { NULL, 0, 0, NULL, NULL }

static const cx_opt list_opts[] = {
	OPT_CONFIG, OPT_DB, OPT_JSON, OPT_TABLE,
	{ "tenant", 0, O_TENANT, "T", "only the addresses suppressed for T" },
	OPT_END,
};
static const cx_opt add_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "reason", 0, O_REASON, "R", "why no message may go to it (required)" },
	{ "tenant", 0, O_TENANT, "T", "the tenant, or *default for every default-plan tenant" },
	OPT_END,
};
static const cx_opt remove_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "tenant", 0, O_TENANT, "T", "the tenant, or *default for every default-plan tenant" },
	OPT_END,
};
static const cx_opt check_opts[] = {
	OPT_CONFIG, OPT_DB, OPT_JSON,
	{ "provider", 0, O_PROVIDER, "P", "ses, sendgrid, mailgun or smtp" },
	OPT_TABLE,
	{ "tenant", 0, O_TENANT, "T", "the tenant whose plan names the provider" },
	OPT_END,
};

/* The synopsis of each command, after its name; the top-level usage is
 * all of them, as in the manual's SYNOPSIS. */
#define ARGS_LIST "[--tenant T] [--db PATH] [--json | --table]"
#define ARGS_ADD "ADDRESS --tenant T --reason R [--db PATH]"
#define ARGS_REMOVE "ADDRESS --tenant T [--db PATH]"
#define NEXT "\n       cx-email "

static const cx_cmd cmd_list = { "cx-email suppressions list", ARGS_LIST,
	"List suppressed addresses.", list_opts };
static const cx_cmd cmd_add = { "cx-email suppressions add", ARGS_ADD,
	"Suppress an address for a tenant (owners and admins).", add_opts };
static const cx_cmd cmd_remove = { "cx-email suppressions remove", ARGS_REMOVE,
	"Take an address off a tenant's suppression list (owners and admins).", remove_opts };
static const cx_cmd cmd_suppressions = { "cx-email suppressions",
	"list " ARGS_LIST NEXT "suppressions add " ARGS_ADD NEXT "suppressions remove "
	ARGS_REMOVE,
	"The suppression list: addresses no message goes to.", list_opts };
static const cx_cmd cmd_check = { "cx-email check-domain",
	"DOMAIN [--provider ses|sendgrid|mailgun|smtp] [--tenant T] [--db PATH] "
	"[--json | --table]",
	"Check a sending domain's SPF, DMARC and DKIM records, and record the result.",
	check_opts };

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;

	(void)err;
	switch (id) {
	case O_DB: c->db = arg; break;
	case O_CONFIG: c->config = arg; break;
	case O_JSON: c->table = 0; break;
	case O_TABLE: c->table = 1; break;
	case O_TENANT: c->tenant = arg; break;
	case O_REASON: c->reason = arg; break;
	case O_PROVIDER: c->provider = arg; break;
	}
	return 0;
}

/* Parses cmd's options with exactly operands operands. Returns -1 to go
 * on (*first the first operand), else the exit status. */
static int parse(const cx_cmd *cmd, int argc, char **argv, conf *c, int operands,
    int *first)
{
	int rc;

	c->table = isatty(1);
	rc = cx_opts_start(cmd, argc, argv, on_option, c, operands, NULL, first);
	if (rc >= 0)
		return rc;
	if (argc - *first < operands)
		return cx_opts_usage_error(cmd, NULL, "%s", cmd == &cmd_check ?
		    "a DOMAIN is needed" : "an ADDRESS is needed");
	return -1;
}

/* --- suppressions ---------------------------------------------------------- */

static void print_suppression(jv row, void *ctx)
{
	const conf *c = ctx;

	if (!c->table) {
		cx_ndjson_write(row);
		return;
	}
	printf("%-24s %-32s %-20s %-24s %s\n", cx_json_str(row, "scope"),
	    cx_json_str(row, "address"), cx_json_str(row, "created_at"),
	    cx_json_str(row, "source"), cx_json_str(row, "reason"));
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
		printf("%-24s %-32s %-20s %-24s %s\n", "SCOPE", "ADDRESS", "SINCE", "SOURCE",
		    "REASON");
	rc = cx_suppressions_list(s, c.tenant, print_suppression, &c, &err);
	return cx_session_end(s, rc, &err);
}

/* suppressions add (add 1) or remove (add 0) of ADDRESS for --tenant. */
static int change(const cx_cmd *cmd, int add, int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	char *addr, *masked;
	int changed = 0, first, rc = parse(cmd, argc, argv, &c, 1, &first);

	if (rc >= 0)
		return rc;
	if (!c.tenant || (add && (!c.reason || !*c.reason)))
		return cx_opts_usage_error(cmd, NULL, add ? "add needs --tenant T and "
		    "--reason R" : "remove needs --tenant T");
	if (cx_email_addr_check(argv[first], &addr, &err) < 0)
		return cx_opts_usage_error(cmd, NULL, "%s", err.msg);
	for (char *p = addr; *p; p++)   /* as the list keeps it */
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if ((rc = cx_session_start(c.config, c.db, &s)) >= 0) {
		free(addr);
		return rc;
	}
	rc = add ? cx_suppressions_add(s, c.tenant, addr, c.reason, cx_identity_user(),
	    &changed, &err) : cx_suppressions_remove(s, c.tenant, addr, cx_identity_user(),
	    &changed, &err);
	masked = cx_log_mask_email(addr);
	if (rc == 0 && !add && !changed) {
		rc = cx_err_set(&err, CX_EXIT_SOME_FAILED, "%s is not suppressed for %s; "
		    "nothing changed", masked, c.tenant);
	} else if (rc == 0) {
		cx_log_info("%s %s %s", masked, add ? (changed ? "suppressed for" :
		    "was already suppressed for") : "no longer suppressed for", c.tenant);
	}
	free(masked);
	free(addr);
	return cx_session_end(s, rc, &err);
}

static int add_cmd(int argc, char **argv)
{
	return change(&cmd_add, 1, argc, argv);
}

static int remove_cmd(int argc, char **argv)
{
	return change(&cmd_remove, 0, argc, argv);
}

static const cx_subcmd suppression_commands[] = {
	{ "list", list_cmd, &cmd_list },
	{ "add", add_cmd, &cmd_add },
	{ "remove", remove_cmd, &cmd_remove },
	{ NULL, NULL, NULL },
};

static int suppressions_cmd(int argc, char **argv)
{
	return cx_subcmd_main("cx-email", cmd_suppressions.about, suppression_commands,
	    argc, argv);
}

/* --- check-domain ---------------------------------------------------------- */

/* The setting name, or name_<TENANT> (upper case, other characters '_')
 * when tenant is given and that one is set. */
static const char *tenant_setting(const char *name, const char *tenant)
{
	const char *v = NULL;
	char *key;

	if (tenant) {
		key = cx_xasprintf("%s_%s", name, tenant);
		for (char *p = key + strlen(name) + 1; *p; p++)
			*p = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') :
			    (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ? *p : '_';
		v = cx_config_get(key, NULL);
		free(key);
	}
	return v ? v : cx_config_get(name, NULL);
}

/* --provider, else the provider of --tenant's plan, else the default
 * plan's; NULL with err on a store failure. */
static const char *pick_provider(const conf *c, cx_store *s, cx_err *err)
{
	const char *provider;
	cx_tenant t;

	if (c->provider)
		return c->provider;
	if (!c->tenant)
		return cx_email_plan_provider("default");
	if (cx_tenants_get(s, c->tenant, &t, err) < 0)
		return NULL;
	provider = cx_email_plan_provider(t.email_plan);
	cx_tenant_free(&t);
	return provider;
}

static void print_report(jv report, int table)
{
	if (table)
		printf("%-6s %-40s %-8s %s\n", "RECORD", "NAME", "STATUS", "DETAIL");
	jv_array_foreach(report, i, r) {
		if (!table) {
			cx_ndjson_write(r);
			continue;
		}
		printf("%-6s %-40s %-8s %s\n", cx_json_str(r, "record"), cx_json_str(r, "name"),
		    cx_json_str(r, "status"), cx_json_str(r, "detail"));
		jv_free(r);
		(void)i;
	}
	jv_free(report);
}

/* Checks domain for the provider c names and records the result: the exit
 * status. */
static int check_and_record(const conf *c, cx_store *s, const char *domain)
{
	const char *provider;
	cx_err err = { 0, "" };
	cx_dns *dns = NULL;
	jv report = jv_invalid();
	int ok = 0, rc = -1;

	if ((provider = pick_provider(c, s, &err)) &&
	    cx_dns_open(cx_config_get("CX_DNS_SERVER", NULL), &dns, &err) == 0 &&
	    cx_email_domain_check(dns, domain, provider, tenant_setting("CX_DKIM_SELECTORS",
	    c->tenant), &report, &ok, &err) == 0)
		rc = cx_email_domains_record(s, domain, provider, ok, jv_copy(report), &err);
	cx_dns_close(dns);
	if (rc < 0) {
		jv_free(report);
		return cx_log_fail(&err);
	}
	print_report(report, c->table);
	if (!ok)
		cx_log_warn("%s is not ready to send through %s: a record is missing or weak",
		    domain, provider);
	return ok ? CX_EXIT_OK : CX_EXIT_SOME_FAILED;
}

static int check_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	char *domain = NULL;
	int first, rc = parse(&cmd_check, argc, argv, &c, 1, &first);

	if (rc >= 0)
		return rc;
	if (c.provider && !cx_email_provider_known(c.provider))
		return cx_opts_usage_error(&cmd_check, NULL, "'%s' is not an e-mail provider "
		    "(%s)", c.provider, CX_EMAIL_PROVIDER_NAMES);
	if ((c.tenant && !cx_tenants_valid_name(c.tenant, &err)) ||
	    !(domain = cx_email_domain_normalize(argv[first], &err)))
		return cx_opts_usage_error(&cmd_check, NULL, "%s", err.msg);
	if ((rc = cx_session_start(c.config, c.db, &s)) >= 0) {
		free(domain);
		return rc;
	}
	rc = check_and_record(&c, s, domain);
	free(domain);
	cx_ndjson_flush();
	cx_store_close(s);
	return rc;
}

static const cx_subcmd commands[] = {
	{ "suppressions", suppressions_cmd, &cmd_suppressions },
	{ "check-domain", check_cmd, &cmd_check },
	{ NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	cx_log_init("cx-email");
	return cx_subcmd_main("cx-email",
	    "E-mail governance: the suppression list and the DNS check of sending domains.",
	    commands, argc, argv);
}
