/* ratelimit.c: the rate_buckets table. Tokens are kept in thousandths, so
 * slow rates (100 every 900 s) refill smoothly in integer arithmetic. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exit.h"
#include "ratelimit.h"

/* The ",burst=B" that may follow a rate: 0 with *burst (-1: none). */
static int parse_burst(const char *text, double *burst)
{
	char *end;

	*burst = -1;
	if (!*text)
		return 0;
	if (strncmp(text, ",burst=", 7) != 0)
		return -1;
	*burst = strtod(text + 7, &end);
	return end != text + 7 && !*end && *burst >= 1 && *burst <= 1e6 ? 0 : -1;
}

int cx_ratelimit_parse(const char *text, cx_ratelimit *out, cx_err *err)
{
	char *end;
	double n, per = 1, burst;

	n = strtod(text, &end);
	if (end != text && *end == '/') {
		const char *p = end + 1;

		per = strtod(p, &end);
		if (end == p)
			per = -1;
	}
	if (end == text || parse_burst(end, &burst) < 0 || !(n > 0) || !(per > 0) ||
	    !isfinite(n) || !isfinite(per) || n > 1e6)
		return cx_err_set(err, CX_EXIT_CONFIG, "'%s' is not a rate: N (a second) "
		    "or N/SECONDS, 0 < N <= 1000000, then optionally ,burst=B", text);
	out->rate = n / per;
	out->burst = burst >= 1 ? burst : n < 1 ? 1 : n;
	return 0;
}

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char sql_get[] =
    "SELECT millitokens, updated_ms FROM rate_buckets WHERE key = ?1";
static const char sql_put[] =
    "INSERT INTO rate_buckets (key, millitokens, updated_ms) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (key) DO UPDATE SET millitokens = excluded.millitokens,"
    " updated_ms = excluded.updated_ms";

int cx_ratelimit_take_in(cx_store *s, const char *key, const cx_ratelimit *limit,
    int want, int *granted, int64_t *wait_ms, cx_err *err)
{
	int64_t now = real_ms(), burst = (int64_t)llround(limit->burst * 1000);
	int64_t milli = burst, n;
	cx_stmt *st;
	int rc;

	*granted = 0;
	*wait_ms = 0;
	if (limit->rate <= 0 || want <= 0) {
		*granted = want > 0 ? want : 0;
		return 0;
	}
	if (!(st = cx_store_prepare(s, sql_get, err)))
		return -1;
	cx_stmt_text(st, 1, key);
	if ((rc = cx_stmt_step(st, err)) < 0)
		return -1;
	if (rc == 1) {
		int64_t then = cx_stmt_col_int(st, 1), dt = now > then ? now - then : 0;

		/* rate tokens a second = rate thousandths a millisecond */
		milli = cx_stmt_col_int(st, 0) + (int64_t)llround((double)dt * limit->rate);
		if (milli > burst)
			milli = burst;
	}
	cx_stmt_reset(st);
	n = milli / 1000;
	if (n > want)
		n = want;
	milli -= n * 1000;
	if (n == 0)
		*wait_ms = (int64_t)ceil((double)(1000 - milli) / limit->rate);
	if (!(st = cx_store_prepare(s, sql_put, err)))
		return -1;
	cx_stmt_text(st, 1, key);
	cx_stmt_int(st, 2, milli);
	cx_stmt_int(st, 3, now);
	if (cx_stmt_run(st, err) < 0)
		return -1;
	*granted = (int)n;
	return 0;
}
