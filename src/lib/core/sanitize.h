/* sanitize.h: what of a canonical event may leave cx in a trigger delivery
 * (issue 14). A policy, share/cx/sanitize/<type>.json, is an allowlist of
 * data fields, each kept as is ("keep": ids that are not personal data),
 * masked as a phone number or an e-mail address (SPEC §4 Logs), or masked
 * by what it looks like ("mask"); nothing else of the event goes out, and
 * a type without a policy is never delivered. The payload is
 * {"type", "timestamp" (the event's occurred_at), "data"}.
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
