/* emailfeedback.h: applying e-mail lifecycle events (`cx-publish
 * feedback`, cx-email(7)): each event once (by dedupe key), with the
 * message's status, the recipient's outcome, the suppressions it leads to
 * and the tenant's reputation breaker, its audit rows and counters in one
 * transaction. Strings passed in stay the caller's. */
#ifndef CX_EMAILFEEDBACK_H
#define CX_EMAILFEEDBACK_H

#include <stdint.h>

#include "err.h"
#include "store.h"

/* One event, per recipient. */
typedef struct {
	const char *dedupe_key;
	const char *type;               /* email.delivered, email.bounced, ... */
	const char *tenant;             /* the envelope's */
	const char *correlation_id;     /* the envelope's (may be NULL) */
	const char *message_id;         /* RFC 5322, without <> (may be NULL) */
	const char *provider_message_id;    /* may be NULL */
	const char *recipient;          /* lower case (may be NULL) */
	const char *bounce_type;        /* hard or soft, for email.bounced */
	const char *detail;             /* the provider's diagnostic (may be NULL) */
} cx_email_event;

/* The rules: when a soft-bouncing address is suppressed, and when the
 * tenant's e-mail is paused. */
typedef struct {
	int64_t soft_bounces;           /* this many in soft_window seconds: 3 */
	int64_t soft_window;            /* 7 days */
	int64_t breaker_min_sends;      /* CX_EMAIL_BREAKER_MIN_SENDS: 100 */
	double bounce_rate;             /* 0.05 of the last 24 h's sends */
	double complaint_rate;          /* 0.001 */
} cx_email_rules;

/* What applying an event did. */
typedef struct {
	int applied;                    /* 0: seen before, nothing changed */
	int suppressed;                 /* the recipient was put on the list */
	int paused;                     /* the tenant's e-mail was paused now */
} cx_email_effect;

int cx_email_feedback_apply(cx_store *s, const cx_email_event *ev,
    const cx_email_rules *rules, cx_email_effect *out, cx_err *err);

#endif
