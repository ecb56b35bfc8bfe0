/* clock.c: CX_NOW-aware clock and RFC 3339 formatting/parsing. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

static int now_override(int64_t *secs)
{
	const char *s = getenv("CX_NOW");
	char *end;
	long long v;

	if (!s || !*s)
		return 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return 0;
	*secs = v;
	return 1;
}

int64_t cx_clock_now(void)
{
	int64_t s;

	if (now_override(&s))
		return s;
	return (int64_t)time(NULL);
}

int64_t cx_clock_now_ms(void)
{
	struct timespec ts;
	int64_t s;

	if (now_override(&s))
		return s * 1000;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cx_clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cx_clock_rfc3339(int64_t secs, int ms, char buf[CX_RFC3339_LEN])
{
	time_t t = (time_t)secs;
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(buf, CX_RFC3339_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	if (ms >= 0)
		snprintf(buf + n, CX_RFC3339_LEN - n, ".%03dZ", ms % 1000);
	else
		snprintf(buf + n, CX_RFC3339_LEN - n, "Z");
}

int cx_clock_parse_rfc3339(const char *s, int64_t *secs)
{
	struct tm tm;
	const char *p;
	int64_t off = 0;

	memset(&tm, 0, sizeof tm);
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && p[3] == ':' &&
	    isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		    ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '+')
			off = -off;
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	*secs = (int64_t)timegm(&tm) + off;
	return 0;
}
