/* deliveries.c: tracked package deliveries and their statuses
 * (deliveries.h; deliveries and delivery_status of migration 009). */
#include <string.h>

#include "clock.h"
#include "deliveries.h"

static const char sql_add[] =
    "INSERT INTO deliveries (target, tenant, file, sha256, size, protocol_id, status,"
    " raw_status, final, correlation_id, outbound, created_at, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)"
    " ON CONFLICT (target, protocol_id) DO NOTHING";
static const char sql_status_add[] =
    "INSERT INTO delivery_status (delivery_id, status, raw_status, at) VALUES (?1, ?2, ?3, ?4)";

static int status_add(cx_store *s, int64_t id, const char *status, const char *raw,
    int64_t now, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_status_add, err);

	if (!st)
		return -1;
	cx_stmt_int(st, 1, id);
	cx_stmt_text(st, 2, status);
	cx_stmt_text(st, 3, raw);
	cx_stmt_int(st, 4, now);
	return cx_stmt_run(st, err);
}

int cx_deliveries_add(cx_store *s, const cx_delivery_new *d, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_add, err);
	int64_t now = cx_clock_now();

	if (!st)
		return -1;
	cx_stmt_text(st, 1, d->target);
	cx_stmt_text(st, 2, d->tenant);
	cx_stmt_text(st, 3, d->file);
	cx_stmt_text(st, 4, d->sha256);
	cx_stmt_int(st, 5, d->size);
	cx_stmt_text(st, 6, d->protocol_id);
	cx_stmt_text(st, 7, d->status);
	cx_stmt_text(st, 8, d->raw_status);
	cx_stmt_int(st, 9, d->final != 0);
	cx_stmt_text(st, 10, d->correlation_id);
	cx_stmt_text(st, 11, d->outbound);
	cx_stmt_int(st, 12, now);
	if (cx_stmt_run(st, err) < 0)
		return -1;
	if (cx_store_changes(s) == 0)
		return 0;
	return status_add(s, cx_store_last_id(s), d->status, d->raw_status, now, err);
}

/* The rows of st (bound), each made by row(), into *out. */
static int collect(cx_stmt *st, jv (*row)(cx_stmt *st), jv *out, cx_err *err)
{
	int rc;

	*out = jv_array();
	while ((rc = cx_stmt_step(st, err)) == 1)
		*out = jv_array_append(*out, row(st));
	if (rc < 0) {
		jv_free(*out);
		*out = jv_invalid();
	}
	return rc;
}

static jv target_row(cx_stmt *st)
{
	return cx_stmt_col_jv(st, 0);
}

static const char sql_targets[] =
    "SELECT DISTINCT target FROM deliveries WHERE ?1 IS NULL OR target = ?1 ORDER BY target";

int cx_deliveries_targets(cx_store *s, const char *only, jv *out, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_targets, err);

	*out = jv_invalid();
	if (!st)
		return -1;
	cx_stmt_text(st, 1, only);
	return collect(st, target_row, out, err);
}

/* The columns of st as o's members, named by names (NULL-terminated):
 * the first ints are integers, the others strings (or null). */
static jv columns(cx_stmt *st, jv o, const char *const *names, int ints)
{
	for (int i = 0; names[i]; i++)
		o = jv_object_set(o, jv_string(names[i]), i < ints ?
		    jv_number((double)cx_stmt_col_int(st, i)) : cx_stmt_col_jv(st, i));
	return o;
}

static const char *const open_names[] = { "id", "target", "tenant", "sha256",
	"protocol_id", "status", "raw_status", "correlation_id", NULL };

static jv open_row(cx_stmt *st)
{
	return columns(st, jv_object(), open_names, 1);
}

static const char sql_open[] =
    "SELECT id, target, tenant, sha256, protocol_id, status, raw_status, correlation_id"
    " FROM deliveries WHERE final = 0 AND target = ?1 AND id > ?2 ORDER BY id LIMIT ?3";

int cx_deliveries_open(cx_store *s, const char *target, int64_t after, int64_t max,
    jv *out, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_open, err);

	*out = jv_invalid();
	if (!st)
		return -1;
	cx_stmt_text(st, 1, target);
	cx_stmt_int(st, 2, after);
	cx_stmt_int(st, 3, max);
	return collect(st, open_row, out, err);
}

static const char sql_change[] =
    "UPDATE deliveries SET status = ?2, raw_status = ?3, final = ?4, updated_at = ?5,"
    " polled_at = ?5 WHERE id = ?1";

int cx_deliveries_change(cx_store *s, int64_t id, const char *status,
    const char *raw_status, int final, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_change, err);
	int64_t now = cx_clock_now();

	if (!st)
		return -1;
	cx_stmt_int(st, 1, id);
	cx_stmt_text(st, 2, status);
	cx_stmt_text(st, 3, raw_status);
	cx_stmt_int(st, 4, final != 0);
	cx_stmt_int(st, 5, now);
	if (cx_stmt_run(st, err) < 0)
		return -1;
	return status_add(s, id, status, raw_status, now, err);
}

static const char sql_polled[] = "UPDATE deliveries SET polled_at = ?2 WHERE id = ?1";

int cx_deliveries_polled(cx_store *s, int64_t id, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_polled, err);

	if (!st)
		return -1;
	cx_stmt_int(st, 1, id);
	cx_stmt_int(st, 2, cx_clock_now());
	return cx_stmt_run(st, err);
}

static const char *const status_names[] = { "seq", "delivery_id", "at", "target",
	"tenant", "protocol_id", "sha256", "status", "raw_status", "correlation_id", NULL };

static jv status_row(cx_stmt *st)
{
	return columns(st, jv_object(), status_names, 3);
}

static const char sql_statuses[] =
    "SELECT ds.rowid, d.id, ds.at, d.target, d.tenant, d.protocol_id, d.sha256, ds.status,"
    " ds.raw_status, d.correlation_id FROM delivery_status ds"
    " JOIN deliveries d ON d.id = ds.delivery_id"
    " WHERE d.target = ?1 AND ds.rowid > ?2 ORDER BY ds.rowid LIMIT ?3";

int cx_deliveries_statuses(cx_store *s, const char *target, int64_t after,
    int64_t max, jv *out, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_statuses, err);

	*out = jv_invalid();
	if (!st)
		return -1;
	cx_stmt_text(st, 1, target);
	cx_stmt_int(st, 2, after);
	cx_stmt_int(st, 3, max);
	return collect(st, status_row, out, err);
}
