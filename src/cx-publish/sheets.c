/* sheets.c: `cx-publish sheets --from-csv FILE`: the rows of a CSV file
 * (csv.h) appended to a Google Sheet once each. Every row becomes a sheets
 * command line (its cells the values, the cell in --key-column its
 * row_key, the channel's default idempotency key); the whole file is
 * checked first, so bad input changes nothing. Rows appended before
 * (sheet_rows) or already waiting as commands are left out; the rest are
 * taken as stdin's command lines are (input.c), then the engine sends
 * them, 500 rows a values.append. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "channels.h"
#include "config.h"
#include "configfile.h"
#include "csv.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "opts.h"
#include "publish_tool.h"
#include "sheetrows.h"

/* Malformed rows reported before giving up. */
#define MAX_REPORTED 20

typedef struct {
	publish_conf c;
	const char *file, *spreadsheet, *range, *workspace;
	long long key_column;
	int header;
} sync_conf;

enum { O_DB = 1, O_CONFIG, O_FILE, O_SPREADSHEET, O_RANGE, O_KEY_COLUMN, O_TENANT, O_HEADER };

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	sync_conf *y = ctx;

	switch (id) {
	case O_DB: y->c.db = arg; break;
	case O_CONFIG: y->c.config = arg; break;
	case O_FILE: y->file = arg; break;
	case O_SPREADSHEET: y->spreadsheet = arg; break;
	case O_RANGE: y->range = arg; break;
	case O_TENANT: y->workspace = arg; break;
	case O_HEADER: y->header = 1; break;
	case O_KEY_COLUMN:
		return cx_opts_range("key-column", arg, 1, 18278, &y->key_column, err);
	}
	return 0;
}

static const cx_opt opts[] = {
	{ "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" },
	{ "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" },
	{ "from-csv", 0, O_FILE, "FILE", "the CSV file (RFC 4180) whose rows to append" },
	{ "header", 0, O_HEADER, NULL, "the file's first row names the columns: not appended" },
	{ "key-column", 0, O_KEY_COLUMN, "N", "the column (from 1) holding each row's key" },
	{ "range", 0, O_RANGE, "R", "where to append, in A1 notation (Log!A:F)" },
	{ "spreadsheet", 0, O_SPREADSHEET, "S", "the spreadsheet's id" },
	{ "tenant", 0, O_TENANT, "T", "the workspace the rows are sent for, whose Google "
	  "credential is used (default: default)" },
	{ NULL, 0, 0, NULL, NULL },
};

static const cx_cmd cmd = { "cx-publish sheets",
	"--from-csv FILE --spreadsheet S --range R --key-column N [--tenant T] [--header] "
	"[--db PATH] [--config FILE]",
	"Append the rows of a CSV file to a Google Sheet, each once: rows appended\n"
	"before, or waiting, are left out. post.* lines on stdout.", opts };

/* The command line of CSV record rec (consumed); NULL with err when the
 * record has no cell in the key column. */
static jv line_of(const sync_conf *y, jv rec, long lineno, cx_err *err)
{
	int n = jv_array_length(jv_copy(rec));
	jv line = jv_object_set(jv_object(), jv_string("channel"), jv_string("sheets"));

	if (n < y->key_column) {
		jv_free(rec);
		jv_free(line);
		cx_err_set(err, CX_EXIT_DATAERR, "line %ld: the row has %d cell%s, and "
		    "--key-column %lld names none", lineno, n, n == 1 ? "" : "s", y->key_column);
		return jv_invalid();
	}
	line = jv_object_set(line, jv_string("workspace"), jv_string(y->workspace));
	line = jv_object_set(line, jv_string("spreadsheet_id"), jv_string(y->spreadsheet));
	line = jv_object_set(line, jv_string("range"), jv_string(y->range));
	line = jv_object_set(line, jv_string("row_key"), jv_array_get(jv_copy(rec),
	    (int)y->key_column - 1));
	line = jv_object_set(line, jv_string("key_column"), jv_number((double)y->key_column));
	return jv_object_set(line, jv_string("values"), rec);
}

/* Checks line (not consumed) as a sheets command; logs what is wrong. */
static int check_line(jv line, long lineno)
{
	cx_queue_checked checked;
	const char *problem = NULL;
	cx_err err = { 0, "" };

	if (cx_channels_check(line, &checked, &problem, &err) == 0)
		return 0;
	cx_log(CX_LOG_ERROR, jv_object_set(jv_object_set(jv_object(), jv_string("line"),
	    jv_number((double)lineno)), jv_string("error_code"), jv_string(problem ? problem :
	    "invalid")), "line %ld: %s", lineno, err.msg);
	return -1;
}

/* Walks the rows of in (after the header), handing each line to each
 * (0 to go on); -1 when the file is malformed (logged). *bad counts the
 * rows each refused. */
static int each_row(const sync_conf *y, FILE *in, int (*each)(void *ctx, jv line,
    long lineno), void *ctx, long *bad)
{
	cx_csv *r = cx_csv_open(in, 0);
	cx_err err = { 0, "" };
	int rc, first = 1;
	jv rec, line;

	*bad = 0;
	while ((rc = cx_csv_next(r, &rec, &err)) > 0) {
		long lineno = cx_csv_line(r);

		if (first && y->header) {
			first = 0;
			jv_free(rec);
			continue;
		}
		first = 0;
		line = line_of(y, rec, lineno, &err);
		if (!jv_is_valid(line)) {
			cx_log(CX_LOG_ERROR, jv_null(), "%s", err.msg);
			++*bad;
		} else if (each(ctx, line, lineno) < 0) {
			++*bad;
		}
		if (*bad >= MAX_REPORTED)
			break;
	}
	cx_csv_close(r);
	if (rc < 0)
		cx_log(CX_LOG_ERROR, jv_null(), "%s: %s", y->file, err.msg);
	return rc < 0 ? -1 : 0;
}

static int check_each(void *ctx, jv line, long lineno)
{
	int rc = check_line(line, lineno);

	(void)ctx;
	jv_free(line);
	return rc;
}

/* What the second pass counts and needs. */
typedef struct {
	const sync_conf *y;
	cx_store *s;
	engine *e;
	const cx_channel *ch;
	int *status;
	long added, appended, waiting;
} adding;

/* Adds line as a command unless its row was appended or waits already. */
static int add_each(void *ctx, jv line, long lineno)
{
	adding *a = ctx;
	cx_err err = { 0, "" };
	char *key = a->ch->default_key(line, &err);
	int known = key ? cx_sheet_rows_known(a->s, a->y->spreadsheet, a->y->range,
	    cx_json_str(line, "row_key"), a->y->workspace, key, &err) : -1;

	if (known != 0) {
		if (known < 0) {
			cx_log(CX_LOG_ERROR, jv_null(), "line %ld: %s", lineno, err.msg);
			publish_status(a->status, err.code ? err.code : CX_EXIT_TEMPFAIL);
		}
		a->appended += known == 2;
		a->waiting += known == 1;
		jv_free(line);
		free(key);
		return known < 0 ? -1 : 0;
	}
	line = jv_object_set(line, jv_string("idempotency_key"), jv_string(key));
	free(key);
	a->added += input_command(a->s, &a->y->c, a->e, line, lineno, a->status);
	return 0;
}

/* Both passes over the file, then the sending. */
static int sync_rows(const sync_conf *y, cx_store *s, engine *e, FILE *in, int *status)
{
	adding a = { .y = y, .s = s, .e = e, .ch = cx_channels_find("sheets"), .status = status };
	cx_err err = { 0, "" };
	int required;
	long bad;

	if (cx_channel_approval_required(a.ch, &required, &err) < 0 || required) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s", required ? "refused: CX_APPROVAL_SHEETS "
		    "requires approval; queue the rows with cx-approve enqueue; nothing was added" :
		    err.msg);
		publish_status(status, required ? CX_EXIT_NOPERM : err.code);
		return -1;
	}
	if (each_row(y, in, check_each, NULL, &bad) < 0 || bad > 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s: %s; nothing was added", y->file, bad ?
		    "rows that cannot be sent" : "not CSV as RFC 4180 writes it");
		publish_status(status, CX_EXIT_DATAERR);
		return -1;
	}
	if (fseek(in, 0, SEEK_SET) < 0 || each_row(y, in, add_each, &a, &bad) < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s: cannot read it again", y->file);
		publish_status(status, CX_EXIT_TEMPFAIL);
		return -1;
	}
	cx_log_info("%s: %ld row%s to append, %ld appended before, %ld waiting already",
	    y->file, a.added, a.added == 1 ? "" : "s", a.appended, a.waiting);
	cx_ndjson_flush();
	engine_run(e, 0);
	return 0;
}

/* The CSV file, a regular file (read twice). */
static FILE *open_csv(const char *path)
{
	struct stat st;
	FILE *in = fopen(path, "re");

	if (!in) {
		cx_log_error("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(in), &st) < 0 || !S_ISREG(st.st_mode)) {
		cx_log_error("%s is not a regular file (--from-csv reads it twice)", path);
		fclose(in);
		return NULL;
	}
	return in;
}

static void on_signal(int sig)
{
	(void)sig;
	engine_stop();
}

/* Runs the sync on the store and engine of y; closes them. */
static int run_sync(sync_conf *y, FILE *in)
{
	struct sigaction sa = { .sa_handler = on_signal };
	cx_store *s = NULL;
	engine *e = NULL;
	cx_err err = { 0, "" };
	int status = CX_EXIT_OK;

	if (cx_config_load(y->c.config, &err) < 0 || cx_store_open(y->c.db, &s, &err) < 0)
		return cx_log_fail(&err);
	cx_ndjson_out_init();
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (engine_open(&e, s, &y->c, &err) < 0) {
		cx_store_close(s);
		return cx_log_fail(&err);
	}
	if (publish_expire_leases(s, &status) == 0)
		publish_reconcile(s, "sheets", 0, &status);
	sync_rows(y, s, e, in, &status);
	cx_ndjson_flush();
	publish_status(&status, engine_status(e));
	engine_close(e);
	cx_store_close(s);
	return status;
}

int publish_sheets(int argc, char **argv)
{
	sync_conf y = { .workspace = "default" };
	FILE *in;
	int rc;

	y.c.channel = "sheets";
	y.c.max_attempts = 8;
	y.c.max_line = CX_NDJSON_MAX_LINE_DEFAULT;
	if ((rc = cx_opts_start(&cmd, argc, argv, on_option, &y, 0, NULL, NULL)) >= 0)
		return rc;
	if (!y.file || !y.spreadsheet || !y.range || !y.key_column)
		return cx_opts_usage_error(&cmd, NULL, "name the file, the spreadsheet, the range "
		    "and the key column: --from-csv, --spreadsheet, --range and --key-column");
	if (!*y.workspace)
		return cx_opts_usage_error(&cmd, NULL, "--tenant names a workspace");
	if (!(in = open_csv(y.file)))
		return CX_EXIT_USAGE;
	rc = run_sync(&y, in);
	fclose(in);
	return rc;
}
