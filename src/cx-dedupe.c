/* cx-dedupe: forwards each NDJSON line whose key was not seen before.
 * Lines are read in batches (as many as are ready, up to BATCH_LINES); the
 * keys of a batch are decided in one transaction, and only after it commits
 * are the batch's lines written, so no line leaves before its key is
 * recorded. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "configfile.h"
#include "dedupe.h"
#include "exit.h"
#include "json.h"
#include "log.h"
#include "ndjson.h"
#include "opts.h"
#include "progress.h"
#include "store.h"
#include "xalloc.h"

/* Bigger batches mean fewer commits, and each commit rewrites the B-tree
 * pages its keys land on; the limits keep the peak memory near 20 MiB. */
#define BATCH_LINES 32768
#define BATCH_BYTES (8 * 1024 * 1024)

enum { O_DB = 1, O_CONFIG, O_KEY, O_TTL, O_CLAIM, O_LEASE, O_COMMIT, O_STATS,
	O_MAX_LINE, O_NO_PROGRESS };

static const cx_opt options[] = {
	{ "claim", 0, O_CLAIM, NULL, "lease new keys instead of recording them as done" },
	{ "commit", 0, O_COMMIT, NULL, "mark the keys of the lines read as done, forward all" },
	{ "config", 0, O_CONFIG, "FILE", "load KEY=value settings from FILE" },
	{ "db", 0, O_DB, "PATH", "state file (default $CX_DB, then $XDG_STATE_HOME/cx/cx.db)" },
	{ "key", 'k', O_KEY, "JQPATH", "where the key is in each line (default .dedupe_key)" },
	{ "lease", 0, O_LEASE, "SECONDS", "how long a --claim lease lasts (default 300)" },
	{ "max-line", 0, O_MAX_LINE, "BYTES", "longest accepted line (default 1048576)" },
	{ "no-progress", 0, O_NO_PROGRESS, NULL, "no progress line on a terminal's stderr" },
	{ "stats", 0, O_STATS, NULL, "print seen/forwarded/dropped counts on stderr at the end" },
	{ "ttl", 0, O_TTL, "SECONDS", "how long a key is remembered (default 604800, 7 days)" },
	{ NULL, 0, 0, NULL, NULL },
};

static const cx_cmd command = {
	"cx-dedupe",
	"[--db PATH] [--key JQPATH] [--ttl SECONDS] [--stats] [--no-progress] [-]\n"
	"       cx-dedupe --claim [--lease SECONDS] [--db PATH] [--key JQPATH]\n"
	"       cx-dedupe --commit [--db PATH] [--key JQPATH] [--ttl SECONDS]",
	"Forward each NDJSON line from stdin whose key was never seen; drop repeats.",
	options,
};

typedef struct {
	const char *db, *config, *key;
	long long ttl, lease, max_line;
	cx_dedupe_mode mode;
	int stats, modes_given, no_progress;
} conf;

static int on_option(int id, const char *arg, void *ctx, cx_err *err)
{
	conf *c = ctx;

	switch (id) {
	case O_DB: c->db = arg; return 0;
	case O_CONFIG: c->config = arg; return 0;
	case O_KEY: c->key = arg; return 0;
	case O_TTL: return cx_opts_range("ttl", arg, 1, LLONG_MAX, &c->ttl, err);
	case O_LEASE: return cx_opts_range("lease", arg, 1, LLONG_MAX, &c->lease, err);
	case O_MAX_LINE: return cx_opts_uint("max-line", arg, &c->max_line, err);
	case O_CLAIM: c->mode = CX_DEDUPE_CLAIM; c->modes_given++; return 0;
	case O_COMMIT: c->mode = CX_DEDUPE_COMMIT; c->modes_given++; return 0;
	case O_STATS: c->stats = 1; return 0;
	case O_NO_PROGRESS: c->no_progress = 1; return 0;
	}
	return 0;
}

/* One batch: raw lines back to back in text, their keys beside them. */
typedef struct {
	char *text;
	size_t used, cap;
	size_t off[BATCH_LINES], len[BATCH_LINES];
	cx_dedupe_line lines[BATCH_LINES];
	int n;
} batch;

/* Where a line's key is. A plain member (.dedupe_key) is read straight from
 * the validated text; any other program, or a key that is not a plain
 * string, goes through libjq. */
typedef struct {
	cx_jq *prog;
	char *member;  /* "dedupe_key" for the program ".dedupe_key", else NULL */
} key_path;

static char *plain_member(const char *prog)
{
	static const char word[] = "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	const char *p = prog + 1;

	/* jq's field syntax: .name, where name does not start with a digit */
	if (prog[0] != '.' || !*p || !strchr(word, *p) || strchr("0123456789", *p) ||
	    p[strspn(p, word)])
		return NULL;
	return cx_xstrdup(p);
}

/* The key through libjq. A key program that fails on a line (e.g. .a.b
 * where .a is a string) leaves it unkeyed, with a warning. */
static void jq_key(const key_path *k, const cx_ndjson_line *line,
    cx_dedupe_line *out)
{
	jv v = cx_jq_first(k->prog, jv_parse_sized(line->raw, (int)line->len));
	char *s;

	if (jv_get_kind(v) == JV_KIND_INVALID && jv_invalid_has_msg(jv_copy(v))) {
		jv f = jv_object();

		f = jv_object_set(f, jv_string("line"), jv_number((double)line->lineno));
		f = jv_object_set(f, jv_string("error_code"), jv_string("key_error"));
		cx_log(CX_LOG_WARN, f, "line %ld: --key fails on this line; forwarded as unkeyed",
		    line->lineno);
	}
	s = cx_json_key_string(v);
	out->keyed = s != NULL;
	if (s)
		cx_dedupe_key(s, strlen(s), out->key);
	free(s);
}

static void line_key(const key_path *k, const cx_ndjson_line *line,
    cx_dedupe_line *out)
{
	const char *v;
	size_t n;
	int rc;

	if (!k->member) {
		jq_key(k, line, out);
		return;
	}
	rc = cx_json_member(line->raw, line->len, k->member, &v, &n);
	if (rc == 0 || (rc == 1 && n == 4 && memcmp(v, "null", 4) == 0)) {
		out->keyed = 0;
	} else if (rc == 1 && v[0] == '"' && !memchr(v, '\\', n)) {
		out->keyed = 1;
		cx_dedupe_key(v + 1, n - 2, out->key);
	} else {
		jq_key(k, line, out);  /* escapes, numbers, containers */
	}
}

static void batch_add(batch *b, const key_path *k, const cx_ndjson_line *line)
{
	if (b->used + line->len > b->cap) {
		b->cap = (b->used + line->len) * 2;
		b->text = cx_xrealloc(b->text, b->cap);
	}
	memcpy(b->text + b->used, line->raw, line->len);
	b->off[b->n] = b->used;
	b->len[b->n] = line->len;
	line_key(k, line, &b->lines[b->n]);
	b->used += line->len;
	b->n++;
}

/* Reads the next batch; 0 at end of input, -1 on a read error. */
static int read_batch(cx_ndjson_reader *r, const key_path *k, batch *b)
{
	cx_ndjson_line line;
	int rc;

	b->n = 0;
	b->used = 0;
	while (b->n < BATCH_LINES && b->used < BATCH_BYTES) {
		rc = cx_ndjson_next_raw(r, &line);
		if (rc <= 0)
			return rc < 0 ? -1 : b->n;
		batch_add(b, k, &line);
		if (!cx_ndjson_ready(r))
			break;
	}
	return b->n;
}

int main(int argc, char **argv)
{
	conf c = { .key = ".dedupe_key", .ttl = 7 * 86400, .lease = 300,
		.max_line = CX_NDJSON_MAX_LINE_DEFAULT, .mode = CX_DEDUPE_SIMPLE };
	cx_dedupe_counts total = { 0, 0, 0 };
	cx_err err = { 0, "" };
	cx_store *store = NULL;
	cx_ndjson_reader *r;
	cx_dedupe *d;
	key_path key = { NULL, NULL };
	cx_progress progress;
	batch *b;
	int rc, status = CX_EXIT_OK;

	cx_log_init("cx-dedupe");
	rc = cx_opts_parse(&command, argc, argv, on_option, &c, &err);
	if (rc == CX_OPTS_DONE)
		return CX_EXIT_OK;
	/* "-" (stdin) is the only input there is. */
	if (rc >= 0 && rc < argc && !(rc == argc - 1 && strcmp(argv[rc], "-") == 0))
		rc = cx_err_set(&err, CX_EXIT_USAGE, "unexpected argument '%s'", argv[rc]);
	if (rc >= 0 && c.modes_given > 1)
		rc = cx_err_set(&err, CX_EXIT_USAGE, "--claim and --commit exclude each other");
	if (rc < 0) {
		cx_log(CX_LOG_ERROR, jv_null(), "%s (see cx-dedupe --help)", err.msg);
		return CX_EXIT_USAGE;
	}
	if (cx_config_load(c.config, &err) < 0 ||
	    !(key.prog = cx_jq_compile(c.key, jv_null(), &err)))
		return cx_log_fail(&err);
	if (cx_store_open(c.db, &store, &err) < 0) {
		cx_jq_free(key.prog);
		return cx_log_fail(&err);
	}
	key.member = plain_member(c.key);
	/* Checkpoint less often: each one copies every page the batches since
	 * the last one touched (at most 32 MiB of WAL). */
	cx_store_autocheckpoint(store, 8192);
	d = cx_dedupe_new(store, c.mode, c.ttl, c.lease);
	r = cx_ndjson_open(0, (size_t)c.max_line);
	b = cx_xcalloc(1, sizeof *b);
	cx_ndjson_out_init();
	cx_progress_start(&progress, "cx-dedupe", "lines", -1, c.no_progress);
	while ((rc = read_batch(r, &key, b)) > 0) {
		if (cx_dedupe_decide(d, b->lines, b->n, &total, &err) < 0) {
			status = cx_log_fail(&err);
			break;
		}
		for (int i = 0; i < b->n; i++)
			if (b->lines[i].forward)
				cx_ndjson_write_raw(b->text + b->off[i], b->len[i]);
		if (cx_ndjson_flush() < 0)
			break;  /* the reader is gone: stop quietly */
		cx_progress_update(&progress, total.forwarded + total.dropped + total.unkeyed, -1);
	}
	cx_progress_end(&progress);
	if (rc < 0)
		status = cx_log_fail(&(cx_err){ CX_EXIT_TEMPFAIL, "read error on stdin" });
	if (c.stats) {
		jv f = jv_object();

		f = jv_object_set(f, jv_string("seen"), jv_number((double)(total.forwarded +
		    total.dropped + total.unkeyed)));
		f = jv_object_set(f, jv_string("forwarded"), jv_number((double)total.forwarded));
		f = jv_object_set(f, jv_string("dropped"), jv_number((double)total.dropped));
		f = jv_object_set(f, jv_string("unkeyed"), jv_number((double)total.unkeyed));
		f = jv_object_set(f, jv_string("rejected"),
		    jv_number((double)cx_ndjson_rejected(r)));
		cx_log(CX_LOG_INFO, f, "stats");
	}
	if (status == CX_EXIT_OK && cx_ndjson_rejected(r) > 0)
		status = CX_EXIT_DATAERR;
	free(b->text);
	free(b);
	cx_ndjson_close(r);
	cx_dedupe_free(d);
	cx_jq_free(key.prog);
	free(key.member);
	cx_store_close(store);
	return status;
}
