/* audit.c: appending to, reading and pruning the audit table. */
#include <stdlib.h>

#include "audit.h"
#include "clock.h"
#include "identity.h"
#include "json.h"

static const char sql_append[] =
    "INSERT INTO audit (ts, ts_epoch, actor, action, correlation_id, subject,"
    " detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

int cx_audit_append(cx_store *s, cx_audit_entry *e, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_append, err);
	int64_t now = cx_clock_now();
	char ts[CX_RFC3339_LEN];
	jv detail = e->detail;
	char *json;
	int rc;

	e->detail = jv_null();
	if (!st) {
		jv_free(detail);
		return -1;
	}
	if (jv_get_kind(detail) != JV_KIND_OBJECT) {
		jv_free(detail);
		detail = jv_object();
	}
	json = cx_json_dump(detail);
	cx_clock_rfc3339(now, -1, ts);
	cx_stmt_text(st, 1, ts);
	cx_stmt_int(st, 2, now);
	cx_stmt_text(st, 3, e->actor ? e->actor : cx_identity_user());
	cx_stmt_text(st, 4, e->action);
	cx_stmt_text(st, 5, e->correlation_id);
	cx_stmt_text(st, 6, e->subject);
	cx_stmt_text(st, 7, json);
	rc = cx_stmt_run(st, err);
	free(json);
	return rc;
}

static const char sql_query[] =
    "SELECT id, ts, actor, action, correlation_id, subject, detail FROM audit"
    " WHERE (?1 IS NULL OR correlation_id = ?1) AND (?2 < 0 OR ts_epoch >= ?2)"
    " ORDER BY id";

int cx_audit_query(cx_store *s, const char *correlation_id, int64_t since,
    void (*each)(jv row, void *ctx), void *ctx, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_query, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, correlation_id);
	cx_stmt_int(st, 2, since);
	while ((rc = cx_stmt_step(st, err)) == 1) {
		jv row = jv_object();
		const char *detail = cx_stmt_col_text(st, 6);
		jv d = jv_parse(detail ? detail : "{}");

		row = jv_object_set(row, jv_string("id"),
		    jv_number((double)cx_stmt_col_int(st, 0)));
		row = jv_object_set(row, jv_string("ts"), cx_stmt_col_jv(st, 1));
		row = jv_object_set(row, jv_string("actor"), cx_stmt_col_jv(st, 2));
		row = jv_object_set(row, jv_string("action"), cx_stmt_col_jv(st, 3));
		row = jv_object_set(row, jv_string("correlation_id"), cx_stmt_col_jv(st, 4));
		row = jv_object_set(row, jv_string("subject"), cx_stmt_col_jv(st, 5));
		row = jv_object_set(row, jv_string("detail"),
		    jv_is_valid(d) ? d : (jv_free(d), jv_object()));
		each(row, ctx);
	}
	cx_stmt_reset(st);
	return rc;
}

static const char sql_gate_open[] = "UPDATE audit_prune_gate SET open = 1";
static const char sql_gate_close[] = "UPDATE audit_prune_gate SET open = 0";
static const char sql_prune[] = "DELETE FROM audit WHERE ts_epoch < ?1";

int cx_audit_prune(cx_store *s, int64_t before, int64_t *deleted, cx_err *err)
{
	cx_stmt *st;
	cx_audit_entry e = { .action = "audit_pruned", .detail = jv_object() };

	if (cx_store_begin(s, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(s, sql_gate_open, err)) || cx_stmt_run(st, err) < 0 ||
	    !(st = cx_store_prepare(s, sql_prune, err)))
		goto fail;
	cx_stmt_int(st, 1, before);
	if (cx_stmt_run(st, err) < 0)
		goto fail;
	*deleted = cx_store_changes(s);
	if (!(st = cx_store_prepare(s, sql_gate_close, err)) || cx_stmt_run(st, err) < 0)
		goto fail;
	e.detail = jv_object_set(e.detail, jv_string("deleted"), jv_number((double)*deleted));
	e.detail = jv_object_set(e.detail, jv_string("before"), jv_number((double)before));
	if (cx_audit_append(s, &e, err) < 0)
		goto fail;
	return cx_store_commit(s, err);
fail:
	jv_free(e.detail);
	cx_store_rollback(s);
	return -1;
}
