/* signature.h: verifying webhook signatures: an HMAC-SHA256 over the raw
 * body, whatever header carries it (each platform's webhook source reads
 * its own header format). Secrets are the caller's and are neither copied
 * nor logged. */
#ifndef CX_SIGNATURE_H
#define CX_SIGNATURE_H

#include <stddef.h>

#include "crypto.h"

/* Whether want (CX_SHA256_LEN bytes) is the HMAC-SHA256 of body with the
 * current secret or, during rotation, the previous one (may be NULL). Both
 * are computed, in constant time. 1 when valid, else 0. */
int cx_signature_hmac_sha256(const unsigned char *want, const void *body,
    size_t len, const char *secret, const char *previous);

#endif
