/* breaker.c: the breakers table. */
#include "breaker.h"
#include "clock.h"

static const char sql_get[] =
    "SELECT failures, open_until FROM breakers WHERE key = ?1";
static const char sql_clear[] = "DELETE FROM breakers WHERE key = ?1";
static const char sql_put[] =
    "INSERT INTO breakers (key, failures, open_until, updated_at) VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,"
    " open_until = excluded.open_until, updated_at = excluded.updated_at";

static int read_state(cx_store *s, const char *key, int64_t *failures,
    int64_t *open_until, cx_err *err)
{
	cx_stmt *st = cx_store_prepare(s, sql_get, err);
	int rc;

	*failures = 0;
	*open_until = 0;
	if (!st)
		return -1;
	cx_stmt_text(st, 1, key);
	if ((rc = cx_stmt_step(st, err)) == 1) {
		*failures = cx_stmt_col_int(st, 0);
		*open_until = cx_stmt_col_int(st, 1);
	}
	cx_stmt_reset(st);
	return rc < 0 ? -1 : 0;
}

int cx_breaker_state(cx_store *s, const char *key, int64_t *failures,
    int64_t *open_until, cx_err *err)
{
	if (read_state(s, key, failures, open_until, err) < 0)
		return -1;
	if (*open_until <= cx_clock_now())
		*open_until = 0;
	return 0;
}

int cx_breaker_record(cx_store *s, const char *key, const cx_breaker *b, int ok,
    int64_t *open_until, cx_err *err)
{
	int64_t failures, until, now = cx_clock_now();
	cx_stmt *st;

	if (open_until)
		*open_until = 0;
	if (cx_store_begin(s, err) < 0)
		return -1;
	if (read_state(s, key, &failures, &until, err) < 0)
		goto fail;
	if (ok) {
		if (failures == 0 && until == 0)
			return cx_store_commit(s, err);
		if (!(st = cx_store_prepare(s, sql_clear, err)))
			goto fail;
		cx_stmt_text(st, 1, key);
		if (cx_stmt_run(st, err) < 0)
			goto fail;
		return cx_store_commit(s, err);
	}
	failures++;
	/* a failed probe (after a cooldown) reopens at once */
	if (failures >= (b->threshold > 0 ? b->threshold : 1))
		until = now + (b->cooldown > 0 ? b->cooldown : 1);
	if (!(st = cx_store_prepare(s, sql_put, err)))
		goto fail;
	cx_stmt_text(st, 1, key);
	cx_stmt_int(st, 2, failures);
	cx_stmt_int(st, 3, until);
	cx_stmt_int(st, 4, now);
	if (cx_stmt_run(st, err) < 0 || cx_store_commit(s, err) < 0)
		goto fail;
	if (open_until && until > now)
		*open_until = until;
	return 0;
fail:
	cx_store_rollback(s);
	return -1;
}
