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

/* Keys examined per batch by the purge sweep: more than a batch inserts, so
 * the table cannot outgrow the live keys. */
#define PURGE_SLICE 65536
#define KEY_BYTES 16

struct cx_dedupe {
	cx_store *store;
	cx_dedupe_mode mode;
	int64_t ttl, lease, now;
	char owner[33];         /* this run, for leases */
	unsigned char sweep_after[KEY_BYTES];  /* purge cursor: the last key swept */
	size_t sweep_len;                      /* 0: from the start */
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
	free(d);
}

int cx_dedupe_begin(cx_dedupe *d, cx_err *err)
{
	d->now = cx_clock_now();
	return cx_store_begin(d->store, err);
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

/* The stored form of a key. */
static void key_hash(const char *key, unsigned char out[KEY_BYTES])
{
	unsigned char md[CX_SHA256_LEN];

	cx_crypto_sha256(key, strlen(key), md);
	memcpy(out, md, KEY_BYTES);
}

int cx_dedupe_check(cx_dedupe *d, const char *key, cx_err *err)
{
	unsigned char h[KEY_BYTES];
	cx_stmt *st;

	key_hash(key, h);
	if (d->mode == CX_DEDUPE_COMMIT) {
		st = cx_store_prepare(d->store, sql_commit, err);
		if (!st)
			return -1;
		cx_stmt_blob(st, 1, h, sizeof h);
		cx_stmt_int(st, 2, d->now + d->ttl);
		return cx_stmt_run(st, err) < 0 ? -1 : 1;
	}
	st = cx_store_prepare(d->store, sql_claim, err);
	if (!st)
		return -1;
	cx_stmt_blob(st, 1, h, sizeof h);
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

/* The purge sweep walks the key order a slice per batch and wraps around. */
static const char sql_sweep_end[] =
    "SELECT max(key) FROM (SELECT key FROM dedupe WHERE key > ?1"
    " ORDER BY key LIMIT ?2)";
static const char sql_sweep[] =
    "DELETE FROM dedupe WHERE key > ?1 AND key <= ?2 AND expires_at <= ?3";

static int purge_slice(cx_dedupe *d, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(d->store, sql_sweep_end, err);
	unsigned char end[KEY_BYTES];
	const void *e;
	size_t len;
	int rc;

	if (!st)
		return -1;
	cx_stmt_blob(st, 1, d->sweep_after, d->sweep_len);
	cx_stmt_int(st, 2, PURGE_SLICE);
	if ((rc = cx_stmt_step(st, err)) < 0)
		return -1;
	e = rc == 1 ? cx_stmt_col_blob(st, 0, &len) : NULL;
	if (!e || len != KEY_BYTES) {
		/* past the last key: wrap around */
		cx_stmt_reset(st);
		d->sweep_len = 0;
		return 0;
	}
	memcpy(end, e, KEY_BYTES);
	cx_stmt_reset(st);
	st = cx_store_prepare(d->store, sql_sweep, err);
	if (!st)
		return -1;
	cx_stmt_blob(st, 1, d->sweep_after, d->sweep_len);
	cx_stmt_blob(st, 2, end, KEY_BYTES);
	cx_stmt_int(st, 3, d->now);
	rc = cx_stmt_run(st, err);
	memcpy(d->sweep_after, end, KEY_BYTES);
	d->sweep_len = KEY_BYTES;
	return rc;
}

static int count(cx_dedupe *d, const char *result, int64_t n, cx_err *err)
{
	char *labels = cx_metrics_labels("result", result, NULL);
	int rc = cx_metrics_add(d->store, "cx_dedupe_lines_total", labels, n, err);

	free(labels);
	return rc;
}

int cx_dedupe_end(cx_dedupe *d, const cx_dedupe_counts *batch, cx_err *err)
{
	/* A --commit run forwards what a --claim run already counted. */
	const char *fwd = d->mode == CX_DEDUPE_COMMIT ? "committed" : "forwarded";

	if (purge_slice(d, err) < 0 ||
	    count(d, fwd, batch->forwarded, err) < 0 ||
	    count(d, "dropped", batch->dropped, err) < 0 ||
	    count(d, "unkeyed", batch->unkeyed, err) < 0) {
		cx_store_rollback(d->store);
		return -1;
	}
	return cx_store_commit(d->store, err);
}
