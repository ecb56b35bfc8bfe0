/* s3uploads.c: the s3_uploads table (s3uploads.h). */
#include <stdlib.h>

#include "clock.h"
#include "s3uploads.h"

static const char sql_find[] =
    "SELECT upload_id, part_size FROM s3_uploads WHERE endpoint = ?1 AND bucket = ?2"
    " AND object_key = ?3 AND tenant = ?4 AND sha256 = ?5";

/* Binds ?1 to ?5 to u's endpoint, bucket, key, tenant and sha256 (NULL
 * when u has none). */
static void bind_object(cx_stmt *st, const cx_s3_upload_of *u)
{
	cx_stmt_text(st, 1, u->endpoint);
	cx_stmt_text(st, 2, u->bucket);
	cx_stmt_text(st, 3, u->key);
	cx_stmt_text(st, 4, u->tenant);
	cx_stmt_text(st, 5, u->sha256);
}

int cx_s3_uploads_find(cx_store *s, const cx_s3_upload_of *u, char **upload_id,
    int64_t *part_size, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_find, err);
	int rc;

	*upload_id = NULL;
	*part_size = 0;
	if (!st)
		return -1;
	bind_object(st, u);
	if ((rc = cx_stmt_step(st, err)) == 1) {
		*upload_id = cx_stmt_col_dup(st, 0);
		*part_size = cx_stmt_col_int(st, 1);
	}
	cx_stmt_reset(st);
	return rc;
}

static const char sql_record[] =
    "INSERT INTO s3_uploads (endpoint, bucket, object_key, sha256, size, part_size,"
    " upload_id, tenant, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    " ON CONFLICT (endpoint, bucket, object_key, sha256) DO UPDATE SET"
    " size = excluded.size, part_size = excluded.part_size, upload_id = excluded.upload_id,"
    " tenant = excluded.tenant, created_at = excluded.created_at";

int cx_s3_uploads_record(cx_store *s, const cx_s3_upload_of *u, const char *upload_id,
    cx_err *err)
{
	cx_stmt *st;

	if (cx_store_begin(s, err) < 0)
		return -1;
	if (!(st = cx_store_prepare(s, sql_record, err)))
		goto fail;
	cx_stmt_text(st, 1, u->endpoint);
	cx_stmt_text(st, 2, u->bucket);
	cx_stmt_text(st, 3, u->key);
	cx_stmt_text(st, 4, u->sha256);
	cx_stmt_int(st, 5, u->size);
	cx_stmt_int(st, 6, u->part_size);
	cx_stmt_text(st, 7, upload_id);
	cx_stmt_text(st, 8, u->tenant);
	cx_stmt_int(st, 9, cx_clock_now());
	if (cx_stmt_run(st, err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	return 0;
fail:
	cx_store_rollback(s);
	return -1;
}

static const char sql_forget[] = "DELETE FROM s3_uploads WHERE upload_id = ?1";

int cx_s3_uploads_forget(cx_store *s, const char *upload_id, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_forget, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, upload_id);
	return cx_stmt_run(st, err);
}

static const char sql_of_object[] =
    "SELECT upload_id FROM s3_uploads WHERE endpoint = ?1 AND bucket = ?2"
    " AND object_key = ?3 AND tenant = ?4 AND (?5 IS NULL OR sha256 = ?5)"
    " ORDER BY created_at LIMIT 4";

int cx_s3_uploads_of_object(cx_store *s, const cx_s3_upload_of *u, jv *out, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_of_object, err);
	int rc;

	*out = jv_array();
	if (!st)
		return -1;
	bind_object(st, u);
	while ((rc = cx_stmt_step(st, err)) == 1)
		*out = jv_array_append(*out, jv_string(cx_stmt_col_text(st, 0)));
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}
