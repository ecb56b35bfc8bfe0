/* idempotency.h: what makes an automation action run once (migration 008):
 * the first answer to each (integration, idempotency key), kept
 * CX_IDEMPOTENCY_TTL_SECONDS, and the calls each tenant made per UTC day
 * (the daily quota). Every function runs inside the caller's transaction
 * (cx-ingest serve's writer), so a lookup sees what an earlier call of the
 * same group recorded. Strings passed in stay the caller's; a found
 * response is a new string the caller frees. */
#ifndef CX_IDEMPOTENCY_H
#define CX_IDEMPOTENCY_H

#include <stdint.h>

#include "crypto.h"
#include "err.h"
#include "store.h"

/* The first answer recorded for integration_id and key at or after since:
 * 1 with *status, *response and request_sha256 (the request it answered),
 * 0 when there is none (or only an older one), -1 with err. */
int cx_idempotency_find_in(cx_store *s, const char *integration_id,
    const char *key, int64_t since, unsigned char request_sha256[CX_SHA256_LEN],
    int *status, char **response, cx_err *err);
/* Records the answer to a request that ran (replacing an expired record of
 * the same key), and prunes a few records older than before. */
int cx_idempotency_record_in(cx_store *s, const char *integration_id,
    const char *key, const unsigned char request_sha256[CX_SHA256_LEN],
    int status, const char *response, const char *action_id, int64_t inbox_id,
    int64_t now, int64_t before, cx_err *err);

/* The calls tenant made on epoch day day. */
int cx_idempotency_daily_calls_in(cx_store *s, const char *tenant, int64_t day,
    int64_t *calls, cx_err *err);
/* Counts one more call of tenant on day. */
int cx_idempotency_daily_count_in(cx_store *s, const char *tenant, int64_t day,
    cx_err *err);

#endif
