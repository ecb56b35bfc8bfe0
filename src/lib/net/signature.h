/* signature.h: verifying webhook signatures. Secrets are the caller's and
 * are neither copied nor logged. */
#ifndef CX_SIGNATURE_H
#define CX_SIGNATURE_H

#include <stddef.h>

/* Meta's X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw body
 * with the app secret. Accepts the current secret or, during rotation, the
 * previous one (may be NULL). Constant-time. 1 when valid, else 0. */
int cx_signature_meta(const char *header, const void *body, size_t len,
    const char *secret, const char *previous);

#endif
