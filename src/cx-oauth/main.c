/* cx-oauth: OAuth2 credentials. The command line lives here; the work is
 * libcx's oauth module (the same code cx-publish and cx-sync use for their
 * tokens), and the loopback listener is listen.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "configfile.h"
#include "crypto.h"
#include "exit.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "oauth.h"
#include "presets.h"
#include "oauth_tool.h"
#include "opts.h"
#include "store.h"
#include "tokencrypt.h"
#include "xalloc.h"

#define LISTEN_TIMEOUT_DEFAULT 600
#define KEY_FILE_MAX 4096

enum { O_DB = 1, O_CONFIG, O_PROVIDER, O_WORKSPACE, O_SCOPES, O_URL, O_CODE,
	O_STATE, O_PORT, O_TIMEOUT, O_JSON, O_TABLE, O_LOCAL_ONLY, O_NEW_KEY_FILE,
	O_SUBJECT, O_ISS };

typedef struct {
	const char *db, *config, *provider, *workspace, *scopes, *url, *code, *state;
	const char *new_key_file, *subject, *iss;
	long long port, timeout;
	int port_given, table, local_only;
} conf;

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;

	switch (id) {
	case O_DB: c->db = arg; return 0;
	case O_CONFIG: c->config = arg; return 0;
	case O_PROVIDER: c->provider = arg; return 0;
	case O_WORKSPACE: c->workspace = arg; return 0;
	case O_SCOPES: c->scopes = arg; return 0;
	case O_URL: c->url = arg; return 0;
	case O_CODE: c->code = arg; return 0;
	case O_STATE: c->state = arg; return 0;
	case O_NEW_KEY_FILE: c->new_key_file = arg; return 0;
	case O_SUBJECT: c->subject = arg; return 0;
	case O_ISS: c->iss = arg; return 0;
	case O_JSON: c->table = 0; return 0;
	case O_TABLE: c->table = 1; return 0;
	case O_LOCAL_ONLY: c->local_only = 1; return 0;
	case O_PORT:
		c->port_given = 1;
		return cx_opts_range("port", arg, 0, 65535, &c->port, err);
	case O_TIMEOUT: return cx_opts_uint("timeout", arg, &c->timeout, err);
	}
	return 0;
}

#define OPT_CONFIG { "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" }
#define OPT_DB { "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" }
#define OPT_JSON { "json", 0, O_JSON, NULL, "NDJSON output (the default when stdout is not a terminal)" }
#define OPT_TABLE { "table", 0, O_TABLE, NULL, "output for people (the default on a terminal)" }
#define OPT_END { NULL, 0, 0, NULL, NULL }

/* Texts that name the presets (x, google, meta; google's service
 * accounts), filled from the registry by main. */
static char presets_list[128], provider_help[160], about[224];
static char sa_help[64], sa_usage[192], sa_wants[96];

static const cx_opt authorize_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	{ "provider", 'p', O_PROVIDER, "P", provider_help },
	{ "scopes", 's', O_SCOPES, "SCOPES", "scopes to ask for, space- or comma-separated (default: the provider's)" },
	{ "workspace", 'w', O_WORKSPACE, "W", "the workspace the credential is for (required)" },
	OPT_END,
};
static const cx_opt callback_opts[] = {
	{ "code", 0, O_CODE, "CODE", "the code parameter of the redirect" },
	OPT_CONFIG,
	OPT_DB,
	{ "iss", 0, O_ISS, "ISSUER", "the iss parameter of the redirect (RFC 9207), when it has one" },
	OPT_JSON,
	{ "provider", 'p', O_PROVIDER, "P", "refuse a state issued for another provider" },
	{ "state", 0, O_STATE, "STATE", "the state parameter of the redirect" },
	OPT_TABLE,
	{ "url", 0, O_URL, "URL", "the whole redirect URL (- reads it from stdin)" },
	OPT_END,
};
static const cx_opt listen_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	OPT_JSON,
	{ "port", 0, O_PORT, "N", "port on 127.0.0.1 for the redirect; 0 picks one (required)" },
	{ "provider", 'p', O_PROVIDER, "P", "refuse a state issued for another provider" },
	OPT_TABLE,
	{ "timeout", 0, O_TIMEOUT, "SECONDS", "give up after SECONDS without a redirect (default 600)" },
	OPT_END,
};
static const cx_opt status_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	OPT_JSON,
	{ "provider", 'p', O_PROVIDER, "P", "only credentials of provider P" },
	OPT_TABLE,
	{ "workspace", 'w', O_WORKSPACE, "W", "only credentials of workspace W" },
	OPT_END,
};
static const cx_opt token_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	{ "provider", 'p', O_PROVIDER, "P", provider_help },
	{ "workspace", 'w', O_WORKSPACE, "W", "the credential's workspace (required)" },
	OPT_END,
};
static const cx_opt revoke_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	{ "local-only", 0, O_LOCAL_ONLY, NULL, "forget the tokens without telling the provider" },
	{ "provider", 'p', O_PROVIDER, "P", provider_help },
	{ "workspace", 'w', O_WORKSPACE, "W", "the credential's workspace (required)" },
	OPT_END,
};
static const cx_opt rotate_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	{ "new-key-file", 0, O_NEW_KEY_FILE, "FILE", "file holding the new key, base64 of 32 bytes (required)" },
	OPT_END,
};
static const cx_opt service_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	OPT_JSON,
	{ "provider", 'p', O_PROVIDER, "P", sa_help },
	{ "scopes", 's', O_SCOPES, "SCOPES", "scopes the service account asks for (required)" },
	{ "subject", 0, O_SUBJECT, "EMAIL", "user to act for (domain-wide delegation)" },
	OPT_TABLE,
	{ "workspace", 'w', O_WORKSPACE, "W", "the workspace the credential is for (required)" },
	OPT_END,
};

static const cx_cmd cmd_authorize = { "cx-oauth authorize",
	"--provider P --workspace W [--scopes SCOPES] [--db PATH]",
	"Start connecting an account: keep a single-use state, print the URL to open.",
	authorize_opts };
static const cx_cmd cmd_callback = { "cx-oauth callback",
	"--url URL [--provider P] [--db PATH] [--json | --table]\n"
	"       cx-oauth callback --code CODE --state STATE [--iss ISSUER] [--provider P]\n"
	"       [--db PATH] [--json | --table]",
	"Finish connecting an account from the provider's redirect.", callback_opts };
static const cx_cmd cmd_listen = { "cx-oauth listen",
	"--port N [--provider P] [--timeout SECONDS] [--db PATH] [--json | --table]",
	"Wait on 127.0.0.1 for one redirect and finish connecting with it.", listen_opts };
static const cx_cmd cmd_status = { "cx-oauth status",
	"[--provider P] [--workspace W] [--db PATH] [--json | --table]",
	"Tell, per credential, whether it is connected and why.", status_opts };
static const cx_cmd cmd_token = { "cx-oauth token",
	"--provider P --workspace W [--db PATH]",
	"Print a valid access token, refreshing it first when it is about to expire.",
	token_opts };
static const cx_cmd cmd_revoke = { "cx-oauth revoke",
	"--provider P --workspace W [--local-only] [--db PATH]",
	"Revoke a credential at the provider and forget its tokens.", revoke_opts };
static const cx_cmd cmd_list = { "cx-oauth list",
	"[--provider P] [--workspace W] [--db PATH] [--json | --table]",
	"List the stored credentials.", status_opts };
static const cx_cmd cmd_rotate = { "cx-oauth rotate-key",
	"--new-key-file FILE [--db PATH]",
	"Seal every stored token under a new key (the old one is CX_TOKEN_KEY).",
	rotate_opts };
static const cx_cmd cmd_service = { "cx-oauth service-account",
	sa_usage,
	"Connect a Google service account from CX_GOOGLE_SERVICE_ACCOUNT_KEY.",
	service_opts };

static int fail(const cx_err *err)
{
	char buf[48];
	const char *reason = cx_oauth_reason(err, buf);
	jv f = jv_object();

	if (strcmp(reason, "error") != 0)
		f = jv_object_set(f, jv_string("error_code"), jv_string(reason));
	cx_log(CX_LOG_ERROR, f, "%s", err->msg);
	return err->code ? err->code : CX_EXIT_TEMPFAIL;
}

static int usage_error(cx_store *s, const cx_cmd *cmd, const char *what)
{
	cx_store_close(s);
	return cx_opts_usage_error(cmd, "usage", "%s needs %s", cmd->prog, what);
}

/* Options, config and store; -1 to go on, else the exit status. */
static int setup(const cx_cmd *cmd, int argc, char **argv, conf *c, cx_store **s)
{
	cx_err err = { 0, "" };
	int rc;

	c->table = isatty(1);
	if ((rc = cx_opts_start(cmd, argc, argv, on_option, c, 0, "usage", NULL)) >= 0)
		return rc;
	if (cx_config_load(c->config, &err) < 0)
		return fail(&err);
	/* after the config: a generic provider is known by its settings */
	if (c->provider && !cx_presets_known(c->provider))
		return cx_opts_usage_error(cmd, "usage", "--provider wants %s "
		    "or a name configured by CX_OAUTH_<NAME>_ISSUER (or _AUTHORIZE_URL, "
		    "_TOKEN_URL), not '%s'", presets_list, c->provider);
	if (cx_store_open(c->db, s, &err) < 0)
		return fail(&err);
	cx_ndjson_out_init();
	return -1;
}

static void print_table_row(jv row)
{
	const char *user = cx_json_str(row, "username");
	const char *exp = cx_json_str(row, "expires_at");
	const char *reason = cx_json_str(row, "connected_reason");
	jv connected = jv_object_get(jv_copy(row), jv_string("connected"));

	if (reason)
		printf("%-8s %-16s %-24s %-10s %-20s %s\n", cx_json_str(row, "provider"),
		    cx_json_str(row, "workspace"), user ? user : "-",
		    jv_get_kind(connected) == JV_KIND_TRUE ? "connected" : "no",
		    reason, exp ? exp : "-");
	else
		printf("%-8s %-16s %-24s %-16s %-17s %s\n", cx_json_str(row, "provider"),
		    cx_json_str(row, "workspace"), user ? user : "-",
		    cx_json_str(row, "kind"), cx_json_str(row, "status"), exp ? exp : "-");
	jv_free(connected);
	jv_free(row);
}

static void print_row(jv row, void *ctx)
{
	const conf *c = ctx;

	if (c->table)
		print_table_row(row);
	else
		cx_ndjson_write(row);
}

static int finish(cx_store *s, int rc, const cx_err *err)
{
	cx_ndjson_flush();
	fflush(stdout);
	cx_store_close(s);
	return rc < 0 ? fail(err) : CX_EXIT_OK;
}

static int authorize(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	char *url = NULL;
	cx_oauth_provider *p = NULL;
	int rc = setup(&cmd_authorize, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.provider || !c.workspace || !*c.workspace)
		return usage_error(s, &cmd_authorize, "--provider P and --workspace W");
	if ((rc = cx_presets_open(c.provider, &p, &err)) == 0)
		rc = cx_oauth_authorize(s, p, c.workspace, c.scopes, &url, &err);
	if (rc == 0) {
		printf("%s\n", url);
		free(url);
	}
	cx_oauth_provider_free(p);
	return finish(s, rc, &err);
}

/* One line of stdin, without its newline (for --url -). */
static char *read_line(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, stdin);

	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static int callback(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	cx_oauth_redirect r = { 0 };
	char *url = NULL, *code = NULL, *state = NULL, *error = NULL, *desc = NULL;
	char *iss = NULL;
	jv status = jv_null();
	int rc = setup(&cmd_callback, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.url == !(c.code || c.state || c.iss) || (!c.url && (!c.code || !c.state)))
		return usage_error(s, &cmd_callback, "--url URL, or --code CODE and --state STATE");
	if (c.url) {
		url = strcmp(c.url, "-") == 0 ? read_line() : cx_xstrdup(c.url);
		if (!url)
			return usage_error(s, &cmd_callback, "a redirect URL on stdin");
		code = cx_http_query_param(url, "code");
		state = cx_http_query_param(url, "state");
		error = cx_http_query_param(url, "error");
		desc = cx_http_query_param(url, "error_description");
		iss = cx_http_query_param(url, "iss");
		r.code = code;
		r.state = state;
		r.error = error;
		r.error_description = desc;
		r.iss = iss;
	} else {
		r.code = c.code;
		r.state = c.state;
		r.iss = c.iss;
	}
	r.provider = c.provider;
	rc = cx_oauth_callback(s, cx_presets_open, &r, &status, &err);
	if (rc == 0)
		print_row(status, &c);
	if (code)
		cx_crypto_wipe(code, strlen(code));
	if (url)
		cx_crypto_wipe(url, strlen(url));
	free(url);
	free(code);
	free(state);
	free(error);
	free(desc);
	free(iss);
	return finish(s, rc, &err);
}

static int listen_cmd(int argc, char **argv)
{
	conf c = { .timeout = LISTEN_TIMEOUT_DEFAULT };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	jv status = jv_null();
	int rc = setup(&cmd_listen, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.port_given)
		return usage_error(s, &cmd_listen, "--port N");
	rc = oauth_listen(s, c.provider, (long)c.port, (long)c.timeout, &status, &err);
	if (rc == 0)
		print_row(status, &c);
	return finish(s, rc, &err);
}

static int status_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int rc = setup(&cmd_status, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (c.table)
		printf("%-8s %-16s %-24s %-10s %-20s %s\n", "PROVIDER", "WORKSPACE",
		    "ACCOUNT", "CONNECTED", "REASON", "EXPIRES");
	rc = cx_oauth_status(s, cx_presets_open, c.provider, c.workspace, print_row, &c,
	    &err);
	return finish(s, rc, &err);
}

static int list_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int rc = setup(&cmd_list, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (c.table)
		printf("%-8s %-16s %-24s %-16s %-17s %s\n", "PROVIDER", "WORKSPACE",
		    "ACCOUNT", "KIND", "STATUS", "EXPIRES");
	rc = cx_oauth_list(s, c.provider, c.workspace, print_row, &c, &err);
	return finish(s, rc, &err);
}

static int token_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	char *token = NULL;
	cx_oauth_provider *p = NULL;
	int rc = setup(&cmd_token, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.provider || !c.workspace)
		return usage_error(s, &cmd_token, "--provider P and --workspace W");
	if ((rc = cx_presets_open(c.provider, &p, &err)) == 0)
		rc = cx_oauth_token(s, p, c.workspace, &token, &err);
	cx_oauth_provider_free(p);
	if (rc == 0) {
		fputs(token, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		cx_secret_free(token);
	}
	return finish(s, rc, &err);
}

static int revoke_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	jv result = jv_null();
	cx_oauth_provider *p = NULL;
	int rc = setup(&cmd_revoke, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.provider || !c.workspace)
		return usage_error(s, &cmd_revoke, "--provider P and --workspace W");
	if ((rc = cx_presets_open(c.provider, &p, &err)) == 0)
		rc = cx_oauth_revoke(s, p, c.workspace, c.local_only, &result, &err);
	cx_oauth_provider_free(p);
	if (rc == 0) {
		const char *up = cx_json_str(result, "upstream");

		if (up && strcmp(up, "failed") == 0)
			cx_log(CX_LOG_WARN, jv_object_set(jv_object(), jv_string("error_code"),
			    jv_string("upstream_revoke_failed")), "the provider did not confirm "
			    "the revocation (%s); the tokens are forgotten here all the same",
			    cx_json_str(result, "upstream_error"));
		cx_ndjson_write(result);
	}
	return finish(s, rc, &err);
}

/* The new key from a file: regular, not a symlink, small. */
static int read_key_file(const char *path, cx_tokenkeys **out, cx_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char buf[KEY_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int rc;

	if (fd < 0)
		return cx_err_set(err, CX_EXIT_CONFIG, "config: --new-key-file %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
		close(fd);
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "config: --new-key-file %s is not a small regular file", path);
	}
	while (len < KEY_FILE_MAX && (n = read(fd, buf + len, KEY_FILE_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	rc = cx_tokenkeys_from_base64(buf, "--new-key-file", out, err);
	cx_crypto_wipe(buf, sizeof buf);
	return rc;
}

static int rotate_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	cx_tokenkeys *k = NULL;
	jv result = jv_null();
	int rc = setup(&cmd_rotate, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.new_key_file)
		return usage_error(s, &cmd_rotate, "--new-key-file FILE");
	rc = read_key_file(c.new_key_file, &k, &err);
	if (rc == 0)
		rc = cx_oauth_rotate_key(s, k, &result, &err);
	if (rc == 0)
		cx_ndjson_write(result);
	cx_tokenkeys_free(k);
	return finish(s, rc, &err);
}

static int service_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	jv status = jv_null();
	cx_oauth_provider *p = NULL;
	int rc = setup(&cmd_service, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.provider || !c.workspace || !c.scopes)
		return usage_error(s, &cmd_service, sa_wants);
	if ((rc = cx_presets_open(c.provider, &p, &err)) == 0)
		rc = cx_oauth_service_account(s, p, c.workspace, c.scopes, c.subject, &status,
		    &err);
	cx_oauth_provider_free(p);
	if (rc == 0)
		print_row(status, &c);
	return finish(s, rc, &err);
}

static const cx_subcmd subcommands[] = {
	{ "authorize", authorize, &cmd_authorize },
	{ "callback", callback, &cmd_callback },
	{ "listen", listen_cmd, &cmd_listen },
	{ "status", status_cmd, &cmd_status },
	{ "token", token_cmd, &cmd_token },
	{ "revoke", revoke_cmd, &cmd_revoke },
	{ "list", list_cmd, &cmd_list },
	{ "rotate-key", rotate_cmd, &cmd_rotate },
	{ "service-account", service_cmd, &cmd_service },
	{ NULL, NULL, NULL },
};

/* The texts that name the presets, from the registry. */
static void describe_presets(void)
{
	const char *all[32], *sa[32];
	const cx_oauth_preset *pre;
	size_t n = 0, nsa = 0;
	char *list, *sa_list;

	for (; n < 32 && (pre = cx_presets_at(n)); n++) {
		all[n] = pre->name;
		if (pre->service_account)
			sa[nsa++] = pre->name;
	}
	list = cx_opts_join(all, n, ", ", ", ");
	sa_list = cx_opts_join(sa, nsa, "|", "|");
	snprintf(presets_list, sizeof presets_list, "%s", list);
	snprintf(provider_help, sizeof provider_help, "%s or a configured NAME (required)",
	    list);
	snprintf(about, sizeof about, "OAuth2 credentials for %s and any RFC 6749 "
	    "server: connect, report, hand out tokens.", list);
	snprintf(sa_help, sizeof sa_help, "%s (required)", sa_list);
	snprintf(sa_usage, sizeof sa_usage, "--provider %s --workspace W --scopes SCOPES "
	    "[--subject EMAIL] [--db PATH]\n       [--json | --table]", sa_list);
	snprintf(sa_wants, sizeof sa_wants, "--provider %s, --workspace W and --scopes",
	    sa_list);
	free(list);
	free(sa_list);
}

int main(int argc, char **argv)
{
	describe_presets();
	cx_log_init("cx-oauth");
	return cx_subcmd_main("cx-oauth", about, subcommands, argc, argv);
}
