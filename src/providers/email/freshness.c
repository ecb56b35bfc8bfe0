/* freshness.c: the timestamp window the e-mail webhook sources accept
 * (emailhooks.h). */
#include <errno.h>
#include <stdlib.h>

#include "clock.h"
#include "config.h"
#include "emailhooks.h"
#include "exit.h"

int email_hook_tolerance(int64_t *secs, cx_err *err)
{
	if (cx_config_int("CX_WEBHOOK_TOLERANCE_SECONDS", 300, secs, err) < 0)
		return -1;
	if (*secs < 1 || *secs > 86400)
		return cx_err_set(err, CX_EXIT_CONFIG,
		    "CX_WEBHOOK_TOLERANCE_SECONDS must be 1 to 86400");
	return 0;
}

int email_hook_fresh(const char *ts, int64_t tolerance)
{
	char *end;
	long long t;
	int64_t now = cx_clock_now();

	if (!ts || *ts < '0' || *ts > '9')
		return 0;
	errno = 0;
	t = strtoll(ts, &end, 10);
	if (errno || *end)
		return 0;
	return t >= now - tolerance && t <= now + tolerance;
}
