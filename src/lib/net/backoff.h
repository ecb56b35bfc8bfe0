/* backoff.h: when to try a failed request again (SPEC §6 cx-publish):
 * exponential backoff with jitter, unless the provider said when (a
 * Retry-After header, in seconds or as an HTTP date, or X's
 * x-rate-limit-reset, an epoch time), which is honoured as given. Pure
 * functions; strings passed in stay the caller's. */
#ifndef CX_BACKOFF_H
#define CX_BACKOFF_H

#include <stdint.h>

/* The longest wait a provider's hint may impose (7 days); a later one is
 * cut to this. */
#define CX_BACKOFF_HINT_MAX (7 * 24 * 3600)

/* The epoch second a provider asked us to wait for, from the values of
 * Retry-After and x-rate-limit-reset (either may be NULL), or 0 when
 * neither says anything usable. The later of the two wins. */
int64_t cx_backoff_hint(const char *retry_after, const char *rate_reset, int64_t now);

/* When to try attempt + 1 after attempt (1-based) failed: hint when it is
 * set (and later than now), else now + d/2 + a random share of d/2, where
 * d = min(cap, base * 2^(attempt-1)); never earlier than now + 1. */
int64_t cx_backoff_next(int64_t now, int64_t attempt, int64_t base, int64_t cap,
    int64_t hint);

#endif
