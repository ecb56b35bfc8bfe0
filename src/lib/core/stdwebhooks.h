/* stdwebhooks.h: Standard Webhooks signatures (standardwebhooks.com): the
 * signed content is "<webhook-id>.<webhook-timestamp>.<body>", the key the
 * bytes of the base64 after "whsec_", the signature "v1,<base64 of
 * HMAC-SHA256>"; several secrets (a rotation) give several signatures,
 * space-separated. Results are new strings the caller frees. */
#ifndef CX_STDWEBHOOKS_H
#define CX_STDWEBHOOKS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* A new secret "whsec_" + base64 of 24 random bytes (cx_secret_free). */
int cx_stdwebhooks_new_secret(char **secret, cx_err *err);
/* The webhook-signature header value for msg_id, timestamp and body under
 * each of the n secrets. A secret that is not "whsec_<base64>" is
 * CX_EXIT_DATAERR naming its position, never its text. */
int cx_stdwebhooks_sign(const char *const *secrets, size_t n, const char *msg_id,
    int64_t timestamp, const void *body, size_t len, char **header, cx_err *err);
/* 1 when one of the space-separated v1 signatures in header matches one of
 * the n secrets (constant-time comparison), 0 when none does. */
int cx_stdwebhooks_verify(const char *const *secrets, size_t n, const char *msg_id,
    int64_t timestamp, const void *body, size_t len, const char *header);

#endif
