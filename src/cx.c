/* cx: the dispatcher. `cx NAME ...` runs cx-NAME from the directory of this
 * binary, else from PATH; a few commands are its own: version, doctor,
 * metrics, audit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounts.h"
#include "audit.h"
#include "clock.h"
#include "config.h"
#include "configfile.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "ndjson.h"
#include "oauth.h"
#include "presets.h"
#include "opts.h"
#include "paths.h"
#include "store.h"
#include "xalloc.h"

static const char *const tools[] = {
	"approve", "dedupe", "ingest", "integrations", "oauth", "parse", "publish", "sync",
	"tenants", "email", NULL,
};

/* The secrets doctor reports as set or not (never their values). */
static const char *const secrets[] = {
	"CX_META_APP_SECRET", "CX_META_APP_SECRET_PREVIOUS", "CX_META_VERIFY_TOKEN",
	"CX_TOKEN_KEY", "CX_TOKEN_KEY_PREVIOUS", "CX_GOOGLE_SERVICE_ACCOUNT_KEY",
	"CX_X_CLIENT_SECRET", "CX_GOOGLE_CLIENT_SECRET",
	"CX_META_CLIENT_SECRET", "CX_META_ACCESS_TOKEN", "CX_PUBLISH_DIRECT_KEY", "CX_CALDAV_PASSWORD",
	"CX_AWS_SECRET_ACCESS_KEY", "CX_SENDGRID_API_KEY", "CX_MAILGUN_API_KEY", "CX_SMTP_PASSWORD",
	"CX_MAILGUN_WEBHOOK_SIGNING_KEY", "CX_SENDGRID_INBOUND_PASSWORD",
	NULL,
};

enum { O_DB = 1, O_CONFIG, O_CORRELATION, O_SINCE, O_OLDER, O_JSON, O_TABLE,
	O_CHANNEL, O_ACCOUNT, O_TENANT };

typedef struct {
	const char *db, *config, *correlation_id, *since;
	const char *channel, *account, *tenant;
	long long older_than;
	int older_given, table;
} conf;

static const cx_opt common_opts[] = {
	{ "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" },
	{ "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" },
	{ "json", 0, O_JSON, NULL, "NDJSON output (the default when stdout is not a terminal)" },
	{ "table", 0, O_TABLE, NULL, "output for people (the default on a terminal)" },
	{ NULL, 0, 0, NULL, NULL },
};

static const cx_opt audit_opts[] = {
	{ "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" },
	{ "correlation-id", 0, O_CORRELATION, "ID", "only rows of this correlation id" },
	{ "db", 0, O_DB, "PATH", "state file" },
	{ "json", 0, O_JSON, NULL, "NDJSON output (the default when stdout is not a terminal)" },
	{ "since", 0, O_SINCE, "TIME", "only rows at or after TIME (RFC 3339 or epoch seconds)" },
	{ "table", 0, O_TABLE, NULL, "output for people (the default on a terminal)" },
	{ NULL, 0, 0, NULL, NULL },
};

static const cx_opt prune_opts[] = {
	{ "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" },
	{ "db", 0, O_DB, "PATH", "state file" },
	{ "older-than", 0, O_OLDER, "DAYS", "delete audit rows older than DAYS days" },
	{ NULL, 0, 0, NULL, NULL },
};

static const cx_opt accounts_add_opts[] = {
	{ "account", 0, O_ACCOUNT, "ID", "the provider's account id (phone_number_id, page id...)" },
	{ "channel", 0, O_CHANNEL, "C", "whatsapp, instagram, messenger, x, ..." },
	{ "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" },
	{ "db", 0, O_DB, "PATH", "state file" },
	{ "tenant", 0, O_TENANT, "T", "the tenant its events belong to" },
	{ NULL, 0, 0, NULL, NULL },
};

static const cx_cmd cmd_accounts_add = { "cx accounts add",
	"--channel C --account ID --tenant T [--db PATH]",
	"Map a provider account to a tenant (events of unmapped accounts get \"default\").",
	accounts_add_opts };
static const cx_cmd cmd_accounts_list = { "cx accounts list", "[--db PATH] [--json | --table]",
	"List the account to tenant mappings.", common_opts };
static const cx_cmd cmd_doctor = { "cx doctor", "[--db PATH] [--json | --table]",
	"Show the state file, its schema, and which secrets are set.", common_opts };
static const cx_opt metrics_opts[] = {
	{ "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" },
	{ "db", 0, O_DB, "PATH", "state file" },
	{ NULL, 0, 0, NULL, NULL },
};

static const cx_cmd cmd_metrics = { "cx metrics", "[--db PATH]",
	"Print the counters in Prometheus text format.", metrics_opts };
static const cx_cmd cmd_audit = { "cx audit",
	"[--correlation-id ID] [--since TIME] [--db PATH] [--json | --table]",
	"Print the audit trail, oldest first.", audit_opts };
static const cx_cmd cmd_prune = { "cx audit prune", "--older-than DAYS [--db PATH]",
	"Delete audit rows older than DAYS days (the only deletion audit allows).",
	prune_opts };

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;

	switch (id) {
	case O_DB: c->db = arg; break;
	case O_CONFIG: c->config = arg; break;
	case O_CORRELATION: c->correlation_id = arg; break;
	case O_SINCE: c->since = arg; break;
	case O_CHANNEL: c->channel = arg; break;
	case O_ACCOUNT: c->account = arg; break;
	case O_TENANT: c->tenant = arg; break;
	case O_JSON: c->table = 0; break;
	case O_TABLE: c->table = 1; break;
	case O_OLDER:
		c->older_given = 1;
		return cx_opts_uint("older-than", arg, &c->older_than, err);
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
	    "usage: cx COMMAND [ARGS...]\n"
	    "The connectors toolkit: small NDJSON filters over one SQLite state file.\n\n"
	    "commands:\n"
	    "  dedupe     drop lines whose key was seen before (cx-dedupe)\n"
	    "  ingest     webhook server and durable inbox (cx-ingest)\n"
	    "  parse      provider payloads to canonical events (cx-parse)\n"
	    "  approve    the governed queue of outbound posts (cx-approve)\n"
	    "  publish    publish approved items (cx-publish)\n"
	    "  oauth      OAuth2 credentials (cx-oauth)\n"
	    "  sync       calendar mirrors and polling (cx-sync)\n"
	    "  tenants    tenants, their e-mail plans and paused channels (cx-tenants)\n"
	    "  email      suppression list and sending-domain checks (cx-email)\n"
	    "  integrations  API keys and trigger subscriptions of automations (cx-integrations)\n"
	    "  accounts   map provider accounts to tenants (accounts add|list)\n"
	    "  doctor     state file, schema and secrets at a glance\n"
	    "  metrics    counters in Prometheus text format\n"
	    "  audit      the audit trail (audit prune --older-than DAYS for retention)\n"
	    "  version    print the version\n\n"
	    "Each command has --help; see cx(1) and cx(7).\n");
}

/* Parses a subcommand's options, loads config and opens the store.
 * Returns -1 to go on, else the exit status to return. */
static int setup(const cx_cmd *cmd, int argc, char **argv, conf *c,
    cx_store **store)
{
	cx_err err = { 0, "" };
	int rc;

	c->table = isatty(1);
	if ((rc = cx_opts_start(cmd, argc, argv, on_option, c, 0, NULL, NULL)) >= 0)
		return rc;
	if (cx_config_load(c->config, &err) < 0 || cx_store_open(c->db, store, &err) < 0)
		return cx_log_fail(&err);
	return -1;
}

static void collect(jv row, void *ctx)
{
	jv *rows = ctx;

	*rows = jv_array_append(*rows, row);
}

/* What doctor finds of the state file: a problem is worth exit 78. */
static const char *state_problem(cx_store *s, int version, int latest)
{
	if (!s)
		return "missing";
	if (version < latest)
		return "needs migrating (any cx tool migrates it on first use)";
	if (version > latest)
		return "newer than this cx";
	return NULL;
}

/* What doctor found; secrets and credentials are consumed by the printers. */
typedef struct {
	const char *path, *problem, *config;
	int has_state, version, latest;
	jv secrets, creds;
} report;

static void print_table(report *r)
{
	printf("state file      %s%s%s\n", r->path, r->problem ? ": " : "",
	    r->problem ? r->problem : "");
	if (r->has_state)
		printf("schema version  %d (this cx knows %d)\n", r->version, r->latest);
	printf("config file     %s\n", r->config ? r->config : "(none)");
	jv_object_foreach(r->secrets, k, v) {
		printf("%-28s %s\n", jv_string_value(k),
		    jv_get_kind(v) == JV_KIND_TRUE ? "set" : "not set");
		jv_free(k);
		jv_free(v);
	}
	jv_free(r->secrets);
	jv_array_foreach(r->creds, i, cred) {
		const char *provider = cx_json_str(cred, "provider");
		const char *workspace = cx_json_str(cred, "workspace");
		const char *reason = cx_json_str(cred, "connected_reason");
		jv connected = jv_object_get(jv_copy(cred), jv_string("connected"));

		printf("credential %s:%s  %s (%s)\n", provider ? provider : "?",
		    workspace ? workspace : "?",
		    jv_get_kind(connected) == JV_KIND_TRUE ? "connected" : "not connected",
		    reason ? reason : "?");
		jv_free(connected);
		jv_free(cred);
		(void)i;
	}
	jv_free(r->creds);
}

static void print_json(report *r)
{
	jv out = jv_object();

	out = jv_object_set(out, jv_string("db"), jv_string(r->path));
	out = jv_object_set(out, jv_string("db_problem"),
	    r->problem ? jv_string(r->problem) : jv_null());
	out = jv_object_set(out, jv_string("schema_version"),
	    r->has_state ? jv_number(r->version) : jv_null());
	out = jv_object_set(out, jv_string("schema_latest"), jv_number(r->latest));
	out = jv_object_set(out, jv_string("config"),
	    r->config ? jv_string(r->config) : jv_null());
	out = jv_object_set(out, jv_string("secrets"), r->secrets);
	out = jv_object_set(out, jv_string("credentials"), r->creds);
	cx_ndjson_write(out);
}

/* Reports without changing anything: a missing file is not created and an
 * old schema is not migrated; either makes the exit status 78. */
static int doctor(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	report r = { .version = -1 };
	int rc;
	char *path;

	c.table = isatty(1);
	if ((rc = cx_opts_start(&cmd_doctor, argc, argv, on_option, &c, 0, NULL, NULL)) >= 0)
		return rc;
	if (cx_config_load(c.config, &err) < 0)
		return cx_log_fail(&err);
	path = cx_store_resolve_path(c.db);
	if (cx_store_check_location(path, &err) < 0 ||
	    (access(path, F_OK) == 0 && cx_store_open_existing(c.db, &s, &err) < 0)) {
		free(path);
		return cx_log_fail(&err);
	}
	r.path = path;
	r.creds = jv_array();
	r.latest = cx_store_schema_latest();
	r.has_state = s != NULL;
	if (s)
		r.version = cx_store_schema_version(s);
	r.problem = state_problem(s, r.version, r.latest);
	if (!r.problem && cx_oauth_status(s, cx_presets_open, NULL, NULL, collect,
	    &r.creds, &err) < 0) {
		jv_free(r.creds);
		cx_store_close(s);
		free(path);
		return cx_log_fail(&err);
	}
	r.secrets = jv_object();
	for (const char *const *n = secrets; *n; n++)
		r.secrets = jv_object_set(r.secrets, jv_string(*n), jv_bool(cx_secret_is_set(*n)));
	r.config = c.config ? c.config : cx_config_get("CX_CONFIG", NULL);
	if (c.table)
		print_table(&r);
	else
		print_json(&r);
	cx_store_close(s);
	free(path);
	cx_ndjson_flush();
	if (r.problem)
		cx_log(CX_LOG_ERROR, jv_null(), "state file %s", r.problem);
	return r.problem ? CX_EXIT_CONFIG : CX_EXIT_OK;
}

static int metrics(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int rc = setup(&cmd_metrics, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	rc = cx_metrics_write(s, stdout, &err);
	cx_store_close(s);
	cx_ndjson_flush();
	return rc < 0 ? cx_log_fail(&err) : CX_EXIT_OK;
}

static void print_audit_row(jv row, void *ctx)
{
	const conf *c = ctx;

	if (!c->table) {
		cx_ndjson_write(row);
		return;
	}
	printf("%-20s %-12s %-24s %-16s %s\n", cx_json_str(row, "ts"),
	    cx_json_str(row, "actor"), cx_json_str(row, "action"),
	    cx_json_str(row, "subject") ? cx_json_str(row, "subject") : "-",
	    cx_json_str(row, "correlation_id") ? cx_json_str(row, "correlation_id") : "-");
	jv_free(row);
}

static int parse_time(const char *s, int64_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s && *end == '\0') {
		*out = v;
		return 0;
	}
	return cx_clock_parse_rfc3339(s, out);
}

static int audit_prune(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int64_t deleted = 0;
	int rc;

	c.table = 0;
	rc = setup(&cmd_prune, argc, argv, &c, &s);
	if (rc >= 0)
		return rc;
	if (!c.older_given) {
		cx_store_close(s);
		cx_log_error("audit prune needs --older-than DAYS");
		return CX_EXIT_USAGE;
	}
	rc = cx_audit_prune(s, cx_clock_now() - c.older_than * 86400, &deleted, &err);
	cx_store_close(s);
	if (rc < 0)
		return cx_log_fail(&err);
	printf("{\"deleted\":%lld}\n", (long long)deleted);
	return CX_EXIT_OK;
}

static int audit(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int64_t since = -1;
	int rc;

	if (argc > 1 && strcmp(argv[1], "prune") == 0)
		return audit_prune(argc - 1, argv + 1);
	rc = setup(&cmd_audit, argc, argv, &c, &s);
	if (rc >= 0)
		return rc;
	if (c.since && parse_time(c.since, &since) < 0) {
		cx_store_close(s);
		cx_log_error("--since wants RFC 3339 or epoch seconds, not '%s'", c.since);
		return CX_EXIT_USAGE;
	}
	rc = cx_audit_query(s, c.correlation_id, since, print_audit_row, &c, &err);
	cx_store_close(s);
	cx_ndjson_flush();
	return rc < 0 ? cx_log_fail(&err) : CX_EXIT_OK;
}

static void print_account(jv row, void *ctx)
{
	const conf *c = ctx;

	if (!c->table) {
		cx_ndjson_write(row);
		return;
	}
	printf("%-12s %-24s %s\n", cx_json_str(row, "channel"),
	    cx_json_str(row, "account"), cx_json_str(row, "tenant"));
	jv_free(row);
}

static int accounts(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int rc;

	if (strcmp(sub, "list") == 0) {
		if ((rc = setup(&cmd_accounts_list, argc - 1, argv + 1, &c, &s)) >= 0)
			return rc;
		rc = cx_accounts_list(s, print_account, &c, &err);
	} else if (strcmp(sub, "add") == 0) {
		if ((rc = setup(&cmd_accounts_add, argc - 1, argv + 1, &c, &s)) >= 0)
			return rc;
		if (!c.channel || !c.account || !c.tenant || !*c.channel || !*c.account ||
		    !*c.tenant) {
			cx_store_close(s);
			cx_log_error("accounts add needs --channel, --account and --tenant");
			return CX_EXIT_USAGE;
		}
		rc = cx_accounts_set(s, c.channel, c.account, c.tenant, &err);
	} else {
		cx_log_error("usage: cx accounts add|list (see cx accounts add --help)");
		return CX_EXIT_USAGE;
	}
	cx_store_close(s);
	cx_ndjson_flush();
	return rc < 0 ? cx_log_fail(&err) : CX_EXIT_OK;
}

/* Runs cx-NAME: beside this binary first, then from PATH. */
static int dispatch(const char *name, int argc, char **argv)
{
	char *tool = cx_xasprintf("cx-%s", name);
	char *beside = cx_xasprintf("%s/%s", cx_paths_exe_dir(), tool);

	(void)argc;
	int rc;

	argv[0] = tool;
	if (access(beside, X_OK) == 0)
		execv(beside, argv);
	execvp(tool, argv);
	if (errno == ENOENT) {
		cx_log_error("'%s' is not a cx command (see cx --help)", name);
		rc = CX_EXIT_USAGE;
	} else {
		cx_log_error("cannot run %s: %s", tool, strerror(errno));
		rc = CX_EXIT_UNAVAILABLE;
	}
	free(beside);
	free(tool);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	cx_log_init("cx");
	cx_ndjson_out_init();
	if (cmd && strcmp(cmd, "help") == 0 && argc > 2 && strcmp(argv[2], "help") != 0) {
		/* cx help NAME is cx NAME --help */
		static char *help_argv[4];

		help_argv[0] = argv[0];
		help_argv[1] = argv[2];
		help_argv[2] = "--help";

		argv = help_argv;
		argc = 3;
		cmd = argv[1];
	}
	if (!cmd || strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(cmd ? stdout : stderr);
		return cmd ? CX_EXIT_OK : CX_EXIT_USAGE;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("cx %s\n", CX_VERSION);
		return CX_EXIT_OK;
	}
	if (strcmp(cmd, "--list-options") == 0) {
		printf("--help\t\tshow this help and exit\n--version\t\tshow the version and exit\n"
		    "--list-commands\t\tlist commands for completion scripts\n");
		return CX_EXIT_OK;
	}
	if (strcmp(cmd, "--list-commands") == 0) {
		for (const char *const *t = tools; *t; t++)
			printf("%s\n", *t);
		printf("accounts\ndoctor\nmetrics\naudit\nversion\nhelp\n");
		return CX_EXIT_OK;
	}
	if (strcmp(cmd, "doctor") == 0)
		return doctor(argc - 1, argv + 1);
	if (strcmp(cmd, "metrics") == 0)
		return metrics(argc - 1, argv + 1);
	if (strcmp(cmd, "audit") == 0)
		return audit(argc - 1, argv + 1);
	if (strcmp(cmd, "accounts") == 0)
		return accounts(argc - 1, argv + 1);
	if (cmd[0] == '-') {
		cx_log_error("unknown option %s (see cx --help)", cmd);
		return CX_EXIT_USAGE;
	}
	return dispatch(cmd, argc - 1, argv + 1);
}
