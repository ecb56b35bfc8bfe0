/* sheetrows.c: the sheet_rows table (migration 009) and the count of the
 * sheets rows that wait. */
#include <stdlib.h>

#include "clock.h"
#include "sheetrows.h"

static const char sql_find[] =
    "SELECT updated_range FROM sheet_rows WHERE spreadsheet_id = ?1"
    " AND sheet_range = ?2 AND row_key = ?3";

int cx_sheet_rows_find(cx_store *s, const char *spreadsheet, const char *range,
    const char *row_key, char **updated_range, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_find, err);
	int rc;

	*updated_range = NULL;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, spreadsheet);
	cx_stmt_text(st, 2, range);
	cx_stmt_text(st, 3, row_key);
	if ((rc = cx_stmt_step(st, err)) == 1 && !cx_stmt_col_is_null(st, 0))
		*updated_range = cx_stmt_col_dup(st, 0);
	cx_stmt_reset(st);
	return rc;
}

static const char sql_record[] =
    "INSERT INTO sheet_rows (spreadsheet_id, sheet_range, row_key, tenant,"
    " updated_range, appended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT DO NOTHING";

int cx_sheet_rows_record(cx_store *s, const char *spreadsheet, const char *range,
    const char *row_key, const char *tenant, const char *updated_range, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_record, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, spreadsheet);
	cx_stmt_text(st, 2, range);
	cx_stmt_text(st, 3, row_key);
	cx_stmt_text(st, 4, tenant);
	cx_stmt_text(st, 5, updated_range);
	cx_stmt_int(st, 6, cx_clock_now());
	return cx_stmt_run(st, err);
}

static const char sql_known[] =
    "SELECT 2 FROM sheet_rows WHERE spreadsheet_id = ?1 AND sheet_range = ?2"
    " AND row_key = ?3"
    " UNION ALL SELECT 1 FROM publish_commands WHERE channel = 'sheets'"
    " AND workspace = ?4 AND idempotency_key = ?5"
    " ORDER BY 1 DESC LIMIT 1";

int cx_sheet_rows_known(cx_store *s, const char *spreadsheet, const char *range,
    const char *row_key, const char *workspace, const char *key, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_known, err);
	int rc, known = 0;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, spreadsheet);
	cx_stmt_text(st, 2, range);
	cx_stmt_text(st, 3, row_key);
	cx_stmt_text(st, 4, workspace);
	cx_stmt_text(st, 5, key);
	if ((rc = cx_stmt_step(st, err)) == 1)
		known = (int)cx_stmt_col_int(st, 0);
	cx_stmt_reset(st);
	return rc < 0 ? -1 : known;
}

static const char sql_pending[] =
    "SELECT (SELECT count(*) FROM publish_commands WHERE channel = 'sheets')"
    " + (SELECT count(*) FROM queue WHERE channel = 'sheets'),"
    " (SELECT count(*) FROM publish_commands WHERE channel = 'sheets'"
    "  AND state IN ('approved', 'publishing', 'unknown'))"
    " + (SELECT count(*) FROM queue WHERE channel = 'sheets'"
    "  AND state IN ('pending', 'approved', 'publishing', 'unknown'))";

int cx_sheet_rows_write_gauge(cx_store *s, FILE *out, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_pending, err);
	int rc;

	if (!st)
		return -1;
	if ((rc = cx_stmt_step(st, err)) == 1 && cx_stmt_col_int(st, 0) > 0)
		fprintf(out, "# TYPE cx_sheets_pending_rows gauge\ncx_sheets_pending_rows %lld\n",
		    (long long)cx_stmt_col_int(st, 1));
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}
