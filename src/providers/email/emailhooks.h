/* emailhooks.h: the webhook sources (webhook.h) of the e-mail providers,
 * and what they share.
 *   sns.c           ses               Amazon SNS messages (SES events)
 *   sendgridhook.c  sendgrid          SendGrid's signed Event Webhook
 *   mailgunhook.c   mailgun           Mailgun's signed webhooks
 *   inbound.c       sendgrid-inbound  SendGrid Inbound Parse (Basic auth)
 *                   mailgun-inbound   Mailgun routes' forwards (signed)
 * Strings passed in stay the caller's. */
#ifndef CX_EMAILHOOKS_H
#define CX_EMAILHOOKS_H

#include <stdint.h>

#include "err.h"
#include "store.h"
#include "webhook.h"

extern const cx_webhook_source ses_webhook;
extern const cx_webhook_source sendgrid_webhook;
extern const cx_webhook_source mailgun_webhook;
extern const cx_webhook_source sendgrid_inbound_webhook;
extern const cx_webhook_source mailgun_inbound_webhook;

/* CX_WEBHOOK_TOLERANCE_SECONDS (default 300, 1 to 86400) in *secs; -1
 * with err (CX_EXIT_CONFIG) when it is not such a number. */
int email_hook_tolerance(int64_t *secs, cx_err *err);
/* Whether ts, decimal epoch seconds, is within tolerance of now. */
int email_hook_fresh(const char *ts, int64_t tolerance);

/* Mailgun's signing key and tolerance, as mailgunhook.c loads them. */
typedef struct {
	char *key;            /* CX_MAILGUN_WEBHOOK_SIGNING_KEY, NULL when unset */
	int64_t tolerance;
} mailgun_keys;

int mailgun_keys_load(void **keys, cx_err *err);
void mailgun_keys_unload(void *keys);
/* Whether signature is the hex HMAC-SHA256 of timestamp + token with the
 * key, timestamp is fresh and token was never accepted before on route
 * (it is recorded then): 1, 0 (logged, no secret), or -1 with err when the
 * store failed. */
int mailgun_signed(const mailgun_keys *k, const char *route, const char *timestamp,
    const char *token, const char *signature, cx_store *store, cx_err *err);

#endif
