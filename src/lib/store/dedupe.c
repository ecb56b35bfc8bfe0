/* dedupe.c: claims on keys in the dedupe table. An expired row (a done key
 * past its TTL or a lease nobody committed) counts as never seen, so one
 * upsert that only overwrites expired rows decides each key atomically,
 * whatever other processes do. Keys are stored as the first 128 bits of
 * their SHA-256: a small, fixed-size B-tree key (a third of the pages of
 * typical keys, so far less I/O), and no phone number or message id ends up
 * in the state file. */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "dedupe.h"
#include "metrics.h"
#include "xalloc.h"

/* Keys examined by the purge sweep: per batch, twice its lines and a
 * minimum, more than the batch can insert, so the table cannot outgrow the
 * live keys, and a small batch still sweeps a small table whole. */
#define PURGE_PER_LINE 2
#define PURGE_MIN 1024
#define KEY_BYTES CX_DEDUPE_KEY_LEN

/* A keyed line of the batch, in key order for the B-tree. */
typedef struct {
	unsigned char key[KEY_BYTES];
	int line;
} sorted_key;

struct cx_dedupe {
	cx_store *store;
	cx_dedupe_mode mode;
	int64_t ttl, lease, now;
	char owner[33];         /* this run, for leases */
	unsigned char sweep_after[KEY_BYTES];  /* purge cursor: the last key swept */
	size_t sweep_len;                      /* 0: from the start */
	sorted_key *sorted;
	int sorted_cap;
};

cx_dedupe *cx_dedupe_new(cx_store *s, cx_dedupe_mode mode, int64_t ttl,
    int64_t lease)
{
	cx_dedupe *d = cx_xcalloc(1, sizeof *d);
	unsigned char id[16];

	d->store = s;
	d->mode = mode;
	d->ttl = ttl;
	d->lease = lease;
	cx_crypto_random(id, sizeof id);
	cx_crypto_hex(id, sizeof id, d->owner);
	return d;
}

void cx_dedupe_free(cx_dedupe *d)
{
	if (!d)
		return;
	free(d->sorted);
	free(d);
}

void cx_dedupe_key(const char *s, size_t len, unsigned char out[KEY_BYTES])
{
	unsigned char md[CX_SHA256_LEN];

	cx_crypto_sha256(s, len, md);
	memcpy(out, md, KEY_BYTES);
}

/* ?1 key, ?2 done, ?3 owner, ?4 expires_at, ?5 now. */
static const char sql_claim[] =
    "INSERT INTO dedupe (key, done, owner, expires_at) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (key) DO UPDATE SET done = excluded.done, owner = excluded.owner,"
    " expires_at = excluded.expires_at WHERE dedupe.expires_at <= ?5";

static const char sql_commit[] =
    "INSERT INTO dedupe (key, done, owner, expires_at) VALUES (?1, 1, NULL, ?2) "
    "ON CONFLICT (key) DO UPDATE SET done = 1, owner = NULL,"
    " expires_at = excluded.expires_at";

/* 1 when the line with this key is to be forwarded, 0 when not, -1. */
static int check(cx_dedupe *d, const unsigned char *key, cx_err *err)
{
	cx_stmt *st;

	if (d->mode == CX_DEDUPE_COMMIT) {
		st = cx_store_prepare(d->store, sql_commit, err);
		if (!st)
			return -1;
		cx_stmt_blob(st, 1, key, KEY_BYTES);
		cx_stmt_int(st, 2, d->now + d->ttl);
		return cx_stmt_run(st, err) < 0 ? -1 : 1;
	}
	st = cx_store_prepare(d->store, sql_claim, err);
	if (!st)
		return -1;
	cx_stmt_blob(st, 1, key, KEY_BYTES);
	if (d->mode == CX_DEDUPE_CLAIM) {
		cx_stmt_int(st, 2, 0);
		cx_stmt_text(st, 3, d->owner);
		cx_stmt_int(st, 4, d->now + d->lease);
	} else {
		cx_stmt_int(st, 2, 1);
		cx_stmt_null(st, 3);
		cx_stmt_int(st, 4, d->now + d->ttl);
	}
	cx_stmt_int(st, 5, d->now);
	if (cx_stmt_run(st, err) < 0)
		return -1;
	return cx_store_changes(d->store) > 0;
}

/* The purge sweep walks the key order a slice per batch and wraps around:
 * it finds where the slice ends, then deletes what expired up to there. */
static const char sql_sweep_end[] =
    "SELECT key FROM dedupe WHERE key > ?1 ORDER BY key LIMIT 1 OFFSET ?2";
static const char sql_sweep[] =
    "DELETE FROM dedupe WHERE key > ?1 AND key <= ?2 AND expires_at <= ?3";

/* Above every stored key (all are KEY_BYTES long). */
static const unsigned char key_last[KEY_BYTES] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

static int purge_slice(cx_dedupe *d, int64_t slice, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(d->store, sql_sweep_end, err);
	unsigned char end[KEY_BYTES];
	const void *e;
	size_t len;
	int rc;

	if (!st)
		return -1;
	cx_stmt_blob(st, 1, d->sweep_after, d->sweep_len);
	cx_stmt_int(st, 2, slice - 1);
	if ((rc = cx_stmt_step(st, err)) < 0)
		return -1;
	e = rc == 1 ? cx_stmt_col_blob(st, 0, &len) : NULL;
	/* fewer keys left than the slice: sweep to the end, then wrap around */
	memcpy(end, e && len == KEY_BYTES ? e : key_last, KEY_BYTES);
	cx_stmt_reset(st);
	st = cx_store_prepare(d->store, sql_sweep, err);
	if (!st)
		return -1;
	cx_stmt_blob(st, 1, d->sweep_after, d->sweep_len);
	cx_stmt_blob(st, 2, end, KEY_BYTES);
	cx_stmt_int(st, 3, d->now);
	rc = cx_stmt_run(st, err);
	memcpy(d->sweep_after, end, KEY_BYTES);
	d->sweep_len = memcmp(end, key_last, KEY_BYTES) ? KEY_BYTES : 0;
	return rc;
}

static int count(cx_dedupe *d, const char *result, int64_t n, cx_err *err)
{
	char *labels = cx_metrics_labels("result", result, NULL);
	int rc = cx_metrics_add(d->store, "cx_dedupe_lines_total", labels, n, err);

	free(labels);
	return rc;
}

/* Key order, and line order among equal keys: the first line of a key
 * comes first. */
static int by_key(const void *a, const void *b)
{
	const sorted_key *x = a, *y = b;
	int c = memcmp(x->key, y->key, KEY_BYTES);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* The keyed lines of the batch in key order: the checks then walk the
 * B-tree from one end to the other, each page read once per batch, instead
 * of jumping around a table larger than the page cache. */
static int sort_keys(cx_dedupe *d, cx_dedupe_line *lines, int n,
    cx_dedupe_counts *c)
{
	int m = 0;

	if (n > d->sorted_cap) {
		d->sorted_cap = n;
		d->sorted = cx_xrealloc(d->sorted, (size_t)n * sizeof *d->sorted);
	}
	for (int i = 0; i < n; i++) {
		if (!lines[i].keyed) {
			lines[i].forward = 1;
			c->unkeyed++;
			continue;
		}
		memcpy(d->sorted[m].key, lines[i].key, KEY_BYTES);
		d->sorted[m++].line = i;
	}
	qsort(d->sorted, (size_t)m, sizeof *d->sorted, by_key);
	return m;
}

static int decide(cx_dedupe *d, cx_dedupe_line *lines, int m,
    cx_dedupe_counts *c, cx_err *err)
{
	/* A --commit run forwards what a --claim run already counted. */
	const char *fwd_result = d->mode == CX_DEDUPE_COMMIT ? "committed" : "forwarded";

	for (int j = 0; j < m; j++) {
		const sorted_key *k = &d->sorted[j];
		int fwd;

		if (j > 0 && memcmp(k->key, d->sorted[j - 1].key, KEY_BYTES) == 0)
			fwd = d->mode == CX_DEDUPE_COMMIT;  /* decided a line ago */
		else if ((fwd = check(d, k->key, err)) < 0)
			return -1;
		lines[k->line].forward = fwd;
		if (fwd)
			c->forwarded++;
		else
			c->dropped++;
	}
	if (purge_slice(d, (int64_t)m * PURGE_PER_LINE + PURGE_MIN, err) < 0 ||
	    count(d, fwd_result, c->forwarded, err) < 0 ||
	    count(d, "dropped", c->dropped, err) < 0 ||
	    count(d, "unkeyed", c->unkeyed, err) < 0)
		return -1;
	return 0;
}

int cx_dedupe_decide(cx_dedupe *d, cx_dedupe_line *lines, int n,
    cx_dedupe_counts *total, cx_err *err)
{
	cx_dedupe_counts c = { 0, 0, 0 };
	int m = sort_keys(d, lines, n, &c);

	d->now = cx_clock_now();
	if (cx_store_begin(d->store, err) < 0)
		return -1;
	if (decide(d, lines, m, &c, err) < 0) {
		cx_store_rollback(d->store);
		return -1;
	}
	if (cx_store_commit(d->store, err) < 0)
		return -1;
	total->forwarded += c.forwarded;
	total->dropped += c.dropped;
	total->unkeyed += c.unkeyed;
	return 0;
}
