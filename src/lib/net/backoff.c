/* backoff.c: retry times from attempt counts and provider hints. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "crypto.h"

/* A non-negative decimal integer that is the whole of s (spaces around
 * allowed); -1 otherwise. */
static int64_t whole_number(const char *s)
{
	char *end;
	long long v;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtoll(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	return *end ? -1 : (int64_t)v;
}

/* An HTTP date (RFC 9110 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT") as
 * epoch seconds; -1 when it is not one. */
static int64_t http_date(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	return (int64_t)timegm(&tm);
}

int64_t cx_backoff_hint(const char *retry_after, const char *rate_reset, int64_t now)
{
	int64_t at = 0, v;

	if (retry_after && *retry_after) {
		if ((v = whole_number(retry_after)) >= 0)
			at = now + v;
		else if ((v = http_date(retry_after)) >= 0)
			at = v;
	}
	if (rate_reset && (v = whole_number(rate_reset)) > 0 && v > at)
		at = v;
	if (at <= now)
		return 0;
	return at - now > CX_BACKOFF_HINT_MAX ? now + CX_BACKOFF_HINT_MAX : at;
}

int64_t cx_backoff_next(int64_t now, int64_t attempt, int64_t base, int64_t cap,
    int64_t hint)
{
	int64_t d = base > 0 ? base : 1;
	uint32_t r = 0;

	if (hint > now)
		return hint;
	for (int64_t i = 1; i < attempt && d < cap; i++)
		d *= 2;
	if (cap > 0 && d > cap)
		d = cap;
	if (cx_crypto_random(&r, sizeof r) < 0)
		r = (uint32_t)rand();
	d = d / 2 + (int64_t)(r % (uint32_t)(d / 2 + 1));
	return now + (d > 0 ? d : 1);
}
