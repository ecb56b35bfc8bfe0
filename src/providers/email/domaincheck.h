/* domaincheck.h: which provider each e-mail plan sends through, what each
 * provider asks of a sending domain's DNS, and the check of it
 * (`cx email check-domain`): SPF at the domain, DMARC at _dmarc.<domain>,
 * DKIM at <selector>._domainkey.<domain>.
 *
 * Strings returned as char * are new (free them); jv values returned are
 * the caller's. Provider and plan names are static strings. */
#ifndef CX_DOMAINCHECK_H
#define CX_DOMAINCHECK_H

#include <jv.h>

#include "dns.h"
#include "err.h"

#define CX_EMAIL_PROVIDER_NAMES "ses, sendgrid, mailgun or smtp"
/* Selectors a check takes at most (CX_DKIM_SELECTORS). */
#define CX_DKIM_MAX_SELECTORS 16

/* The provider of an e-mail plan: default ses, premium sendgrid, advanced
 * mailgun, expert smtp; NULL for anything else. */
const char *cx_email_plan_provider(const char *plan);
/* Whether provider is one of CX_EMAIL_PROVIDER_NAMES. */
int cx_email_provider_known(const char *provider);

/* domain in lower case, when it is a DNS name of letters, digits and
 * hyphens (an IDN in its xn-- form); NULL with err (CX_EXIT_USAGE) if not. */
char *cx_email_domain_normalize(const char *domain, cx_err *err);

/* Checks domain (as normalized) for provider. selectors: a comma list of
 * DKIM selectors that must all hold a key, or NULL for the provider's own
 * (SendGrid s1 and s2; Mailgun any one of mx, k1, smtp, pic, pdk1, pdk2;
 * SMTP default; SES has none: its Easy DKIM tokens differ per domain).
 * *report: a new array, one {record, name, status, detail} per record
 * checked (record spf, dmarc or dkim; status ok, weak or missing); *ok
 * whether every status is ok. -1 with err: CX_EXIT_CONFIG for a bad
 * selector list, CX_EXIT_UNAVAILABLE when DNS fails. */
int cx_email_domain_check(cx_dns *dns, const char *domain, const char *provider,
    const char *selectors, jv *report, int *ok, cx_err *err);

#endif
