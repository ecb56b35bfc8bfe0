/* cx-integrations: the integrations through which Zapier, Make and other
 * automations call cx (create, rotate, revoke, enable, list), and where
 * they want trigger events delivered (subscribe, subscriptions,
 * unsubscribe, rotate-secret). Changes are for owners and admins
 * (operators.h), checked and audited by the store. An API key or signing
 * secret is printed once, on stdout, and kept only as a hash or sealed. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "exit.h"
#include "identity.h"
#include "integrations.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "opts.h"
#include "session.h"
#include "store.h"
#include "subscriptions.h"
#include "tenants.h"
#include "tokencrypt.h"
#include "url.h"

#define GRACE_DEFAULT 86400
#define GRACE_MAX (366LL * 86400)

enum { O_DB = 1, O_CONFIG, O_JSON, O_TABLE, O_TENANT, O_KIND, O_NAME, O_SCOPES,
	O_GRACE, O_EVENT, O_URL, O_INTEGRATION };

typedef struct {
	const char *db, *config, *tenant, *kind, *name, *scopes, *event, *url;
	const char *integration;
	long long grace;
	int table;
} conf;

#define OPT_CONFIG { "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" }
#define OPT_DB { "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" }
#define OPT_JSON { "json", 0, O_JSON, NULL, "NDJSON output (the default when stdout is not a terminal)" }
#define OPT_TABLE { "table", 0, O_TABLE, NULL, "output for people (the default on a terminal)" }
#define OPT_GRACE { "grace", 0, O_GRACE, "SECONDS", "how long the previous one keeps working (default 86400)" }
#define OPT_END { NULL, 0, 0, NULL, NULL }

static const cx_opt create_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "kind", 0, O_KIND, "KIND", "zapier, make or generic" },
	{ "name", 0, O_NAME, "NAME", "what people call it (1 to 128 bytes of UTF-8)" },
	{ "scopes", 0, O_SCOPES, "SCOPES", "space-separated action:<name> and trigger:<event type>" },
	{ "tenant", 0, O_TENANT, "TENANT", "the tenant it acts for" },
	OPT_END,
};
static const cx_opt rotate_opts[] = { OPT_CONFIG, OPT_DB, OPT_GRACE, OPT_END };
static const cx_opt plain_opts[] = { OPT_CONFIG, OPT_DB, OPT_END };
static const cx_opt list_opts[] = {
	OPT_CONFIG, OPT_DB, OPT_JSON, OPT_TABLE,
	{ "tenant", 0, O_TENANT, "TENANT", "only this tenant's integrations" },
	OPT_END,
};
static const cx_opt subscribe_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "event", 0, O_EVENT, "TYPE", "the event type to deliver (message, lead, ...)" },
	{ "url", 0, O_URL, "URL", "where to POST them (http or https)" },
	OPT_END,
};
static const cx_opt subscriptions_opts[] = {
	OPT_CONFIG, OPT_DB,
	{ "integration", 0, O_INTEGRATION, "ID", "only this integration's subscriptions" },
	OPT_JSON, OPT_TABLE, OPT_END,
};

static const cx_cmd cmd_create = { "cx-integrations create",
	"--tenant TENANT --kind zapier|make|generic --name NAME --scopes SCOPES "
	"[--db PATH]",
	"Create an integration; prints its id and API key (shown only this once).",
	create_opts };
static const cx_cmd cmd_rotate = { "cx-integrations rotate", "ID [--grace SECONDS] [--db PATH]",
	"Give an integration a new API key; the old one works until the grace ends.",
	rotate_opts };
static const cx_cmd cmd_revoke = { "cx-integrations revoke", "ID [--db PATH]",
	"Revoke an integration: its keys stop at once, its subscriptions are disabled.",
	plain_opts };
static const cx_cmd cmd_enable = { "cx-integrations enable", "ID [--db PATH]",
	"Make an integration disabled after refused calls active again.", plain_opts };
static const cx_cmd cmd_list = { "cx-integrations list",
	"[--tenant TENANT] [--db PATH] [--json | --table]",
	"List the integrations, never a key.", list_opts };
static const cx_cmd cmd_subscribe = { "cx-integrations subscribe",
	"ID --event TYPE --url URL [--db PATH]",
	"Deliver events of a type to a URL; prints the subscription and its signing "
	"secret (shown only this once).", subscribe_opts };
static const cx_cmd cmd_subscriptions = { "cx-integrations subscriptions",
	"[--integration ID] [--db PATH] [--json | --table]",
	"List the trigger subscriptions, never a secret.", subscriptions_opts };
static const cx_cmd cmd_unsubscribe = { "cx-integrations unsubscribe", "SUB [--db PATH]",
	"Delete a trigger subscription.", plain_opts };
static const cx_cmd cmd_rotate_secret = { "cx-integrations rotate-secret",
	"SUB [--grace SECONDS] [--db PATH]",
	"Give a subscription a new signing secret; both sign until the grace ends.",
	rotate_opts };

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;

	switch (id) {
	case O_DB: c->db = arg; break;
	case O_CONFIG: c->config = arg; break;
	case O_JSON: c->table = 0; break;
	case O_TABLE: c->table = 1; break;
	case O_TENANT: c->tenant = arg; break;
	case O_KIND: c->kind = arg; break;
	case O_NAME: c->name = arg; break;
	case O_SCOPES: c->scopes = arg; break;
	case O_EVENT: c->event = arg; break;
	case O_URL: c->url = arg; break;
	case O_INTEGRATION: c->integration = arg; break;
	case O_GRACE:
		return cx_opts_range("grace", arg, 0, GRACE_MAX, &c->grace, err);
	}
	return 0;
}

/* Parses cmd's options with exactly operands operands, named what in the
 * error when they are missing. Returns -1 to go on, else the exit status. */
static int parse(const cx_cmd *cmd, int argc, char **argv, conf *c, int operands,
    const char *what, int *first)
{
	int rc;

	c->table = isatty(1);
	c->grace = GRACE_DEFAULT;
	rc = cx_opts_start(cmd, argc, argv, on_option, c, operands, NULL, first);
	if (rc >= 0)
		return rc;
	if (argc - *first < operands)
		return cx_opts_usage_error(cmd, NULL, "%s is needed", what);
	return -1;
}

static int create_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	char *id = NULL, *key = NULL;
	int first, rc = parse(&cmd_create, argc, argv, &c, 0, "", &first);

	if (rc >= 0)
		return rc;
	if (!c.tenant || !c.kind || !c.name || !c.scopes)
		return cx_opts_usage_error(&cmd_create, NULL, "create needs --tenant, --kind, "
		    "--name and --scopes");
	if (!cx_tenants_valid_name(c.tenant, &err) || !cx_integrations_valid_kind(c.kind, &err) ||
	    !cx_integrations_valid_scopes(c.scopes, &err))
		return cx_opts_usage_error(&cmd_create, NULL, "%s", err.msg);
	if ((rc = cx_session_start(c.config, c.db, &s)) >= 0)
		return rc;
	rc = cx_integrations_create(s, c.tenant, c.kind, c.name, c.scopes, cx_identity_user(),
	    &id, &key, &err);
	if (rc == 0) {
		/* both are [A-Za-z0-9_-]: nothing to escape */
		printf("{\"integration_id\":\"%s\",\"api_key\":\"%s\"}\n", id, key);
		cx_log_info("integration %s created for tenant %s", id, c.tenant);
	}
	free(id);
	cx_secret_free(key);
	return cx_session_end(s, rc, &err);
}

static int rotate_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	char *key = NULL, until[CX_RFC3339_LEN];
	int64_t now = cx_clock_now();
	int first, rc = parse(&cmd_rotate, argc, argv, &c, 1, "an integration ID", &first);

	if (rc >= 0 || (rc = cx_session_start(c.config, c.db, &s)) >= 0)
		return rc;
	rc = cx_integrations_rotate_at(s, argv[first], now, c.grace, cx_identity_user(), &key,
	    &err);
	if (rc == 0) {
		cx_clock_rfc3339(now + c.grace, -1, until);
		printf("{\"integration_id\":\"%s\",\"api_key\":\"%s\","
		    "\"previous_key_expires_at\":\"%s\"}\n", argv[first], key, until);
		cx_log_info("integration %s has a new key; the previous one works until %s",
		    argv[first], until);
	}
	cx_secret_free(key);
	return cx_session_end(s, rc, &err);
}

/* revoke and enable: one id, one store call, a line on stderr. */
static int change_cmd(const cx_cmd *cmd, int argc, char **argv,
    int (*change)(cx_store *, const char *, const char *, cx_err *), const char *done)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int first, rc = parse(cmd, argc, argv, &c, 1, "an ID", &first);

	if (rc >= 0 || (rc = cx_session_start(c.config, c.db, &s)) >= 0)
		return rc;
	rc = change(s, argv[first], cx_identity_user(), &err);
	if (rc == 0)
		cx_log_info("%s %s", argv[first], done);
	return cx_session_end(s, rc, &err);
}

static int revoke_cmd(int argc, char **argv)
{
	return change_cmd(&cmd_revoke, argc, argv, cx_integrations_revoke, "revoked");
}

static int enable_cmd(int argc, char **argv)
{
	return change_cmd(&cmd_enable, argc, argv, cx_integrations_enable, "active");
}

static int unsubscribe_cmd(int argc, char **argv)
{
	return change_cmd(&cmd_unsubscribe, argc, argv, cx_subscriptions_delete,
	    "unsubscribed");
}

/* A time column for people: "2026-11-23T10:00:00Z" or "-". */
static const char *when(jv row, const char *key)
{
	const char *v = cx_json_str(row, key);

	return v ? v : "-";
}

static void print_integration(jv row, void *ctx)
{
	const conf *c = ctx;
	jv age = jv_object_get(jv_copy(row), jv_string("key_age_seconds"));
	char days[32] = "-";

	if (!c->table) {
		jv_free(age);
		cx_ndjson_write(row);
		return;
	}
	if (jv_get_kind(age) == JV_KIND_NUMBER)
		snprintf(days, sizeof days, "%lldd", (long long)jv_number_value(age) / 86400);
	printf("%-20s %-16s %-7s %-8s %-20s %-20s %-6s %s\n", cx_json_str(row, "integration_id"),
	    cx_json_str(row, "tenant"), cx_json_str(row, "kind"), cx_json_str(row, "state"),
	    cx_json_str(row, "created_at"), when(row, "last_used_at"), days,
	    cx_json_str(row, "name"));
	jv_free(age);
	jv_free(row);
}

static int list_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int first, rc = parse(&cmd_list, argc, argv, &c, 0, "", &first);

	if (rc >= 0)
		return rc;
	if (c.tenant && !cx_tenants_valid_name(c.tenant, &err))
		return cx_opts_usage_error(&cmd_list, NULL, "%s", err.msg);
	if ((rc = cx_session_start(c.config, c.db, &s)) >= 0)
		return rc;
	if (c.table)
		printf("%-20s %-16s %-7s %-8s %-20s %-20s %-6s %s\n", "ID", "TENANT", "KIND",
		    "STATE", "CREATED", "LAST USED", "KEY", "NAME");
	rc = cx_integrations_list(s, c.tenant, print_integration, &c, &err);
	return cx_session_end(s, rc, &err);
}

/* The token keys, for the commands that seal a secret: -1 to go on, else
 * the exit status (a missing CX_TOKEN_KEY is 78), the session ended. */
static int load_keys(cx_store *s, cx_tokenkeys **keys)
{
	cx_err err = { 0, "" };

	if (cx_tokenkeys_load(keys, &err) == 0)
		return -1;
	return cx_session_end(s, -1, &err);
}

static int subscribe_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_tokenkeys *keys = NULL;
	cx_err err = { 0, "" };
	char *id = NULL, *secret = NULL;
	int first, rc = parse(&cmd_subscribe, argc, argv, &c, 1, "an integration ID", &first);

	if (rc >= 0)
		return rc;
	if (!c.event || !c.url)
		return cx_opts_usage_error(&cmd_subscribe, NULL, "subscribe needs --event and --url");
	if (!cx_subscriptions_valid_event(c.event, &err) || !cx_subscriptions_valid_url(c.url, &err))
		return cx_opts_usage_error(&cmd_subscribe, NULL, "%s", err.msg);
	if ((rc = cx_session_start(c.config, c.db, &s)) >= 0 || (rc = load_keys(s, &keys)) >= 0)
		return rc;
	rc = cx_subscriptions_create(s, keys, argv[first], c.event, c.url, "cli",
	    cx_identity_user(), &id, &secret, &err);
	cx_tokenkeys_free(keys);
	if (rc == 0) {
		/* an id of hex digits, a secret of base64: nothing to escape */
		printf("{\"subscription_id\":\"%s\",\"secret\":\"%s\"}\n", id, secret);
		char *target = cx_url_for_log(c.url);

		cx_log_info("subscription %s: %s events of %s go to %s", id, c.event,
		    argv[first], target);
		free(target);
	}
	free(id);
	cx_secret_free(secret);
	return cx_session_end(s, rc, &err);
}

static void print_subscription(jv row, void *ctx)
{
	const conf *c = ctx;
	char *target;

	if (!c->table) {
		cx_ndjson_write(row);
		return;
	}
	target = cx_url_for_log(cx_json_str(row, "target_url"));
	printf("%-20s %-20s %-24s %-8s %s\n", cx_json_str(row, "subscription_id"),
	    cx_json_str(row, "integration_id"), cx_json_str(row, "event"),
	    cx_json_str(row, "state"), target);
	free(target);
	jv_free(row);
}

static int subscriptions_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int first, rc = parse(&cmd_subscriptions, argc, argv, &c, 0, "", &first);

	if (rc >= 0 || (rc = cx_session_start(c.config, c.db, &s)) >= 0)
		return rc;
	if (c.table)
		printf("%-20s %-20s %-24s %-8s %s\n", "ID", "INTEGRATION", "EVENT", "STATE",
		    "TARGET");
	rc = cx_subscriptions_list(s, c.integration, print_subscription, &c, &err);
	return cx_session_end(s, rc, &err);
}

static int rotate_secret_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_tokenkeys *keys = NULL;
	cx_err err = { 0, "" };
	char *secret = NULL;
	int first, rc = parse(&cmd_rotate_secret, argc, argv, &c, 1, "a subscription SUB",
	    &first);

	if (rc >= 0 || (rc = cx_session_start(c.config, c.db, &s)) >= 0 ||
	    (rc = load_keys(s, &keys)) >= 0)
		return rc;
	rc = cx_subscriptions_rotate_secret(s, keys, argv[first], c.grace, cx_identity_user(),
	    &secret, &err);
	cx_tokenkeys_free(keys);
	if (rc == 0) {
		printf("{\"subscription_id\":\"%s\",\"secret\":\"%s\"}\n", argv[first], secret);
		cx_log_info("%s has a new signing secret; the previous one signs for %lld s more",
		    argv[first], c.grace);
	}
	cx_secret_free(secret);
	return cx_session_end(s, rc, &err);
}

static const cx_subcmd commands[] = {
	{ "create", create_cmd, &cmd_create },
	{ "rotate", rotate_cmd, &cmd_rotate },
	{ "revoke", revoke_cmd, &cmd_revoke },
	{ "enable", enable_cmd, &cmd_enable },
	{ "list", list_cmd, &cmd_list },
	{ "subscribe", subscribe_cmd, &cmd_subscribe },
	{ "subscriptions", subscriptions_cmd, &cmd_subscriptions },
	{ "unsubscribe", unsubscribe_cmd, &cmd_unsubscribe },
	{ "rotate-secret", rotate_secret_cmd, &cmd_rotate_secret },
	{ NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	cx_log_init("cx-integrations");
	return cx_subcmd_main("cx-integrations",
	    "Integrations for Zapier, Make and other automations: their API keys, "
	    "scopes and trigger subscriptions.", commands, argc, argv);
}
