/* cx-parse: provider webhook bodies -> canonical events (SPEC §5, §6).
 * Default mode reads NDJSON and maps the body of each webhook.received line
 * (map.c); with --provider, stdin is a stream of raw bodies instead
 * (bodies.c). Input is handled in batches (as many lines as are ready): a
 * batch's counters are committed in one transaction, and only then is its
 * output written and flushed. This file: the command line and that loop. */
#include <stdlib.h>

#include "config.h"
#include "configfile.h"
#include "exit.h"
#include "log.h"
#include "ndjson.h"
#include "opts.h"
#include "parse.h"
#include "store.h"
#include "xalloc.h"

#define MAX_LINE_LIMIT (1 << 30)  /* jv_parser takes int lengths */

enum { O_CONFIG = 1, O_DB, O_MAX_LINE, O_PROVIDER };

static const cx_opt options[] = {
	{ "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" },
	{ "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" },
	{ "max-line", 0, O_MAX_LINE, "BYTES", "longest accepted line or body (default 1048576)" },
	{ "provider", 0, O_PROVIDER, "P", "stdin holds raw P webhook bodies, not NDJSON lines" },
	{ NULL, 0, 0, NULL, NULL },
};

static const cx_cmd command = {
	"cx-parse",
	"[--provider P] [--db PATH] [--config FILE] [--max-line BYTES]",
	"Map provider webhook bodies to canonical event lines (NDJSON on stdout).",
	options,
};

typedef struct {
	const char *db, *config, *provider;
	long long max_line;
} conf;

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;

	switch (id) {
	case O_CONFIG: c->config = arg; return 0;
	case O_DB: c->db = arg; return 0;
	case O_PROVIDER: c->provider = arg; return 0;
	case O_MAX_LINE:
		return cx_opts_range("max-line", arg, 1, MAX_LINE_LIMIT, &c->max_line, err);
	}
	return 0;
}

/* Reads batches until the input ends or a fatal error, committing each
 * batch before its lines go out. */
static int pump(parse_run *R, const conf *c, cx_ndjson_reader *r, parse_body_reader *br)
{
	parse_batch *b = cx_xcalloc(1, sizeof *b);
	cx_err err;
	int rc, status = CX_EXIT_OK;

	cx_ndjson_out_init();
	for (;;) {
		rc = c->provider ? parse_read_bodies(R, br, b) : parse_read_lines(R, r, b);
		if (rc < 0) {
			status = cx_log_fail(&(cx_err){ CX_EXIT_TEMPFAIL, "read error on stdin" });
			break;
		}
		if (rc == 0 || (R->fatal && R->discard))
			break;
		if (parse_batch_commit(R, b, &err) < 0) {
			status = cx_log_fail(&err);
			break;
		}
		if (b->out.len > 0)
			cx_ndjson_write_raw(b->out.s, b->out.len - 1);
		parse_batch_clear(b);
		if (cx_ndjson_flush() < 0)
			break;  /* the reader is gone: stop quietly */
		if (R->fatal)
			break;  /* what came before the failure is out; stop there */
	}
	if (R->fatal && status == CX_EXIT_OK)
		status = cx_log_fail(&R->err);
	if (status == CX_EXIT_OK && (R->errors > 0 || (r && cx_ndjson_rejected(r) > 0)))
		status = CX_EXIT_DATAERR;
	parse_batch_clear(b);
	free(b->out.s);
	free(b->counters);
	free(b);
	return status;
}

/* The options and the config file: -1 to go on, else the exit status
 * (0 after --help or --version). */
static int parse_args(conf *c, int argc, char **argv)
{
	cx_err err = { 0, "" };
	int rc = cx_opts_parse(&command, argc, argv, on_option, c, &err);

	if (rc == CX_OPTS_DONE)
		return CX_EXIT_OK;
	if (rc >= 0 && rc < argc)
		rc = cx_err_set(&err, CX_EXIT_USAGE, "unexpected argument '%s'", argv[rc]);
	if (rc >= 0 && c->provider && !parse_provider_name_ok(c->provider))
		rc = cx_err_set(&err, CX_EXIT_USAGE, "no parser for provider '%s'", c->provider);
	if (rc < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s (see cx-parse --help)", err.msg);
		return CX_EXIT_USAGE;
	}
	if (cx_config_load(c->config, &err) < 0)
		return cx_log_fail(&err);
	return -1;
}

/* The parser of --provider, checked before anything is read. */
static int provider_parser(parse_run *R, const conf *c, parse_body_reader *br)
{
	cx_err err;

	br->p = parse_parser_for(R, c->provider);
	if (!br->p)
		return cx_log_fail(&R->err);
	if (!br->p->jq) {
		cx_err_set(&err, CX_EXIT_USAGE, "no parser for provider '%s'", c->provider);
		return cx_log_fail(&err);
	}
	return CX_EXIT_OK;
}

int main(int argc, char **argv)
{
	conf c = { .max_line = CX_NDJSON_MAX_LINE_DEFAULT };
	cx_err err = { 0, "" };
	parse_run R = { 0 };
	cx_ndjson_reader *r = NULL;
	parse_body_reader br = { 0 };
	int status;

	cx_log_init("cx-parse");
	if ((status = parse_args(&c, argc, argv)) >= 0)
		return status;
	status = CX_EXIT_OK;
	parse_keys_init();
	if (c.provider)
		status = provider_parser(&R, &c, &br);
	if (status == CX_EXIT_OK && cx_store_open(c.db, &R.store, &err) < 0)
		status = cx_log_fail(&err);
	if (status == CX_EXIT_OK) {
		if (c.provider)
			parse_bodies_open(&br, (size_t)c.max_line, c.provider);
		else
			r = cx_ndjson_open(0, (size_t)c.max_line);
		status = pump(&R, &c, r, &br);
		cx_ndjson_close(r);
		parse_bodies_close(&br);
	}
	parse_run_free(&R);
	cx_store_close(R.store);
	return status;
}
