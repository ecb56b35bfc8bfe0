/* sync.c: sync cursors, run leases and sync metrics (sync_cursors and
 * sync_leases of migration 006, counters in metrics). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "crypto.h"
#include "exit.h"
#include "metrics.h"
#include "sync.h"
#include "xalloc.h"

static const char sql_cursor_get[] =
    "SELECT cursor, mode, not_before FROM sync_cursors WHERE source = ?1 AND key = ?2";

int cx_sync_cursor_get(cx_store *s, const char *source, const char *key,
    cx_sync_cursor *c, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_cursor_get, err);
	int rc;

	memset(c, 0, sizeof *c);
	if (!st)
		return -1;
	cx_stmt_text(st, 1, source);
	cx_stmt_text(st, 2, key);
	rc = cx_stmt_step(st, err);
	if (rc == 1) {
		c->cursor = cx_stmt_col_dup(st, 0);
		c->mode = cx_stmt_col_dup(st, 1);
		c->not_before = cx_stmt_col_int(st, 2);
		cx_stmt_reset(st);
	}
	return rc;
}

void cx_sync_cursor_clear(cx_sync_cursor *c)
{
	free(c->cursor);
	free(c->mode);
	memset(c, 0, sizeof *c);
}

static const char sql_cursor_put[] =
    "INSERT INTO sync_cursors (source, key, cursor, mode, not_before, last_full_at,"
    " last_incremental_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?7,"
    " CASE WHEN ?5 THEN ?6 END, CASE WHEN ?5 THEN NULL ELSE ?6 END, ?6)"
    " ON CONFLICT (source, key) DO UPDATE SET cursor = excluded.cursor,"
    " mode = excluded.mode, not_before = excluded.not_before,"
    " updated_at = excluded.updated_at,"
    " last_full_at = CASE WHEN ?5 THEN ?6 ELSE last_full_at END,"
    " last_incremental_at = CASE WHEN ?5 THEN last_incremental_at ELSE ?6 END";

int cx_sync_cursor_put(cx_store *s, const char *source, const char *key,
    const char *cursor, const char *mode, int full, int64_t not_before,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_cursor_put, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, source);
	cx_stmt_text(st, 2, key);
	cx_stmt_text(st, 3, cursor);
	cx_stmt_text(st, 4, mode);
	cx_stmt_int(st, 5, full != 0);
	cx_stmt_int(st, 6, cx_clock_now());
	if (not_before > 0)
		cx_stmt_int(st, 7, not_before);
	else
		cx_stmt_null(st, 7);
	return cx_stmt_run(st, err);
}

/* ---- leases ------------------------------------------------------------ */

struct cx_sync_lease {
	cx_store *store;
	char *source, *key, *owner;
	int64_t ttl;
};

/* "host:pid:random": unique per run, and tells whether its process lives. */
static char *new_owner(void)
{
	char host[256] = "", hex[17];
	unsigned char rnd[8] = { 0 };

	if (gethostname(host, sizeof host - 1) < 0)
		strcpy(host, "?");
	host[sizeof host - 1] = '\0';
	for (char *p = host; *p; p++)
		if (*p == ':')
			*p = '_';
	cx_crypto_random(rnd, sizeof rnd);
	cx_crypto_hex(rnd, sizeof rnd, hex);
	return cx_xasprintf("%s:%ld:%s", host, (long)getpid(), hex);
}

/* Whether owner names a process on this host that is gone (kill -9, crash):
 * its lease need not be waited out. */
static int owner_dead(const char *owner)
{
	char host[256] = "";
	const char *colon = strchr(owner, ':');
	char *end;
	long pid;

	if (!colon || gethostname(host, sizeof host - 1) < 0)
		return 0;
	host[sizeof host - 1] = '\0';
	for (char *p = host; *p; p++)
		if (*p == ':')
			*p = '_';
	if (strlen(host) != (size_t)(colon - owner) ||
	    strncmp(host, owner, (size_t)(colon - owner)) != 0)
		return 0;
	errno = 0;
	pid = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end != ':' || pid <= 0)
		return 0;
	if (pid == (long)getpid())
		return 0;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static const char sql_lease_get[] =
    "SELECT owner, expires_at FROM sync_leases WHERE source = ?1 AND key = ?2";
static const char sql_lease_put[] =
    "INSERT INTO sync_leases (source, key, owner, expires_at) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (source, key) DO UPDATE SET owner = excluded.owner,"
    " expires_at = excluded.expires_at";

int cx_sync_lease_take(cx_store *s, const char *source, const char *key,
    int64_t ttl, cx_sync_lease **out, cx_err *err)
{
	cx_stmt *st;
	char *owner = new_owner();
	int64_t now = cx_clock_now();
	int rc, busy = 0;

	*out = NULL;
	if (cx_store_begin(s, err) < 0)
		goto fail;
	if (!(st = cx_store_prepare(s, sql_lease_get, err)))
		goto fail;
	cx_stmt_text(st, 1, source);
	cx_stmt_text(st, 2, key);
	rc = cx_stmt_step(st, err);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		busy = cx_stmt_col_int(st, 1) > now && !owner_dead(cx_stmt_col_text(st, 0));
		cx_stmt_reset(st);
	}
	if (busy) {
		cx_store_rollback(s);
		free(owner);
		return 0;
	}
	if (!(st = cx_store_prepare(s, sql_lease_put, err)))
		goto fail;
	cx_stmt_text(st, 1, source);
	cx_stmt_text(st, 2, key);
	cx_stmt_text(st, 3, owner);
	cx_stmt_int(st, 4, now + ttl);
	if (cx_stmt_run(st, err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	*out = cx_xcalloc(1, sizeof **out);
	**out = (cx_sync_lease){ s, cx_xstrdup(source), cx_xstrdup(key), owner, ttl };
	return 1;
fail:
	cx_store_rollback(s);
	free(owner);
	return -1;
}

static const char sql_lease_renew[] =
    "UPDATE sync_leases SET expires_at = ?4 WHERE source = ?1 AND key = ?2"
    " AND owner = ?3";

int cx_sync_lease_renew(cx_sync_lease *l, cx_err *err)
{
	cx_stmt *st;

	if (cx_store_begin(l->store, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(l->store, sql_lease_renew, err)))
		goto fail;
	cx_stmt_text(st, 1, l->source);
	cx_stmt_text(st, 2, l->key);
	cx_stmt_text(st, 3, l->owner);
	cx_stmt_int(st, 4, cx_clock_now() + l->ttl);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	if (cx_store_changes(l->store) != 1) {
		cx_err_set(err, CX_EXIT_TEMPFAIL,
		    "another run took over the sync of %s %s (its lease expired)",
		    l->source, l->key);
		goto fail;
	}
	return cx_store_commit(l->store, err);
fail:
	cx_store_rollback(l->store);
	return -1;
}

int cx_sync_lease_check(cx_sync_lease *l, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(l->store, sql_lease_get, err);
	int rc, mine = 0;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, l->source);
	cx_stmt_text(st, 2, l->key);
	rc = cx_stmt_step(st, err);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		mine = strcmp(cx_stmt_col_text(st, 0), l->owner) == 0;
		cx_stmt_reset(st);
	}
	if (!mine)
		return cx_err_set(err, CX_EXIT_TEMPFAIL,
		    "another run took over the sync of %s %s (its lease expired)",
		    l->source, l->key);
	return 0;
}

static const char sql_lease_drop[] =
    "DELETE FROM sync_leases WHERE source = ?1 AND key = ?2 AND owner = ?3";

void cx_sync_lease_release(cx_sync_lease *l)
{
	cx_stmt *st;
	cx_err err;

	if (!l)
		return;
	st = cx_store_prepare(l->store, sql_lease_drop, &err);
	if (st) {
		cx_stmt_text(st, 1, l->source);
		cx_stmt_text(st, 2, l->key);
		cx_stmt_text(st, 3, l->owner);
		cx_stmt_run(st, &err);
	}
	free(l->source);
	free(l->key);
	free(l->owner);
	free(l);
}

/* ---- metrics ----------------------------------------------------------- */

/* Upper bounds of the latency buckets, in milliseconds and as labels. */
static const struct {
	int64_t ms;
	const char *le;
} buckets[] = {
	{ 100, "0.1" }, { 250, "0.25" }, { 500, "0.5" }, { 1000, "1" },
	{ 2500, "2.5" }, { 5000, "5" }, { 10000, "10" }, { 30000, "30" },
	{ 60000, "60" }, { 120000, "120" }, { 300000, "300" }, { -1, "+Inf" },
};

static int add(cx_store *s, const char *name, char *labels, int64_t delta, cx_err *err)
{
	int rc = cx_metrics_add(s, name, labels, delta, err);

	free(labels);
	return rc;
}

int cx_sync_count_run(cx_store *s, const char *source, int full,
    int64_t created, int64_t updated, int64_t deleted, int64_t latency_ms,
    cx_err *err)
{
	const char *mode = full ? "full" : "incremental";

	if (add(s, "cx_sync_runs_total", cx_metrics_labels("source", source, "mode",
	    mode, NULL), 1, err) < 0 ||
	    add(s, "cx_sync_changes_total", cx_metrics_labels("source", source, "change",
	    "created", NULL), created, err) < 0 ||
	    add(s, "cx_sync_changes_total", cx_metrics_labels("source", source, "change",
	    "updated", NULL), updated, err) < 0 ||
	    add(s, "cx_sync_changes_total", cx_metrics_labels("source", source, "change",
	    "deleted", NULL), deleted, err) < 0)
		return -1;
	if (latency_ms < 0)
		latency_ms = 0;
	for (size_t i = 0; i < sizeof buckets / sizeof *buckets; i++)
		if ((buckets[i].ms < 0 || latency_ms <= buckets[i].ms) &&
		    add(s, "cx_sync_latency_seconds_bucket", cx_metrics_labels("source",
		    source, "le", buckets[i].le, NULL), 1, err) < 0)
			return -1;
	if (add(s, "cx_sync_latency_seconds_count", cx_metrics_labels("source", source,
	    NULL), 1, err) < 0)
		return -1;
	/* cx_metrics_add skips a zero delta; a sub-millisecond run adds nothing */
	return add(s, "cx_sync_latency_milliseconds_total", cx_metrics_labels("source",
	    source, NULL), latency_ms, err);
}

int cx_sync_count_error(cx_store *s, const char *source, const char *status,
    cx_err *err)
{
	if (cx_store_begin(s, err) < 0)
		return -1;
	if (add(s, "cx_sync_errors_total", cx_metrics_labels("source", source, "status",
	    status, NULL), 1, err) < 0) {
		cx_store_rollback(s);
		return -1;
	}
	return cx_store_commit(s, err);
}
