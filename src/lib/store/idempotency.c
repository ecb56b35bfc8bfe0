/* idempotency.c: the action_idempotency and action_daily tables. */
#include <stdlib.h>
#include <string.h>

#include "idempotency.h"
#include "xalloc.h"

static const char sql_find[] =
    "SELECT request_sha256, status, response FROM action_idempotency"
    " WHERE integration_id = ?1 AND key = ?2 AND created_at >= ?3";
static const char sql_record[] =
    "INSERT OR REPLACE INTO action_idempotency (integration_id, key,"
    " request_sha256, status, response, action_id, inbox_id, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
/* A few at a time, so no call pays for a long backlog. */
static const char sql_prune[] =
    "DELETE FROM action_idempotency WHERE (integration_id, key) IN"
    " (SELECT integration_id, key FROM action_idempotency WHERE created_at < ?1"
    " ORDER BY created_at LIMIT 16)";
static const char sql_daily_get[] =
    "SELECT calls FROM action_daily WHERE tenant = ?1 AND day = ?2";
static const char sql_daily_add[] =
    "INSERT INTO action_daily (tenant, day, calls) VALUES (?1, ?2, 1)"
    " ON CONFLICT (tenant, day) DO UPDATE SET calls = calls + 1";

int cx_idempotency_find_in(cx_store *s, const char *integration_id,
    const char *key, int64_t since, unsigned char request_sha256[CX_SHA256_LEN],
    int *status, char **response, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_find, err);
	const void *sha;
	size_t len = 0;
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, integration_id);
	cx_stmt_text(st, 2, key);
	cx_stmt_int(st, 3, since);
	if ((rc = cx_stmt_step(st, err)) < 1)
		return rc;
	sha = cx_stmt_col_blob(st, 0, &len);
	memset(request_sha256, 0, CX_SHA256_LEN);
	if (sha && len == CX_SHA256_LEN)
		memcpy(request_sha256, sha, CX_SHA256_LEN);
	*status = (int)cx_stmt_col_int(st, 1);
	*response = cx_stmt_col_dup(st, 2);
	cx_stmt_reset(st);
	return 1;
}

int cx_idempotency_record_in(cx_store *s, const char *integration_id,
    const char *key, const unsigned char request_sha256[CX_SHA256_LEN],
    int status, const char *response, const char *action_id, int64_t inbox_id,
    int64_t now, int64_t before, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_record, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, integration_id);
	cx_stmt_text(st, 2, key);
	cx_stmt_blob(st, 3, request_sha256, CX_SHA256_LEN);
	cx_stmt_int(st, 4, status);
	cx_stmt_text(st, 5, response);
	cx_stmt_text(st, 6, action_id);
	cx_stmt_int(st, 7, inbox_id);
	cx_stmt_int(st, 8, now);
	if (cx_stmt_run(st, err) < 0 || !(st = cx_store_prepare(s, sql_prune, err)))
		return -1;
	cx_stmt_int(st, 1, before);
	return cx_stmt_run(st, err);
}

int cx_idempotency_daily_calls_in(cx_store *s, const char *tenant, int64_t day,
    int64_t *calls, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_daily_get, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_int(st, 2, day);
	if ((rc = cx_stmt_step(st, err)) < 0)
		return -1;
	*calls = rc == 1 ? cx_stmt_col_int(st, 0) : 0;
	cx_stmt_reset(st);
	return 0;
}

int cx_idempotency_daily_count_in(cx_store *s, const char *tenant, int64_t day,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_daily_add, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_int(st, 2, day);
	return cx_stmt_run(st, err);
}
