/* channelfailures.c: failed items in a row per tenant and delivery channel. */
#include "channelfailures.h"
#include "clock.h"

static const char sql_add[] =
    "INSERT INTO channel_failures (tenant, channel, failures, last_error_code, updated_at)"
    " VALUES (?1, ?2, 1, ?3, ?4) ON CONFLICT (tenant, channel) DO UPDATE SET"
    " failures = failures + 1, last_error_code = ?3, updated_at = ?4"
    " RETURNING failures";
static const char sql_reset[] =
    "UPDATE channel_failures SET failures = 0, updated_at = ?3"
    " WHERE tenant = ?1 AND channel = ?2 AND failures > 0";

int cx_channel_failures_add(cx_store *s, const char *tenant, const char *channel,
    const char *error_code, int64_t *streak, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_add, err);
	int rc;

	if (!st)
		return -1;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_text(st, 2, channel);
	cx_stmt_text(st, 3, error_code);
	cx_stmt_int(st, 4, cx_clock_now());
	if ((rc = cx_stmt_step(st, err)) < 0)
		return -1;
	*streak = rc > 0 ? cx_stmt_col_int(st, 0) : 0;
	cx_stmt_reset(st);
	return 0;
}

int cx_channel_failures_reset(cx_store *s, const char *tenant, const char *channel,
    cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_reset, err);

	if (!st)
		return -1;
	cx_stmt_text(st, 1, tenant);
	cx_stmt_text(st, 2, channel);
	cx_stmt_int(st, 3, cx_clock_now());
	return cx_stmt_run(st, err);
}
