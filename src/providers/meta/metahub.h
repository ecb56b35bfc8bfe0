/* metahub.h: Meta's webhook source (webhook.c): the whatsapp,
 * instagram and messenger routes, the hub.challenge handshake and the
 * X-Hub-Signature-256 check. Secrets passed in stay the caller's. */
#ifndef CX_METAHUB_H
#define CX_METAHUB_H

#include <stddef.h>

#include "webhook.h"

extern const cx_webhook_source meta_webhook;

/* Meta's X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw body
 * with the app secret. Accepts the current secret or, during rotation, the
 * previous one (may be NULL). Constant-time. 1 when valid, else 0. */
int meta_signature_valid(const char *header, const void *body, size_t len,
    const char *secret, const char *previous);

#endif
