/* watch.c: the watch_channels table of migration 006 and its audit rows. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "crypto.h"
#include "url.h"
#include "watch.h"
#include "xalloc.h"

#define ROW_COLUMNS "channel_id, workspace, calendar_id, resource_id, address," \
	" expiration, ttl, status, replaced_by, created_at, stopped_at"

static jv row_of(cx_stmt *st)
{
	static const char *names[] = { "channel_id", "workspace", "calendar_id",
		"resource_id", "address", "expiration", "ttl", "status", "replaced_by",
		"created_at", "stopped_at" };
	jv o = jv_object();

	for (int i = 0; i < 11; i++) {
		jv v;

		if (i == 5 || i == 9 || i == 10)
			v = cx_stmt_col_time(st, i);
		else if (i == 6)
			v = cx_stmt_col_is_null(st, i) ? jv_null() :
			    jv_number((double)cx_stmt_col_int(st, i));
		else
			v = cx_stmt_col_jv(st, i);
		o = jv_object_set(o, jv_string(names[i]), v);
	}
	return o;
}

static int audit(cx_store *s, const char *action, const char *channel_id, jv detail,
    cx_err *err)
{
	cx_audit_entry e = { action, NULL, NULL, channel_id, detail };

	return cx_audit_append(s, &e, err);
}

static const char sql_insert[] =
    "INSERT INTO watch_channels (channel_id, workspace, calendar_id, resource_id,"
    " resource_uri, token_hash, address, expiration, ttl, status, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10, 'active', ?9)";
static const char sql_replace[] =
    "UPDATE watch_channels SET status = 'renewed', replaced_by = ?2"
    " WHERE channel_id = ?1 AND status = 'active'";

int cx_watch_add(cx_store *s, const cx_watch_channel *c, const char *replaces,
    cx_err *err)
{
	char hash[2 * CX_SHA256_LEN + 1], when[CX_RFC3339_LEN];
	char *address = cx_url_for_log(c->address);
	cx_stmt *st;
	jv detail;

	cx_crypto_sha256_hex(c->token, strlen(c->token), hash);
	if (cx_store_begin(s, err) < 0) {
		free(address);
		return -1;
	}
	if (!(st = cx_store_prepare(s, sql_insert, err)))
		goto fail;
	cx_stmt_text(st, 1, c->channel_id);
	cx_stmt_text(st, 2, c->workspace);
	cx_stmt_text(st, 3, c->calendar_id);
	cx_stmt_text(st, 4, c->resource_id);
	cx_stmt_text(st, 5, c->resource_uri);
	cx_stmt_text(st, 6, hash);
	cx_stmt_text(st, 7, c->address);
	cx_stmt_int(st, 8, c->expiration);
	cx_stmt_int(st, 9, cx_clock_now());
	if (c->ttl > 0)
		cx_stmt_int(st, 10, c->ttl);
	else
		cx_stmt_null(st, 10);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	cx_clock_rfc3339(c->expiration, -1, when);
	detail = jv_object_set(jv_object(), jv_string("workspace"), jv_string(c->workspace));
	detail = jv_object_set(detail, jv_string("calendar_id"), jv_string(c->calendar_id));
	detail = jv_object_set(detail, jv_string("resource_id"), jv_string(c->resource_id));
	detail = jv_object_set(detail, jv_string("address"), jv_string(address));
	detail = jv_object_set(detail, jv_string("expiration"), jv_string(when));
	if (replaces) {
		if (!(st = cx_store_prepare(s, sql_replace, err))) {
			jv_free(detail);
			goto fail;
		}
		cx_stmt_text(st, 1, replaces);
		cx_stmt_text(st, 2, c->channel_id);
		if (cx_stmt_run(st, err) < 0) {
			jv_free(detail);
			goto fail;
		}
		detail = jv_object_set(detail, jv_string("replaces"), jv_string(replaces));
	}
	if (audit(s, replaces ? "watch_renewed" : "watch_started", c->channel_id, detail,
	    err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	free(address);
	return 0;
fail:
	cx_store_rollback(s);
	free(address);
	return -1;
}

static const char sql_stop[] =
    "UPDATE watch_channels SET status = 'stopped', stopped_at = ?2"
    " WHERE channel_id = ?1 AND status <> 'stopped'";

int cx_watch_stop(cx_store *s, const char *channel_id, cx_err *err)
{
	cx_stmt *st;
	int changed;

	if (cx_store_begin(s, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(s, sql_stop, err)))
		goto fail;
	cx_stmt_text(st, 1, channel_id);
	cx_stmt_int(st, 2, cx_clock_now());
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	changed = cx_store_changes(s) > 0;
	if (changed && audit(s, "watch_stopped", channel_id, jv_object(), err) < 0)
		goto fail;
	if (cx_store_commit(s, err) < 0)
		return -1;
	return changed;
fail:
	cx_store_rollback(s);
	return -1;
}

static const char sql_get[] =
    "SELECT " ROW_COLUMNS " FROM watch_channels WHERE channel_id = ?1";

int cx_watch_get(cx_store *s, const char *channel_id, jv *row, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_get, err);
	int rc;

	*row = jv_null();
	if (!st)
		return -1;
	cx_stmt_text(st, 1, channel_id);
	rc = cx_stmt_step(st, err);
	if (rc == 1) {
		*row = row_of(st);
		cx_stmt_reset(st);
	}
	return rc;
}

static const char sql_list[] =
    "SELECT " ROW_COLUMNS " FROM watch_channels"
    " WHERE (?1 IS NULL OR workspace = ?1) AND (?2 OR status = 'active')"
    " AND (?3 < 0 OR (status = 'active' AND expiration <= ?3))"
    " ORDER BY expiration, channel_id";

int cx_watch_list(cx_store *s, const char *workspace, int all,
    int64_t expiring_by, void (*each)(jv row, void *ctx), void *ctx,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_list, err);
	jv rows = jv_array();
	int rc;

	if (!st) {
		jv_free(rows);
		return -1;
	}
	cx_stmt_text(st, 1, workspace);
	cx_stmt_int(st, 2, all != 0);
	cx_stmt_int(st, 3, expiring_by);
	/* collected first, so each() may change channels */
	while ((rc = cx_stmt_step(st, err)) == 1)
		rows = jv_array_append(rows, row_of(st));
	if (rc == 0) {
		jv_array_foreach(rows, i, row) {
			each(row, ctx);
			(void)i;
		}
	}
	jv_free(rows);
	return rc;
}

static const char sql_verify[] =
    "SELECT resource_id, token_hash, calendar_id, status, expiration"
    " FROM watch_channels WHERE channel_id = ?1";

int cx_watch_verify(cx_store *s, const char *channel_id, const char *resource_id,
    const char *token, char **calendar_id, cx_err *err)
{
	cx_stmt *st;
	char hash[2 * CX_SHA256_LEN + 1];
	const char *want_resource, *want_hash;
	int rc, ok;

	if (calendar_id)
		*calendar_id = NULL;
	if (!channel_id || !resource_id || !token)
		return 0;
	if (!(st = cx_store_prepare(s, sql_verify, err)))
		return -1;
	cx_stmt_text(st, 1, channel_id);
	rc = cx_stmt_step(st, err);
	if (rc <= 0)
		return rc;
	cx_crypto_sha256_hex(token, strlen(token), hash);
	want_resource = cx_stmt_col_text(st, 0);
	want_hash = cx_stmt_col_text(st, 1);
	/* both compared whatever the first gives, in constant time */
	ok = cx_crypto_equal(hash, strlen(hash), want_hash, strlen(want_hash));
	ok &= cx_crypto_equal(resource_id, strlen(resource_id), want_resource,
	    strlen(want_resource));
	ok &= strcmp(cx_stmt_col_text(st, 3), "active") == 0;
	ok &= cx_stmt_col_int(st, 4) > cx_clock_now();
	if (ok && calendar_id)
		*calendar_id = cx_xstrdup(cx_stmt_col_text(st, 2));
	cx_stmt_reset(st);
	return ok;
}
