/* cx-sync: pull sources with a cursor (SPEC §6). The command line lives
 * here: a subcommand per sync source of the registry (sources.h), and the
 * commands around them: --requests and watch (Google Calendar's push
 * channels, gcal.h), ics (caldav.h) and deliveries (sync_tool.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "caldav.h"
#include "config.h"
#include "configfile.h"
#include "exit.h"
#include "gcal.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "opts.h"
#include "sources.h"
#include "store.h"
#include "sync_tool.h"
#include "uploadtarget.h"
#include "watch.h"
#include "xalloc.h"

#define RENEW_BEFORE_DEFAULT 86400

enum { O_ADDRESS = CX_SOURCE_O_END, O_TTL, O_BEFORE, O_ALL, O_JSON, O_TABLE,
	O_MAX_LINE, O_REQUESTS, O_TARGET };

typedef struct {
	cx_source_conf src;      /* what a source gets */
	const char *db, *config, *address, *target;
	long long ttl, before, max_line;
	int all, table;
} conf;

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;
	long long n;

	switch (id) {
	case CX_SOURCE_O_DB: c->db = arg; return 0;
	case CX_SOURCE_O_CONFIG: c->config = arg; return 0;
	case CX_SOURCE_O_WORKSPACE: c->src.workspace = arg; return 0;
	case CX_SOURCE_O_CALENDAR: c->src.calendar = arg; return 0;
	case CX_SOURCE_O_URL: c->src.url = arg; return 0;
	case CX_SOURCE_O_USER: c->src.user = arg; return 0;
	case CX_SOURCE_O_FULL: c->src.full = 1; return 0;
	case CX_SOURCE_O_LISTING: c->src.listing = 1; return 0;
	case CX_SOURCE_O_NO_PROGRESS: c->src.no_progress = 1; return 0;
	case CX_SOURCE_O_PAGE_SIZE:
		if (cx_opts_range("page-size", arg, 1, 2500, &n, err) < 0)
			return -1;
		c->src.page_size = (long)n;
		return 0;
	case CX_SOURCE_O_MAX_RESULTS:
		if (cx_opts_range("max-results", arg, 5, 100, &n, err) < 0)
			return -1;
		c->src.max_results = (long)n;
		return 0;
	case O_ADDRESS: c->address = arg; return 0;
	case O_ALL: c->all = 1; return 0;
	case O_JSON: c->table = 0; return 0;
	case O_TABLE: c->table = 1; return 0;
	case O_REQUESTS: return 0;
	case O_TARGET: c->target = arg; return 0;
	case O_TTL: return cx_opts_range("ttl", arg, 1, LLONG_MAX, &c->ttl, err);
	case O_BEFORE: return cx_opts_uint("before", arg, &c->before, err);
	case O_MAX_LINE: return cx_opts_range("max-line", arg, 1, LLONG_MAX, &c->max_line, err);
	}
	return 0;
}

#define OPT_CONFIG CX_SOURCE_OPT_CONFIG
#define OPT_DB CX_SOURCE_OPT_DB
#define OPT_JSON { "json", 0, O_JSON, NULL, "NDJSON output (the default when stdout is not a terminal)" }
#define OPT_TABLE { "table", 0, O_TABLE, NULL, "output for people (the default on a terminal)" }
#define OPT_END CX_SOURCE_OPT_END

static const cx_opt requests_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	{ "max-line", 0, O_MAX_LINE, "BYTES", "longest accepted input line (default 1048576)" },
	GCAL_OPT_PAGE_SIZE,
	{ "requests", 0, O_REQUESTS, NULL, "run the syncs that calendar.sync.requested lines on stdin ask for" },
	OPT_END,
};
static const cx_opt start_opts[] = {
	{ "address", 0, O_ADDRESS, "URL", "where Google posts notifications: cx-ingest's /webhooks/google-calendar (required)" },
	{ "calendar", 'c', CX_SOURCE_O_CALENDAR, "ID", "the calendar to watch (required)" },
	OPT_CONFIG,
	OPT_DB,
	OPT_JSON,
	OPT_TABLE,
	{ "ttl", 0, O_TTL, "SECONDS", "channel lifetime to ask Google for (default: Google's)" },
	{ "workspace", 'w', CX_SOURCE_O_WORKSPACE, "W", "whose Google credential to use (required)" },
	OPT_END,
};
static const cx_opt renew_opts[] = {
	{ "before", 0, O_BEFORE, "SECONDS", "renew channels expiring within SECONDS (default 86400)" },
	OPT_CONFIG,
	OPT_DB,
	OPT_JSON,
	OPT_TABLE,
	{ "workspace", 'w', CX_SOURCE_O_WORKSPACE, "W", "only channels of workspace W" },
	OPT_END,
};
static const cx_opt stop_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	OPT_JSON,
	OPT_TABLE,
	OPT_END,
};
static const cx_opt list_opts[] = {
	{ "all", 'a', O_ALL, NULL, "also renewed and stopped channels" },
	OPT_CONFIG,
	OPT_DB,
	OPT_JSON,
	OPT_TABLE,
	{ "workspace", 'w', CX_SOURCE_O_WORKSPACE, "W", "only channels of workspace W" },
	OPT_END,
};
static const cx_opt deliveries_opts[] = {
	OPT_CONFIG,
	OPT_DB,
	{ "target", 't', O_TARGET, "TARGET", "only the deliveries to TARGET" },
	OPT_END,
};
static const cx_opt ics_opts[] = {
	OPT_END,
};

#define USAGE_START "--workspace W --calendar ID --address URL [--ttl SECONDS] [--db PATH]\n" \
	"       [--json | --table]"
#define USAGE_RENEW "[--before SECONDS] [--workspace W] [--db PATH] [--json | --table]"
#define USAGE_STOP "CHANNEL_ID [--db PATH] [--json | --table]"
#define USAGE_LIST "[--workspace W] [--all] [--db PATH] [--json | --table]"

static const cx_cmd cmd_requests = { "cx-sync",
	"--requests [--page-size N] [--max-line BYTES] [--db PATH]",
	"Run the Google Calendar syncs that calendar.sync.requested lines ask for.",
	requests_opts };
static const cx_cmd cmd_start = { "cx-sync watch start", USAGE_START,
	"Start a Google push channel for a calendar.", start_opts };
static const cx_cmd cmd_renew = { "cx-sync watch renew", USAGE_RENEW,
	"Replace the channels that expire soon (run it from cron).", renew_opts };
static const cx_cmd cmd_stop = { "cx-sync watch stop", USAGE_STOP,
	"Stop a push channel at Google and here.", stop_opts };
static const cx_cmd cmd_list = { "cx-sync watch list", USAGE_LIST,
	"List the push channels.", list_opts };
/* the group: its usage is every watch command's */
static const cx_cmd cmd_watch = { "cx-sync watch", "start " USAGE_START "\n"
	"       cx-sync watch renew " USAGE_RENEW "\n"
	"       cx-sync watch stop " USAGE_STOP "\n"
	"       cx-sync watch list " USAGE_LIST,
	"Manage Google Calendar push channels.", NULL };
static const cx_cmd cmd_deliveries = { "cx-sync deliveries", "[--target TARGET] [--db PATH]",
	"Poll the status of uploaded packages until final; emit delivery.status events.",
	deliveries_opts };
static const cx_cmd cmd_ics = { "cx-sync ics", "[FILE ...]",
	"Print the events of iCalendar files as CalendarEvent lines.", ics_opts };

static int usage_error(const cx_cmd *cmd, const char *what)
{
	return cx_opts_usage_error(cmd, "usage", "%s needs %s", cmd->prog, what);
}

/* Options; -1 to go on, else the exit status. operands: how many operands
 * the command takes at most (the first one's index goes to *first). */
static int parse(const cx_cmd *cmd, int argc, char **argv, conf *c, int operands,
    int *first)
{
	c->table = isatty(1);
	return cx_opts_start(cmd, argc, argv, on_option, c, operands, "usage", first);
}

/* Config and store, once the command line is known to be right; -1 to go
 * on, else the exit status. s NULL: no store. */
static int open_all(const conf *c, cx_store **s)
{
	cx_err err = { 0, "" };

	if (cx_config_load(c->config, &err) < 0 || (s && cx_store_open(c->db, s, &err) < 0))
		return cx_log_fail(&err);
	cx_ndjson_out_init();
	return -1;
}

static int finish(cx_store *s, int rc, const cx_err *err)
{
	int flushed = cx_ndjson_flush();

	fflush(stdout);
	cx_store_close(s);
	if (rc < 0)
		return cx_log_fail(err);
	return flushed < 0 ? CX_EXIT_TEMPFAIL : CX_EXIT_OK;
}

/* A sync source's subcommand (argv[0] names it). */
static int source_cmd(int argc, char **argv)
{
	const cx_source *src = cx_sources_find(argv[0]);
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	const char *lacking;
	int rc = parse(src->cmd, argc, argv, &c, 0, NULL);

	if (rc >= 0)
		return rc;
	if ((lacking = src->check(&c.src)))
		return usage_error(src->cmd, lacking);
	if ((rc = open_all(&c, &s)) >= 0)
		return rc;
	if (src->progress)
		cx_progress_start(&sync_progress, src->cmd->prog, src->progress, -1,
		    c.src.no_progress);
	rc = src->run(s, &c.src, &err);
	if (src->progress)
		cx_progress_end(&sync_progress);
	return finish(s, rc, &err);
}

static int requests_cmd(int argc, char **argv)
{
	conf c = { .max_line = CX_NDJSON_MAX_LINE_DEFAULT };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int64_t failed = 0, rejected = 0;
	int rc = parse(&cmd_requests, argc, argv, &c, 0, NULL);

	if (rc >= 0 || (rc = open_all(&c, &s)) >= 0)
		return rc;
	rc = gcal_requests(s, c.src.page_size, (size_t)c.max_line, &failed, &rejected, &err);
	rc = finish(s, rc, &err);
	if (rc == CX_EXIT_OK && failed > 0)
		rc = CX_EXIT_SOME_FAILED;
	if (rc == CX_EXIT_OK && rejected > 0)
		rc = CX_EXIT_DATAERR;
	return rc;
}

static int deliveries_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int rc = parse(&cmd_deliveries, argc, argv, &c, 0, NULL);

	if (rc >= 0)
		return rc;
	if (c.target && !upload_target_name_ok(c.target))
		return usage_error(&cmd_deliveries, "--target TARGET naming a target: 1 to 64 letters, "
		    "digits, '-', '_' or '.'");
	if ((rc = open_all(&c, &s)) >= 0)
		return rc;
	rc = deliveries_sync(s, c.target, &err);
	return finish(s, rc, &err);
}

static int ics_cmd(int argc, char **argv)
{
	static char dash[] = "-";
	static char *stdin_only[] = { dash, NULL };
	conf c = { 0 };
	cx_err err = { 0, "" };
	int64_t events = 0;
	int first, status = CX_EXIT_OK;
	int rc = parse(&cmd_ics, argc, argv, &c, 1 << 20, &first);

	if (rc >= 0 || (rc = open_all(&c, NULL)) >= 0)
		return rc;
	if (first == argc) {
		/* no FILE: standard input */
		first = 0;
		argc = 1;
		argv = stdin_only;
	}
	for (int i = first; i < argc; i++) {
		if (caldav_ics(argv[i], &events, &err) < 0) {
			cx_log(CX_LOG_ERROR, jv_object_set(jv_object(), jv_string("error_code"),
			    jv_string("invalid_ics")), "%s", err.msg);
			status = CX_EXIT_DATAERR;
		}
		if (cx_ndjson_flush() < 0)
			return CX_EXIT_OK;
	}
	return status;
}

/* ---- watch ------------------------------------------------------------- */

static void print_channel(jv row, void *ctx)
{
	const conf *c = ctx;

	if (!c->table) {
		cx_ndjson_write(row);
		return;
	}
	printf("%-36s %-12s %-30s %-20s %s\n", cx_json_str(row, "channel_id"),
	    cx_json_str(row, "workspace"), cx_json_str(row, "calendar_id"),
	    cx_json_str(row, "expiration"), cx_json_str(row, "status"));
	jv_free(row);
}

static void table_header(const conf *c)
{
	if (c->table)
		printf("%-36s %-12s %-30s %-20s %s\n", "CHANNEL", "WORKSPACE", "CALENDAR",
		    "EXPIRATION", "STATUS");
}

static int start_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	jv row;
	int rc = parse(&cmd_start, argc, argv, &c, 0, NULL);

	if (rc >= 0)
		return rc;
	if (!c.src.workspace || !c.src.calendar || !c.address ||
	    (strncmp(c.address, "https://", 8) != 0 && strncmp(c.address, "http://", 7) != 0))
		return usage_error(&cmd_start,
		    "--workspace W, --calendar ID and --address with an http(s) URL");
	if ((rc = open_all(&c, &s)) >= 0)
		return rc;
	rc = watch_start(s, c.src.workspace, c.src.calendar, c.address, c.ttl, NULL, &row,
	    &err);
	if (rc == 0) {
		table_header(&c);
		print_channel(row, &c);
	}
	return finish(s, rc, &err);
}

static int renew_cmd(int argc, char **argv)
{
	conf c = { .before = RENEW_BEFORE_DEFAULT };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int64_t failed = 0;
	int rc = parse(&cmd_renew, argc, argv, &c, 0, NULL);

	if (rc >= 0 || (rc = open_all(&c, &s)) >= 0)
		return rc;
	table_header(&c);
	rc = watch_renew(s, c.src.workspace, c.before, print_channel, &c, &failed, &err);
	rc = finish(s, rc, &err);
	return rc == CX_EXIT_OK && failed > 0 ? CX_EXIT_SOME_FAILED : rc;
}

static int stop_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	jv row = jv_null();
	int first, rc = parse(&cmd_stop, argc, argv, &c, 1, &first);

	if (rc >= 0)
		return rc;
	if (first >= argc)
		return usage_error(&cmd_stop, "a CHANNEL_ID");
	if ((rc = open_all(&c, &s)) >= 0)
		return rc;
	rc = watch_stop(s, argv[first], &row, &err);
	if (rc == 0) {
		table_header(&c);
		print_channel(row, &c);
	} else {
		jv_free(row);
	}
	return finish(s, rc, &err);
}

static int list_cmd(int argc, char **argv)
{
	conf c = { 0 };
	cx_store *s = NULL;
	cx_err err = { 0, "" };
	int rc = parse(&cmd_list, argc, argv, &c, 0, NULL);

	if (rc >= 0 || (rc = open_all(&c, &s)) >= 0)
		return rc;
	table_header(&c);
	rc = cx_watch_list(s, c.src.workspace, c.all, -1, print_channel, &c, &err);
	return finish(s, rc, &err);
}

static const cx_subcmd watch_commands[] = {
	{ "start", start_cmd, &cmd_start },
	{ "renew", renew_cmd, &cmd_renew },
	{ "stop", stop_cmd, &cmd_stop },
	{ "list", list_cmd, &cmd_list },
	{ NULL, NULL, NULL },
};

static int watch_cmd(int argc, char **argv)
{
	return cx_subcmd_main("cx-sync",
	    "Google Calendar push channels: start, renew before they expire, stop, list.",
	    watch_commands, argc, argv);
}

/* The sync sources' subcommands, then cx-sync's own. */
static const cx_subcmd own_commands[] = {
	{ "--requests", requests_cmd, &cmd_requests },
	{ "watch", watch_cmd, &cmd_watch },
	{ "deliveries", deliveries_cmd, &cmd_deliveries },
	{ "ics", ics_cmd, &cmd_ics },
	{ NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	size_t n = 0, own = sizeof own_commands / sizeof *own_commands;
	const cx_source *src;
	cx_subcmd *commands;
	int rc;

	cx_log_init("cx-sync");
	/* --requests is an option that names a mode: it may follow others */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--requests") == 0)
			return requests_cmd(argc, argv);
	while (cx_sources_get(n))
		n++;
	commands = cx_xcalloc(n + own, sizeof *commands);
	for (size_t i = 0; (src = cx_sources_get(i)); i++)
		commands[i] = (cx_subcmd){ src->name, source_cmd, src->cmd };
	memcpy(commands + n, own_commands, sizeof own_commands);  /* with its end */
	rc = cx_subcmd_main("cx-sync",
	    "Pull sources with a cursor: calendars into a mirror, X mentions since the "
	    "last one.", commands, argc, argv);
	free(commands);
	return rc;
}
