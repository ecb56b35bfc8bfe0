/* nonces.h: the webhook_nonces table of migration 007: nonces a webhook
 * source has accepted (Mailgun's tokens), kept long enough that a replay
 * inside the window its timestamps are accepted in is refused.
 * Strings passed in stay the caller's. */
#ifndef CX_NONCES_H
#define CX_NONCES_H

#include <stdint.h>

#include "err.h"
#include "store.h"

/* Claims nonce for source at now: 1 when it was not seen before (it is
 * recorded), 0 when it was, -1 with err. The claim is one INSERT, so of two
 * concurrent claims of one nonce exactly one gets 1. Nonces of the source
 * seen before now - keep are deleted first. */
int cx_nonce_claim(cx_store *s, const char *source, const char *nonce,
    int64_t now, int64_t keep, cx_err *err);

#endif
