/* sanitize.h: what of a canonical event may leave cx in a trigger delivery
 * (issue 14). A policy, share/cx/sanitize/<type>.json, is an allowlist of
 * data fields (cx-sanitize(5)):
 *
 *   {"fields": {"message_id": "keep", "from.id": "mask",
 *               "attachments[].type": "keep", "to[]": "email"}}
 *
 * A path names fields inside objects with dots; "name[]" applies to each
 * element of an array (of values or of objects). Treatments: "keep" (ids
 * that are not personal data), "phone" and "email" (always masked as such,
 * SPEC §4 Logs), "mask" (text or ids that may be either: every phone
 * number and e-mail address inside masked, the rest kept). Nothing else of
 * the event goes out, and a type without a policy is never delivered. The
 * payload is {"type", "id" ("evt_" + 32 hex of the SHA-256 of the
 * dedupe_key, which itself may hold personal data), "timestamp" (the
 * event's occurred_at, or null), "tenant", "channel", "correlation_id",
 * "data"}.
 *
 * A cx_sanitizer is the caller's (cx_sanitizer_free); apply consumes
 * nothing and returns a new jv. */
#ifndef CX_SANITIZE_H
#define CX_SANITIZE_H

#include <jv.h>

#include "err.h"

typedef struct cx_sanitizer cx_sanitizer;

/* The policy of type from share/cx/sanitize/<type>.json: 1 loaded, 0 no
 * policy for that type, -1 a policy that cannot be read (CX_EXIT_CONFIG
 * naming the file and the fault). */
int cx_sanitizer_load(const char *type, cx_sanitizer **out, cx_err *err);
void cx_sanitizer_free(cx_sanitizer *z);
/* The payload of event (borrowed) under z. */
jv cx_sanitize_event(const cx_sanitizer *z, jv event);

#endif
