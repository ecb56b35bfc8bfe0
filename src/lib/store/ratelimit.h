/* ratelimit.h: token buckets kept in the state file, so every process
 * publishing for a tenant shares one limit (SPEC §7: rate limits per tenant
 * and per provider). A bucket refills at rate tokens a second and holds at
 * most burst. Time is the real clock, not CX_NOW: limits pace real
 * requests. Strings passed in stay the caller's. */
#ifndef CX_RATELIMIT_H
#define CX_RATELIMIT_H

#include <stdint.h>

#include "err.h"
#include "store.h"

typedef struct {
	double rate;     /* tokens a second; <= 0: no limit */
	double burst;    /* the most a bucket holds (>= 1) */
} cx_ratelimit;

/* Parses "N" (N a second) or "N/S" (N every S seconds), with burst N, or
 * B when ",burst=B" follows (1 <= B <= 1000000). */
int cx_ratelimit_parse(const char *text, cx_ratelimit *out, cx_err *err);

/* Takes up to want tokens from bucket key, inside a transaction the caller
 * began and commits (so tokens are taken together with other changes, at
 * the cost of one commit; after an error the caller rolls back): *granted
 * gets how many; when it is 0, *wait_ms says how long until the next
 * token. A limit with rate <= 0 grants everything. */
int cx_ratelimit_take_in(cx_store *s, const char *key, const cx_ratelimit *limit,
    int want, int *granted, int64_t *wait_ms, cx_err *err);

#endif
