/* emailsend.h: what cx-publish keeps of the e-mail it sends: the admission
 * of one message (the tenant's daily quota, the rate limits per recipient
 * domain and per recipient, and the message's row, all in one
 * transaction), and the row's fate once the provider answered. Rows are
 * in email_messages (share/cx/migrations/007_email.sql). Strings passed in
 * stay the caller's. */
#ifndef CX_EMAILSEND_H
#define CX_EMAILSEND_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ratelimit.h"
#include "store.h"

typedef struct {
	const char *tenant, *message_id, *provider, *item, *correlation_id;
	const char *template_id, *template_version;   /* may be NULL */
	const char *const *recipients;  /* lower-case addresses, NULL-terminated */
	int64_t quota;                  /* messages a UTC day; < 0: none */
	cx_ratelimit per_domain, per_recipient;
} cx_email_admission;

typedef enum {
	CX_EMAIL_ADMITTED,
	CX_EMAIL_OVER_QUOTA,            /* *until: the next UTC day */
	CX_EMAIL_RATE_LIMITED,          /* *until: when a token is due */
} cx_email_verdict;

/* Admits message a now (one transaction): under the tenant's quota (the
 * messages of this UTC day not failed, this one included), a token from
 * the bucket of each recipient domain and of each recipient; then its row,
 * status sending (replacing an earlier try's). Nothing is taken or written
 * unless it is admitted. */
int cx_email_admit(cx_store *s, const cx_email_admission *a, cx_email_verdict *v,
    int64_t *until, cx_err *err);

/* The row of message_id after the provider's answer, in the caller's
 * transaction: sent (with the provider's id), failed or unknown. */
int cx_email_sent(cx_store *s, const char *message_id, const char *status,
    const char *provider_message_id, cx_err *err);

#endif
