/* cx-ingest: the front door. `serve` is the webhook server (serve.c);
 * the inbox commands live here: store, drain, ack, replay, prune. */
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "configfile.h"
#include "exit.h"
#include "inbox.h"
#include "ingest.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "opts.h"
#include "progress.h"
#include "store.h"
#include "webhooks.h"
#include "xalloc.h"

#define FOLLOW_POLL_MS 200
#define MAX_HEADERS 32

/* An unknown name of a --routes list, and the names there are. */
static int unknown_route(const char *name, size_t n, cx_err *err)
{
	char known[128] = "";
	const char *route;

	for (size_t i = 0; (route = cx_webhooks_route(i, NULL, NULL)); i++)
		snprintf(known + strlen(known), sizeof known - strlen(known), "%s, ", route);
	return cx_err_set(err, CX_EXIT_USAGE, "unknown route '%.*s' (routes: %s"
	    INGEST_ACTIONS_ROUTE ")",
	    (int)(n > 64 ? 64 : n), name, known);
}

int ingest_routes_parse(const char *list, unsigned *set, cx_err *err)
{
	const char *p = list, *route;

	*set = 0;
	if (!list) {
		for (size_t i = 0; cx_webhooks_route(i, NULL, NULL); i++)
			*set |= 1u << i;
		*set |= INGEST_ACTIONS_BIT;
		return 0;
	}
	for (;;) {
		size_t n = strcspn(p, ",");
		size_t i = 0;

		if (n == strlen(INGEST_ACTIONS_ROUTE) && strncmp(p, INGEST_ACTIONS_ROUTE, n) == 0) {
			*set |= INGEST_ACTIONS_BIT;
			if (!p[n])
				return 0;
			p += n + 1;
			continue;
		}
		while ((route = cx_webhooks_route(i, NULL, NULL)) && (strlen(route) != n ||
		    strncmp(route, p, n) != 0))
			i++;
		if (!route)
			return unknown_route(p, n, err);
		*set |= 1u << i;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

int ingest_resolve_listen(const char *listen, struct sockaddr_storage *addr,
    socklen_t *len, cx_err *err)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
		.ai_socktype = SOCK_STREAM }, *res;
	size_t hl;
	int rc;

	if (!colon || colon == listen || !colon[1])
		return cx_err_set(err, CX_EXIT_USAGE, "--listen wants HOST:PORT, not '%s'",
		    listen);
	hl = (size_t)(colon - listen);
	if (listen[0] == '[' && colon[-1] == ']') {
		listen++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		return cx_err_set(err, CX_EXIT_USAGE, "--listen: host too long");
	memcpy(host, listen, hl);
	host[hl] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc != 0)
		return cx_err_set(err, CX_EXIT_USAGE, "--listen %s: %s", host,
		    gai_strerror(rc));
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int ingest_route_served(unsigned set, int i)
{
	return i >= 0 && ((set >> i) & 1);
}

int ingest_routes_use(unsigned set, size_t source_index)
{
	size_t k;

	for (size_t i = 0; cx_webhooks_route(i, NULL, &k); i++)
		if (((set >> i) & 1) && k == source_index)
			return 1;
	return 0;
}

enum { O_DB = 1, O_CONFIG, O_CONSUMER, O_LIMIT, O_FOLLOW, O_FROM, O_TO,
	O_PROVIDER, O_HEADER, O_OLDER, O_MAX_LINE, O_NO_PROGRESS };

typedef struct {
	const char *db, *config, *consumer, *provider;
	long long limit, from, to, older_than, max_line;
	int follow, from_given, older_given, no_progress;
	const char *headers[MAX_HEADERS];
	int nheaders;
} conf;

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;

	switch (id) {
	case O_DB: c->db = arg; return 0;
	case O_CONFIG: c->config = arg; return 0;
	case O_CONSUMER: c->consumer = arg; return 0;
	case O_PROVIDER: c->provider = arg; return 0;
	case O_FOLLOW: c->follow = 1; return 0;
	case O_NO_PROGRESS: c->no_progress = 1; return 0;
	case O_LIMIT: return cx_opts_uint("limit", arg, &c->limit, err);
	case O_FROM: c->from_given = 1; return cx_opts_uint("from", arg, &c->from, err);
	case O_TO: return cx_opts_uint("to", arg, &c->to, err);
	case O_MAX_LINE: return cx_opts_uint("max-line", arg, &c->max_line, err);
	case O_OLDER:
		c->older_given = 1;
		return cx_opts_uint("older-than", arg, &c->older_than, err);
	case O_HEADER:
		if (c->nheaders == MAX_HEADERS)
			return cx_err_set(err, CX_EXIT_USAGE, "at most %d --header", MAX_HEADERS);
		if (!strchr(arg, ':'))
			return cx_err_set(err, CX_EXIT_USAGE,
			    "--header wants 'Name: value', not '%s'", arg);
		c->headers[c->nheaders++] = arg;
		return 0;
	}
	return 0;
}

#define OPT_DB { "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" }
#define OPT_CONFIG { "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" }
#define OPT_END { NULL, 0, 0, NULL, NULL }

static const cx_opt drain_opts[] = {
	OPT_CONFIG,
	{ "consumer", 'c', O_CONSUMER, "NAME", "whose cursor to read after (required)" },
	OPT_DB,
	{ "follow", 'f', O_FOLLOW, NULL, "keep printing new deliveries as they arrive" },
	{ "limit", 'n', O_LIMIT, "N", "print at most N deliveries" },
	OPT_END,
};
static const cx_opt ack_opts[] = {
	OPT_CONFIG,
	{ "consumer", 'c', O_CONSUMER, "NAME", "whose cursor to move (required)" },
	OPT_DB,
	{ "max-line", 0, O_MAX_LINE, "BYTES", "longest accepted line (default 1048576)" },
	OPT_END,
};
static const cx_opt replay_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	{ "from", 0, O_FROM, "ID", "first inbox id to print (required)" },
	{ "no-progress", 0, O_NO_PROGRESS, NULL, "no progress line on a terminal's stderr" },
	{ "to", 0, O_TO, "ID", "last inbox id to print" },
	OPT_END,
};
/* "whatsapp, instagram or messenger (required)", from the registry (main). */
static char store_provider_help[160];

static const cx_opt store_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	{ "header", 'H', O_HEADER, "'NAME: VALUE'", "a request header (repeatable); a signature header is verified" },
	{ "provider", 'p', O_PROVIDER, "P", store_provider_help },
	OPT_END,
};
static const cx_opt prune_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	{ "older-than", 0, O_OLDER, "DAYS", "delete acked deliveries older than DAYS days (required)" },
	OPT_END,
};

static const cx_cmd cmd_drain = { "cx-ingest drain",
	"--consumer NAME [--limit N] [--follow] [--db PATH]",
	"Print stored deliveries after the consumer's cursor as webhook.received lines.",
	drain_opts };
static const cx_cmd cmd_ack = { "cx-ingest ack", "--consumer NAME [--db PATH]",
	"Move the consumer's cursor past the deliveries a pipeline has finished.",
	ack_opts };
static const cx_cmd cmd_replay = { "cx-ingest replay", "--from ID [--to ID] [--no-progress] [--db PATH]",
	"Print stored deliveries by id, whatever the cursors say.", replay_opts };
static const cx_cmd cmd_store = { "cx-ingest store",
	"--provider P [--header 'Name: value']... [--db PATH] < body",
	"Store one delivery read from stdin (backfills, tests).", store_opts };
static const cx_cmd cmd_prune = { "cx-ingest prune", "--older-than DAYS [--db PATH]",
	"Delete deliveries older than DAYS days that every consumer has acked.",
	prune_opts };

/* Options, config and store for the inbox commands; -1 to go on, else the
 * exit status. */
static int setup(const cx_cmd *cmd, int argc, char **argv, conf *c, cx_store **s)
{
	cx_err err = { 0, "" };
	int rc = cx_opts_start(cmd, argc, argv, on_option, c, 0, NULL, NULL);

	if (rc >= 0)
		return rc;
	if (cx_config_load(c->config, &err) < 0 || cx_store_open(c->db, s, &err) < 0)
		return cx_log_fail(&err);
	cx_ndjson_out_init();
	return -1;
}

static int usage_error(cx_store *s, const cx_cmd *cmd, const char *what)
{
	cx_store_close(s);
	return cx_opts_usage_error(cmd, NULL, "%s needs %s", cmd->prog, what);
}

/* Prints a delivery; ctx, when given, counts them. */
static int print_line(const char *line, void *ctx)
{
	int64_t *printed = ctx;

	cx_ndjson_write_raw(line, strlen(line));
	if (printed)
		(*printed)++;
	return 0;
}

/* print_line that also counts on the terminal's progress line. */
static int print_counted(const char *line, void *ctx)
{
	cx_progress *p = ctx;

	print_line(line, NULL);
	cx_progress_step(p);
	return 0;
}

static volatile sig_atomic_t stop_follow;

static void on_stop(int sig)
{
	(void)sig;
	stop_follow = 1;
}

static int drain(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int64_t cursor, last, printed = 0;
	int rc = setup(&cmd_drain, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.consumer)
		return usage_error(s, &cmd_drain, "--consumer NAME");
	if (cx_inbox_cursor(s, c.consumer, &cursor, &err) < 0)
		goto out;
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	last = cursor;
	for (;;) {
		int64_t before = last, want = c.limit > 0 ? c.limit - printed : 0;

		rc = cx_inbox_read(s, last, -1, want, print_line, &printed, &last, &err);
		if (rc < 0 || cx_ndjson_flush() < 0)
			break;
		if (!c.follow || stop_follow || (c.limit > 0 && printed >= c.limit))
			break;
		if (last == before)
			usleep(FOLLOW_POLL_MS * 1000);
	}
out:
	cx_store_close(s);
	return rc < 0 ? cx_log_fail(&err) : CX_EXIT_OK;
}

static int64_t line_inbox_id(jv v, const char **type)
{
	jv id;
	int64_t n = 0;

	*type = cx_json_str(v, "type");
	if (*type && strcmp(*type, "webhook.received") == 0)
		id = jv_object_get(jv_copy(v), jv_string("inbox_id"));
	else
		id = jv_getpath(jv_copy(v), JV_ARRAY(jv_string("source"), jv_string("inbox_id")));
	if (jv_get_kind(id) == JV_KIND_NUMBER && jv_is_integer(jv_copy(id)))
		n = (int64_t)jv_number_value(id);
	jv_free(id);
	return n;
}

/* ack: a line of delivery N proves every delivery before N finished (the
 * stages keep order); a delivery.done marker, or the webhook.received line
 * itself, proves N finished. The cursor moves to what is proven, only when
 * the stream starts at the consumer's next delivery. */
static int ack(int argc, char **argv)
{
	conf c = { .max_line = CX_NDJSON_MAX_LINE_DEFAULT };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	cx_ndjson_reader *r;
	cx_ndjson_line line;
	int64_t cursor, next, first = 0, proven = 0;
	int rc = setup(&cmd_ack, argc, argv, &c, &s), status = CX_EXIT_OK;

	if (rc >= 0)
		return rc;
	if (!c.consumer)
		return usage_error(s, &cmd_ack, "--consumer NAME");
	if (cx_inbox_cursor(s, c.consumer, &cursor, &err) < 0 ||
	    cx_inbox_next_id(s, cursor, &next, &err) < 0) {
		cx_store_close(s);
		return cx_log_fail(&err);
	}
	r = cx_ndjson_open(0, (size_t)c.max_line);
	while ((rc = cx_ndjson_next(r, &line)) > 0) {
		const char *type;
		int64_t id = line_inbox_id(line.value, &type);
		int marker = type && strcmp(type, "delivery.done") == 0;

		if (id > 0) {
			if (!first)
				first = id;
			if (marker || strcmp(type ? type : "", "webhook.received") == 0)
				proven = id > proven ? id : proven;
			else if (id - 1 > proven)
				proven = id - 1;
		}
		if (!marker)
			cx_ndjson_write_raw(line.raw, line.len);
		jv_free(line.value);
		/* Lines go on to the next stage before their deliveries are acked. */
		if (!cx_ndjson_ready(r) && first && first <= next && proven > cursor) {
			if (cx_ndjson_flush() < 0)
				break;
			if (cx_inbox_advance(s, c.consumer, proven, &cursor, &err) < 0)
				break;
		}
	}
	if (rc >= 0 && !err.msg[0] && first && first <= next && proven > cursor &&
	    cx_ndjson_flush() == 0)
		cx_inbox_advance(s, c.consumer, proven, &cursor, &err);
	if (err.msg[0])
		status = cx_log_fail(&err);
	else if (first > next && next > 0)
		cx_log(CX_LOG_WARN, jv_null(),
		    "the stream starts at delivery %lld, after %s's next delivery %lld; "
		    "cursor left at %lld", (long long)first, c.consumer, (long long)next,
		    (long long)cursor);
	if (status == CX_EXIT_OK && cx_ndjson_rejected(r) > 0)
		status = CX_EXIT_DATAERR;
	cx_ndjson_flush();
	cx_ndjson_close(r);
	cx_store_close(s);
	return status;
}

static int replay(int argc, char **argv)
{
	conf c = { .to = -1 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	cx_progress progress;
	int64_t last;
	int rc = setup(&cmd_replay, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.from_given)
		return usage_error(s, &cmd_replay, "--from ID");
	cx_progress_start(&progress, "cx-ingest replay", "deliveries", -1, c.no_progress);
	rc = cx_inbox_read(s, c.from - 1, c.to, 0, print_counted, &progress, &last, &err);
	cx_ndjson_flush();
	cx_progress_end(&progress);
	cx_store_close(s);
	return rc < 0 ? cx_log_fail(&err) : CX_EXIT_OK;
}

static char *read_all(int fd, size_t max, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = cx_xmalloc(cap);
	ssize_t got;

	while ((got = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)got;
		if (n > max)
			break;
		if (n == cap)
			buf = cx_xrealloc(buf, cap *= 2);
	}
	*len = n;
	return buf;
}

/* A --header of cx-ingest store by name (the last one given), or NULL. */
static const char *given_header(const cx_webhook_request *r, const char *name)
{
	const conf *c = r->ctx;
	const char *v = NULL;
	size_t n = strlen(name);

	for (int i = 0; i < c->nheaders; i++) {
		if (strncasecmp(c->headers[i], name, n) != 0 || c->headers[i][n] != ':')
			continue;
		v = c->headers[i] + n + 1;
		while (*v == ' ' || *v == '\t')
			v++;
	}
	return v;
}

static const char *no_query(const cx_webhook_request *r, const char *name)
{
	(void)r;
	(void)name;
	return NULL;
}

/* The check of a signature header that cx-ingest store was given: the
 * exit status (CX_EXIT_OK when there is none, or it is valid; *body is
 * then what to store). */
static int check_signature(const conf *c, const cx_webhook_source *src, cx_store *s,
    char **body, size_t *len)
{
	cx_webhook_request req = { given_header, no_query, (void *)c, *body, *len, NULL };
	cx_err err = { 0, "" };
	void *keys = NULL;
	int ok;

	if (!src->signature_header || !given_header(&req, src->signature_header))
		return CX_EXIT_OK;
	if (src->load && src->load(&keys, &err) < 0)
		return cx_log_fail(&err);
	ok = src->verify(&req, keys, src->needs_store ? s : NULL, &err);
	*body = req.body;
	*len = req.len;
	if (src->unload)
		src->unload(keys);
	if (ok < 0)
		return cx_log_fail(&err);
	if (ok == 0 && req.forbidden) {
		cx_log_error("refused (%s); nothing stored", req.forbidden);
		return CX_EXIT_NOPERM;
	}
	if (ok == 0) {
		cx_log_error("the signature does not match the body; nothing stored");
		return CX_EXIT_NOPERM;
	}
	return CX_EXIT_OK;
}

/* The routes whose deliveries carry a signature, joined by sep and the
 * last two by last: "whatsapp|instagram|messenger". */
static char *signed_routes(const char *sep, const char *last)
{
	const char *names[64];
	const cx_webhook_source *src;
	const char *route;
	size_t n = 0;

	for (size_t i = 0; n < 64 && (route = cx_webhooks_route(i, &src, NULL)); i++)
		if (src->signature_header)
			names[n++] = route;
	return cx_opts_join(names, n, sep, last);
}

static int store(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	const cx_webhook_source *src = NULL;
	char cid[CX_CORRELATION_ID_LEN], ts[CX_RFC3339_LEN];
	int64_t id, now = cx_clock_now();
	size_t len;
	char *body, *h;
	jv headers;
	int rc = setup(&cmd_store, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.provider || cx_webhooks_find(c.provider, &src, NULL) < 0) {
		char *routes = signed_routes("|", "|");
		char *want = cx_xasprintf("--provider %s", routes);

		rc = usage_error(s, &cmd_store, want);
		free(want);
		free(routes);
		return rc;
	}
	headers = jv_object();
	for (int i = 0; i < c.nheaders; i++) {
		const char *colon = strchr(c.headers[i], ':');
		const char *v = colon + 1;

		while (*v == ' ' || *v == '\t')
			v++;
		headers = jv_object_set(headers, jv_string_sized(c.headers[i],
		    (int)(colon - c.headers[i])), jv_string(v));
	}
	h = cx_json_dump(headers);
	body = read_all(0, 64 * 1024 * 1024, &len);
	rc = check_signature(&c, src, s, &body, &len);
	if (rc == CX_EXIT_OK && !cx_json_object_valid(body, len)) {
		cx_log_error("the body is not a UTF-8 JSON object; nothing stored");
		rc = CX_EXIT_DATAERR;
	}
	if (rc != CX_EXIT_OK) {
		free(h);
		free(body);
		cx_store_close(s);
		return rc;
	}
	cx_inbox_new_correlation_id(cid);
	if (cx_store_begin(s, &err) < 0 ||
	    cx_inbox_add(s, c.provider, cid, now, h, body, len, &id, &err) < 0 ||
	    cx_inbox_count(s, c.provider, 1, &err) < 0 ||
	    cx_store_commit(s, &err) < 0) {
		cx_store_rollback(s);
		rc = cx_log_fail(&err);
	} else {
		char *line;

		cx_clock_rfc3339(now, -1, ts);
		line = cx_inbox_line(id, c.provider, cid, ts, h, body, len);
		print_line(line, NULL);
		cx_ndjson_flush();
		free(line);
	}
	free(h);
	free(body);
	cx_store_close(s);
	return rc;
}

static int prune(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int64_t deleted = 0;
	int rc = setup(&cmd_prune, argc, argv, &c, &s);

	if (rc >= 0)
		return rc;
	if (!c.older_given)
		return usage_error(s, &cmd_prune, "--older-than DAYS");
	rc = cx_inbox_prune(s, cx_clock_now() - c.older_than * 86400, &deleted, &err);
	cx_store_close(s);
	if (rc < 0)
		return cx_log_fail(&err);
	printf("{\"deleted\":%lld}\n", (long long)deleted);
	return CX_EXIT_OK;
}

static const cx_subcmd subcommands[] = {
	{ "serve", ingest_serve, &ingest_serve_cmd },
	{ "drain", drain, &cmd_drain },
	{ "ack", ack, &cmd_ack },
	{ "replay", replay, &cmd_replay },
	{ "store", store, &cmd_store },
	{ "prune", prune, &cmd_prune },
	{ NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	char *routes = signed_routes(", ", " or ");

	snprintf(store_provider_help, sizeof store_provider_help, "%s (required)", routes);
	free(routes);
	cx_log_init("cx-ingest");
	return cx_subcmd_main("cx-ingest",
	    "The front door: signed webhooks into a durable inbox, and the inbox's consumers.",
	    subcommands, argc, argv);
}
