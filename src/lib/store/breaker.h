/* breaker.h: circuit breakers kept in the state file, one per key (cx-publish
 * uses "<channel>:<tenant>"), so a failing upstream stops being hammered by
 * every process and never holds up unrelated tenants (SPEC §7). After
 * threshold consecutive failures a breaker opens for cooldown seconds; the
 * first request after that is a probe: its success closes the breaker, its
 * failure opens it again. Times follow CX_NOW. Strings passed in stay the
 * caller's. */
#ifndef CX_BREAKER_H
#define CX_BREAKER_H

#include <stdint.h>

#include "err.h"
#include "store.h"

typedef struct {
	int64_t threshold;   /* consecutive failures that open it (>= 1) */
	int64_t cooldown;    /* seconds it stays open */
} cx_breaker;

/* The state of key: *failures (0 when closed and clean) and *open_until
 * (0, or the epoch second until which requests must not go). Read only. */
int cx_breaker_state(cx_store *s, const char *key, int64_t *failures,
    int64_t *open_until, cx_err *err);

/* Records one request's outcome in its own transaction: a success forgets
 * the failures, a failure counts and opens the breaker at the threshold.
 * *open_until (may be NULL) gets the breaker's opening time after this, 0
 * when closed. */
int cx_breaker_record(cx_store *s, const char *key, const cx_breaker *b, int ok,
    int64_t *open_until, cx_err *err);

#endif
